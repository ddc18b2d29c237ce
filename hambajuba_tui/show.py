"""A Show: one song being performed — media clock, player, engine worker and frame ring.

The TUI and headless mode both drive a Show, so they run the same processes. The Show owns
the shared-memory segments and unlinks them on close; it restarts a dead worker and keeps
playing meanwhile.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hambajuba_tui import shm
from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.session import Session
from hambajuba_tui.engine.protocol import Link
from hambajuba_tui.engine.ring import FrameInfo, FrameRing
from hambajuba_tui.engine.worker import (
    EngineWorker,
    Failed,
    Notice,
    Ready,
    Stats,
    WorkerConfig,
)
from hambajuba_tui.player import LivePlayer, MediaClock, open_player

if TYPE_CHECKING:
    from hambajuba_tui.audio.instant import AnalysisJob
    from hambajuba_tui.audio.listen import Listener

MAX_RESTARTS = 5
"""Worker restarts allowed within RESTART_WINDOW_S before the Show gives up and says so."""
RESTART_WINDOW_S = 60.0


@dataclass
class ShowOptions:
    engine: str = "preview"
    width: int = 256
    height: int = 256
    fps: float = 30.0
    sound: bool = True
    decoder: str = "taesd"
    token: str | None = None
    """The server's token when ``engine`` is a ``ws://`` / ``wss://`` address."""


@dataclass
class ShowStatus:
    """What the status line shows; kept current by the Show's poll methods."""

    engine: str = "starting"
    worker: str = "starting"
    gen_ms: float = 0.0
    gen_fps: float = 0.0
    shown: int = 0
    dropped: int = 0
    link: Link | None = None
    """A remote engine's link (host, round trip, frames in flight); None for a local one."""
    events: list[str] = field(default_factory=list)


