"""Encoding off the UI thread, newest frame only.

The UI hands each new frame to :meth:`Painter.submit` (a copy into a reused buffer); one
thread encodes whatever is newest when it gets there — frames that arrive meanwhile replace
each other, never queue — and passes the escapes to ``emit``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from hambajuba_tui.graphics.layout import Placement


class Encoder(Protocol):
    protocol: str

    def encode(self, frame: np.ndarray, place: Placement) -> str: ...

    def clear(self) -> str: ...


def make_encoder(mode) -> Encoder:
    """The encoder for a :class:`~hambajuba_tui.graphics.probe.GraphicsMode`."""
    if mode.protocol == "kitty":
        from hambajuba_tui.graphics.kitty import KittyEncoder

        return KittyEncoder(
            shm=mode.kitty_shm, placeholders=mode.kitty_placeholders, tmux=mode.tmux
        )
    if mode.protocol == "sixel":
        from hambajuba_tui.graphics.sixel import SixelEncoder

        return SixelEncoder()
    from hambajuba_tui.graphics.halfblock import HalfblockEncoder

    return HalfblockEncoder()


class Painter:
    """One encoder thread for one pane."""

    def __init__(self, encoder: Encoder, emit: Callable[[str, Placement, int], None]) -> None:
        self.encoder = encoder
        self._emit = emit
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: np.ndarray | None = None
        self._working: np.ndarray | None = None
        self._place: Placement | None = None
        self._serial = 0
        self._has_new = False
        self._closed = False
        self.encoded = 0
        self.encode_ms = 0.0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="heart-encoder", daemon=True)
        self._thread.start()

    def submit(self, frame: np.ndarray, place: Placement) -> int:
        """Queue ``frame`` (copied) for ``place``, replacing anything not yet encoded.

        Returns the frame's serial number, which ``emit`` receives with its escapes.
        """
        with self._lock:
            buf = self._pending
            if buf is None or buf.shape != frame.shape:
                buf = self._pending = np.empty_like(frame)
            np.copyto(buf, frame)
            self._place = place
            self._serial += 1
            self._has_new = True
            self._wake.notify()
            return self._serial

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._has_new and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                # swap buffers: the UI fills the other one while this one is encoded
                self._pending, self._working = self._working, self._pending
                frame, place, serial = self._working, self._place, self._serial
                self._has_new = False
            try:
                began = time.perf_counter()
                payload = self.encoder.encode(frame, place)
                self.encode_ms = 1000 * (time.perf_counter() - began)
                self.encoded += 1
            except Exception as exc:  # a bad frame must not kill the pane
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            self._emit(payload, place, serial)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=2.0)
