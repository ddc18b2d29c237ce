"""The listener: live audio from a source, through the streaming analyser, into the store.

A spawned process (so capture and analysis never hold the TUI's interpreter) runs a
:class:`~hambajuba_tui.audio.capture.Capture` thread that queues blocks, and a loop that
drains the queue into :class:`~hambajuba_tui.audio.stream.StreamingAnalyser` and publishes each
update in the shared :class:`~hambajuba_tui.audio.store.SignalStore`. Time in the store is
capture time: grid hop ``i`` is ``t0 + i / 100`` on the monotonic clock, where ``t0`` is when
the first sample was captured; a gap in the input (a source that vanished and came back) is
filled with silence, so analysis time keeps pace with the wall clock.

The TUI side, :class:`Listener`, starts the process, relays its status lines and tells the
media clock where ``t0`` is.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import queue
import time
import traceback
from dataclasses import dataclass

import numpy as np

from hambajuba_tui.audio.store import StreamAnalysis
from hambajuba_tui.vocab import HOP, SAMPLE_RATE

BLOCK = 512
"""Samples per captured block (11.6 ms at 44.1 kHz)."""
QUEUE_BLOCKS = 256
"""Blocks the listener may fall behind (3 s) before it drops the oldest and counts an overrun."""
SILENT_DB = -60.0
"""Below this input level (dBFS) for :data:`SILENT_HOLD_S` the source counts as silent."""
SILENT_HOLD_S = 1.0
MAX_GAP_FILL_S = 30.0
"""A longer gap than this is filled with this much silence only; the clock catches up."""
STATUS_EVERY_S = 0.1


@dataclass(frozen=True)
class ListenStatus:
    """What the status line says about the source (sent on change)."""

    source: str
    message: str
    state: str


def _level_db(x: np.ndarray) -> float:
    power = float(np.dot(x, x)) / max(len(x), 1)
    return 10.0 * math.log10(power) if power > 1e-12 else -math.inf


def _listen_main(meta, source, conn, fake=None, resume_t0: float | None = None) -> None:
    """The spawned listener. ``fake``: a test source (``fake(on_block)`` → an object with
    ``start``, ``stop`` and ``status`` like a Capture). ``resume_t0``: a restarted listener
    goes on from the first one's time origin."""
    from hambajuba_tui.audio.stream import StreamingAnalyser
    from hambajuba_tui.threads import one_blas_thread

    one_blas_thread()  # the analyser's products are small; it must not spin two cores
    analysis = StreamAnalysis(meta)
    store = analysis.store
    blocks: queue.Queue = queue.Queue(maxsize=QUEUE_BLOCKS)
    dropped = 0

    def on_block(samples: np.ndarray, t_capture: float) -> None:  # capture thread
        nonlocal dropped
        try:
            blocks.put_nowait((samples, t_capture))
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                blocks.get_nowait()
            dropped += 1
            with contextlib.suppress(queue.Full):
                blocks.put_nowait((samples, t_capture))

    capture = None
    try:
        if fake is not None:
            capture = fake(on_block)
        else:
            from hambajuba_tui.audio.capture import Capture

            capture = Capture(source, on_block, sr=SAMPLE_RATE, block=BLOCK)
        capture.start()
        analyser = StreamingAnalyser(SAMPLE_RATE)
        offset = store.hops  # a restart continues after what is already there
        pushed = offset * HOP  # samples on the store's time line so far
        t0: float | None = resume_t0
        quiet_since: float | None = None
        last_status: ListenStatus | None = None
        next_status = 0.0
        level = -math.inf
        parent = mp.parent_process()
        while True:
            if conn.poll() and conn.recv() == "stop":
                break
            try:
                first = blocks.get(timeout=0.05)
            except queue.Empty:
                first = None
            chunk: list[np.ndarray] = []
            t_end = None
            if first is not None:
                chunk.append(first[0])
                t_end = first[1]
                while True:
                    try:
                        samples, t_end = blocks.get_nowait()
                    except queue.Empty:
                        break
                    chunk.append(samples)
            if chunk:
                audio = np.concatenate(chunk) if len(chunk) > 1 else chunk[0]
                if t0 is None:
                    t0 = t_end - len(audio) / SAMPLE_RATE
                    store.head["t0"] = t0
                    conn.send(("t0", t0))
                gap = (t_end - t0) - (pushed + len(audio)) / SAMPLE_RATE
                if gap > 0.1:  # the source was gone: silence keeps analysis time on the clock
                    fill = int(min(gap, MAX_GAP_FILL_S) * SAMPLE_RATE)
                    update = analyser.push(np.zeros(fill, np.float32))
                    if update is not None:
                        store.put(update, offset)
                    pushed += fill
                    if gap > MAX_GAP_FILL_S:
                        t0 += gap - MAX_GAP_FILL_S
                        store.head["t0"] = t0
                        conn.send(("t0", t0))
                update = analyser.push(audio)
                if update is not None:
                    store.put(update, offset)
                pushed += len(audio)
                level = _level_db(audio[-4 * BLOCK :])
            now = time.monotonic()
            if now >= next_status:
                next_status = now + STATUS_EVERY_S
                cap = capture.status
                overruns = dropped + int(getattr(cap, "overruns", 0))
                quiet = level < SILENT_DB
                quiet_since = (quiet_since or now) if quiet else None
                state = cap.state
                if state == "capturing" and quiet_since and now - quiet_since >= SILENT_HOLD_S:
                    state = "listening"
                store.set_input(state, level, overruns)
                status = ListenStatus(cap.source, cap.message, state)
                if status != last_status:
                    conn.send(("status", status))
                    last_status = status
                if parent is not None and not parent.is_alive():
                    break
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        pass
    except Exception as exc:
        with contextlib.suppress(Exception):
            last = traceback.format_exc(limit=3).strip().splitlines()[-1]
            conn.send(("failed", f"listener failed: {last or exc}"))
    finally:
        if capture is not None:
            with contextlib.suppress(Exception):
                capture.stop()
        with contextlib.suppress(Exception):
            store.set_input("stopped", -math.inf, dropped)
        analysis.close()


class Listener:
    """TUI-side handle of the listener process; owns the live store."""

    def __init__(self, source: str | int | None, fake=None) -> None:
        from hambajuba_tui.audio.stream import stream_signal_names

        self.source_spec = source
        self.analysis = StreamAnalysis.create(stream_signal_names(), song_hash="live", title="live")
        self.t0: float | None = None
        self.status = ListenStatus(str(source or "default source"), "starting…", "starting")
        self.error = ""
        self._fake = fake
        self.proc = None
        self._conn = None

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_listen_main,
            args=(self.analysis.meta, self.source_spec, child, self._fake, self.t0),
            name="hambajuba-listen",
            daemon=True,
        )
        self.proc.start()
        child.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def poll(self) -> list[str]:
        """Take the listener's messages; returns news for the user (status changes, failures)."""
        news: list[str] = []
        try:
            while self._conn is not None and self._conn.poll():
                kind, value = self._conn.recv()
                if kind == "t0":
                    self.t0 = float(value)
                elif kind == "status":
                    changed = value.message and value.message != self.status.message
                    self.status = value
                    if changed and value.state in ("waiting", "stopped"):
                        news.append(value.message)
                elif kind == "failed":
                    self.error = str(value)
                    news.append(self.error)
        except (EOFError, OSError):
            self._conn = None
        return news

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send("stop")
        self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(1.0)
        if self._conn is not None:
            self._conn.close()
        self.proc, self._conn = None, None

    def restart(self) -> None:
        """A dead listener is started again; time goes on from the same ``t0``."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self.analysis.close()