class Show:
    """One performance. ``job``: the background analysis of a song that plays on its fast
    streaming pass (instant start); ``listener``: live input (``samples`` is then None)."""

    def __init__(
        self,
        analysis: Analysis,
        samples: np.ndarray | None,
        sr: int,
        session: Session,
        options: ShowOptions | None = None,
        *,
        job: AnalysisJob | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.options = options = options or ShowOptions()
        self.analysis = analysis
        self.session = session
        self.job = job
        self.listener = listener
        self.stale_removed = shm.remove_stale()
        self.clock = MediaClock.create(analysis.duration)
        self.ring = FrameRing.create(options.width, options.height, n_slots=4)
        if listener is not None:
            self.player = LivePlayer(self.clock, listener)
        else:
            self.player = open_player(self.clock, samples, sr, options.sound)
        self._worker_ready = False
        self._loaded: list = []
        self.worker = EngineWorker(
            WorkerConfig(
                ring_name=self.ring.name,
                clock_name=self.clock.name,
                analysis=analysis,
                session=session,
                engine=options.engine,
                width=options.width,
                height=options.height,
                fps=options.fps,
                display_latency=1.0 / options.fps,
                decoder=options.decoder,
                token=options.token,
            )
        )
        self.frame = np.zeros((options.height, options.width, 3), np.uint8)
        """The frame on screen now (uint8 [H, W, 3])."""
        self.frame_info: FrameInfo | None = None
        self.status = ShowStatus(engine=options.engine)
        self._last_frame_no = 0
        self._shown_times: collections.deque[float] = collections.deque(maxlen=120)
        self._restarts: collections.deque[float] = collections.deque()
        self._gave_up = False
        self._closed = False
        self._play_at: float | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, play: bool = True, wait_ready_s: float = 20.0) -> None:
        """Spawn the worker (once: a second call only asks for playback); playback begins once
        it is ready (or after ``wait_ready_s``). The CLI starts the worker before the terminal
        UI loads, and the app asks for playback when it is on screen."""
        if self.listener is not None and self.listener.proc is None:
            self.listener.start()
        if self.worker.proc is None:
            self.worker.start()
        self._play_at = time.monotonic() + wait_ready_s if play else None

    def _maybe_begin(self, ready: bool) -> None:
        ready = ready and (self.job is None or self.job.ready)  # the quick pass has a head start
        if self._play_at is not None and (ready or time.monotonic() >= self._play_at):
            self._play_at = None
            self.player.play()

    @property
    def waiting_for_engine(self) -> bool:
        return self._play_at is not None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.worker.stop()
        self.player.close()
        for part in (self.job, self.listener):
            if part is not None:
                part.close()
        self.ring.close()
        self.clock.close()

    def __enter__(self) -> Show:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- control ---------------------------------------------------------------------------
    def set_session(self, session: Session) -> None:
        self.session = session
        self.worker.set_session(session)

    def set_analysis(self, analysis: Analysis) -> None:
        """Hand the show over to a new analysis of the same song (the worker blends)."""
        self.analysis = analysis
        self.worker.set_analysis(analysis)

    @property
    def live(self) -> bool:
        return self.listener is not None

    @property
    def analysing(self) -> str:
        """The background analysis's state for the status line ("" when none runs)."""
        return self.job.status_text() if self.job is not None else ""

    def toggle_pause(self) -> None:
        self.player.toggle()

    def seek_by(self, seconds: float) -> None:
        self.player.seek(self.player.position() + seconds)

    @property
    def now(self) -> float:
        return self.clock.read().now

    @property
    def playing(self) -> bool:
        return self.player.playing

    # -- per display tick -----------------------------------------------------------------
    def poll_frame(self) -> FrameInfo | None:
        """Take the newest due frame into ``self.frame``; None when nothing new is due."""
        self.player.tick()
        reading = self.clock.read()
        info = self.ring.read_newest_due(
            reading.now, reading.epoch, self.frame, self._last_frame_no
        )
        if info is None:
            return None
        self.status.dropped += max(0, info.frame_no - self._last_frame_no - 1)
        self.status.shown += 1
        self._last_frame_no = info.frame_no
        self.frame_info = info
        self._shown_times.append(time.monotonic())
        return info

    @property
    def shown_fps(self) -> float:
        """Frames shown per second over the last few seconds."""
        times = self._shown_times
        if len(times) < 2 or time.monotonic() - times[-1] > 1.0:
            return 0.0
        return (len(times) - 1) / max(times[-1] - times[0], 1e-6)

    def poll_worker(self) -> list[str]:
        """Read worker messages, restart a dead worker; returns news for the user."""
        news: list[str] = []
        for msg in self.worker.messages():
            if isinstance(msg, Ready):
                self.status.engine, self.status.worker = msg.engine, "running"
                self._worker_ready = True
            elif isinstance(msg, Stats):
                self.status.gen_ms, self.status.gen_fps = msg.gen_ms, msg.fps
                self.status.link = msg.link
                if msg.engine:
                    self.status.engine = msg.engine
            elif isinstance(msg, Notice):
                news.append(msg.message)
            elif isinstance(msg, Failed):
                self.status.worker = "failed"
                news.append(msg.message)
        if not self._closed and self.worker.proc is not None and not self.worker.alive:
            news.extend(self._restart())
        news.extend(self._poll_job())
        if self.listener is not None:
            news.extend(self.listener.poll())
            if not self._closed and self.listener.proc is not None and not self.listener.alive:
                self.listener.restart()
                news.append("the listener stopped; restarted it")
        self._maybe_begin(ready=self._worker_ready)
        self.status.events.extend(news)
        return news

    def _restart(self) -> list[str]:
        if self._gave_up:
            return []
        code = self.worker.exitcode
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
            self._restarts.popleft()
        self.worker.stop(timeout=0.1, keep_spare=True)
        if len(self._restarts) >= MAX_RESTARTS:
            self._gave_up = True
            self.status.worker = "stopped"
            return [
                f"engine worker died {MAX_RESTARTS} times in a minute; "
                "the music plays on without new frames"
            ]
        self._restarts.append(now)
        self.status.worker = "restarting"
        self.worker.start()
        return [f"engine worker stopped (exit code {code}); restarted it"]

    def _poll_job(self) -> list[str]:
        """Follow the background analysis; load its result off the UI thread and hand over."""
        job, news = self.job, []
        if job is None:
            return news
        for n in job.poll():
            if n.stage == "done":
                threading.Thread(
                    target=self._load_full, args=(job.song_hash, n.detail), daemon=True
                ).start()
            elif n.stage == "failed":
                news.append(f"{n.detail}; dancing on the quick analysis")
        if self._loaded:
            full = self._loaded.pop()
            if full is None:
                news.append("the full analysis could not be read back; the quick one stays")
            else:
                full.title = self.analysis.title
                self.set_analysis(full)  # quietly: the status line's "analysing" just ends
                self.status.events.append(f"full analysis ready (stems by {full.stems_backend})")
        return news

    def _load_full(self, song_hash: str, backend: str) -> None:
        from hambajuba_tui.audio import cache

        self._loaded.append(cache.load_cached(song_hash, stems_backend=backend or None))
