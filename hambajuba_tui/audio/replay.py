"""A stand-in source for the listener: plays an array into it in real time, block by block.

For benchmarks and tests that need to know exactly when each sound entered the listener
(latency), or must run where no audio server exists. It offers what the listener uses of a
:class:`~hambajuba_tui.audio.capture.Capture`: ``start``, ``stop`` and ``status``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hambajuba_tui.vocab import SAMPLE_RATE


@dataclass
class ReplayStatus:
    source: str
    state: str
    message: str = ""
    level_db: float = -math.inf
    overruns: int = 0
    samplerate: int = SAMPLE_RATE


class ReplaySource:
    """Picklable description (sent to the spawned listener); calling it binds the callback."""

    def __init__(self, samples: np.ndarray, block: int = 512, name: str = "replay") -> None:
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.block = block
        self.name = name

    def __call__(self, on_block: Callable[[np.ndarray, float], None]) -> _Replay:
        return _Replay(self, on_block)


class _Replay:
    def __init__(self, src: ReplaySource, on_block) -> None:
        self.src, self.on_block = src, on_block
        self.status = ReplayStatus(src.name, "starting")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)
        self.started_at: float | None = None
        """Monotonic time at which sample 0 was "captured"."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)

    def _run(self) -> None:
        x, block = self.src.samples, self.src.block
        start = time.monotonic()
        self.started_at = start
        self.status.state = "capturing"
        for i in range(0, len(x) - block + 1, block):
            due = start + (i + block) / SAMPLE_RATE  # the block's last sample is captured then
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            self.on_block(x[i : i + block], due)
        self.status.state = "stopped"
        self.status.message = f"{self.src.name} ended"
