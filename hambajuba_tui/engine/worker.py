"""The engine worker: a spawned process that renders frames ahead of the media clock.

Loop: ``t = clock.now() + lookahead``; ``FrameParams = Conductor.step(t)``;
``engine.generate(params, slot)`` straight into a frame-ring slot. Lookahead = measured
generation time + the engine's own latency (a remote engine's round trip) + one frame interval +
display latency, so a frame lands on screen when its moment is heard. Control messages are small
frozen dataclasses over a multiprocessing pipe.

The worker knows engines only through the Engine protocol (``engine/protocol.py``): a new seed is
``engine.reseed`` in place, never a rebuild; ``generate`` may write nothing (a remote engine whose
frame has not arrived), and the slot is then given back.

This module is imported by the TUI process (to spawn the worker), so it must not import
torch; engines are imported inside the worker only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.session import Session
from hambajuba_tui.engine.protocol import Engine, Link

ENGINES = ("sdxl-turbo", "preview")
"""Engines the worker can run; ``auto`` is resolved before the worker starts (engine/models.py)."""


# -- messages: TUI → worker ------------------------------------------------------------------
@dataclass(frozen=True)
class SetSession:
    session: Session


@dataclass(frozen=True)
class SetAnalysis:
    """A better analysis of the same song (the offline one, after the streaming fast pass):
    the worker hands over to it over about a second (bridge/handover.py)."""

    analysis: Analysis


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Go:
    """To a spare worker (started ready and idle): take over, with this session."""

    session: Session


# -- messages: worker → TUI ------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    engine: str
    width: int
    height: int


@dataclass(frozen=True)
class Stats:
    gen_ms: float
    """Mean generation time per frame over the last second."""
    fps: float
    """Frames generated per second over the last second."""
    lookahead_ms: float
    engine: str = ""
    """The engine's name now (a remote engine may fall back to the local preview)."""
    link: Link | None = None
    """A remote engine's link (host, round trip, frames in flight)."""


@dataclass(frozen=True)
class Notice:
    """Something the engine wants the user to know (not a failure of the worker)."""

    message: str


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class WorkerConfig:
    ring_name: str
    clock_name: str
    analysis: Analysis
    session: Session
    engine: str = "preview"
    width: int = 256
    height: int = 256
    fps: float = 30.0
    display_latency: float = 1.0 / 30.0
    decoder: str = "taesd"
    """sdxl-turbo only: ``taesd`` (TAESDXL) or ``vae`` (the full VAE)."""
    token: str | None = None
    """Remote engine (``engine`` = ``ws://…``): the server's token."""


def make_engine(
    name: str,
    width: int,
    height: int,
    seed: int,
    decoder: str = "taesd",
    token: str | None = None,
    now=None,
    fps: float = 30.0,
) -> Engine:
    """The engine called ``name``: ``preview``, ``sdxl-turbo`` or a server's ``ws://`` /
    ``wss://`` address (``token`` and ``now``, the media clock, are for the remote engine)."""
    if name == "preview":
        from hambajuba_tui.engine.preview import PreviewEngine

        return PreviewEngine(width=width, height=height, seed=seed)
    if name == "sdxl-turbo":
        from hambajuba_tui.engine.sdxl import SdxlTurboEngine

        engine = SdxlTurboEngine.load(width=width, height=height, seed=seed, decoder=decoder)
        engine.warmup()  # compile / record the CUDA graph before Ready starts the music
        return engine
    if name.startswith(("ws://", "wss://")):
        from hambajuba_tui.engine.remote import RemoteEngine

        return RemoteEngine(name, width, height, seed, token=token, now=now, interval=1.0 / fps)
    raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)} or ws://HOST:PORT")


def _set_scenes(engine, session: Session) -> None:
    """Give the engine the session's prompts (None where they are the defaults, so the preview
    keeps its own palettes); engines cache the embeddings, so repeats cost nothing."""
    from hambajuba_tui.bridge.session import SceneSettings

    default, scenes = SceneSettings(), session.scenes
    engine.set_scenes(
        None if scenes.prompt_a == default.prompt_a else scenes.prompt_a,
        None if scenes.prompt_b == default.prompt_b else scenes.prompt_b,
    )


def _start_engine(conn, cfg: WorkerConfig, clock):
    """The configured engine; a failed sdxl-turbo (or a refusing server) says why and falls back
    to the preview."""
    try:
        return make_engine(
            cfg.engine,
            cfg.width,
            cfg.height,
            cfg.session.seed,
            cfg.decoder,
            token=cfg.token,
            now=lambda: clock.read().now,
            fps=cfg.fps,
        )
    except Exception as exc:
        if cfg.engine == "preview":
            raise
        conn.send(
            Failed(
                f"engine {cfg.engine!r} failed to start ({type(exc).__name__}: {exc});"
                " running the preview engine"
            )
        )
        return make_engine("preview", cfg.width, cfg.height, cfg.session.seed)


def worker_main(conn, cfg: WorkerConfig | None, spare: bool = False) -> None:
    """Entry point of the spawned process. A ``spare`` loads its engine, then waits for
    :class:`Go` before it says Ready and renders (so a dead worker is replaced at once).
    Without ``cfg`` (a prespawned worker) it imports what it needs, then waits for its
    WorkerConfig as the first message."""
    from hambajuba_tui.bridge.conductor import Conductor
    from hambajuba_tui.engine.ring import FrameRing
    from hambajuba_tui.player import MediaClock
    from hambajuba_tui.threads import one_blas_thread

    one_blas_thread()  # for this process's life: small products, a busy machine
    if cfg is None:
        import hambajuba_tui.engine.preview  # noqa: F401  (loaded while the song decodes)

        try:
            cfg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if not isinstance(cfg, WorkerConfig):
            return
    engine = None
    try:
        ring = FrameRing.attach(cfg.ring_name)
        clock = MediaClock.attach(cfg.clock_name)
        engine = _start_engine(conn, cfg, clock)
        _set_scenes(engine, cfg.session)
        conductor = Conductor(cfg.analysis, cfg.session)
    except Exception as exc:
        conn.send(Failed(f"engine {cfg.engine!r} failed to start: {exc}"))
        if engine is not None:
            engine.close()
        return
    try:
        if spare:
            msg = conn.recv()
            while isinstance(msg, SetAnalysis):  # the show moved on while this one waited
                cfg = dataclasses.replace(cfg, analysis=msg.analysis)
                conductor = Conductor(msg.analysis, conductor.session)
                msg = conn.recv()
            if not isinstance(msg, Go):
                return
            if msg.session.seed != conductor.session.seed:
                engine.reseed(msg.session.seed)
            conductor.set_session(msg.session)
            _set_scenes(engine, msg.session)
        conn.send(Ready(engine.name, cfg.width, cfg.height))
        _loop(conn, cfg, engine, ring, clock, conductor)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    except Exception:
        with contextlib.suppress(Exception):
            conn.send(Failed(traceback.format_exc(limit=4).strip().splitlines()[-1]))
    finally:
        with contextlib.suppress(Exception):
            engine.close()
        ring.close()
        clock.close()


def _loop(conn, cfg, engine: Engine, ring, clock, conductor) -> None:
    from hambajuba_tui.bridge.conductor import Conductor
    from hambajuba_tui.bridge.handover import Handover

    interval = 1.0 / cfg.fps
    # Live input has no future to look ahead into: render the newest moment, show it at once.
    live = bool(getattr(cfg.analysis, "live", False))
    gen_s = interval / 2  # first guess; measured from the first frame on
    last_epoch, dirty = -1, True
    parent = mp.parent_process()
    next_tick = time.monotonic()
    window_start, window_frames, window_gen = next_tick, 0, 0.0
    while True:
        while conn.poll():
            msg = conn.recv()
            if isinstance(msg, Stop):
                return
            if isinstance(msg, SetAnalysis):
                current = conductor.new if isinstance(conductor, Handover) else conductor
                conductor = Handover(current, Conductor(msg.analysis, current.session))
                live = bool(getattr(msg.analysis, "live", False))
                dirty = True
            if isinstance(msg, SetSession):
                if msg.session.seed != conductor.session.seed:
                    engine.reseed(msg.session.seed)  # in place: nothing rebuilt, --decoder kept
                conductor.set_session(msg.session)
                _set_scenes(engine, msg.session)
                dirty = True
        reading = clock.read()
        if reading.playing or dirty or reading.epoch != last_epoch:
            if not reading.playing:
                lookahead = 0.0
            elif live:  # no future to read: only a remote engine's round trip is waited for
                lookahead = engine.latency()
            else:
                lookahead = gen_s + engine.latency() + interval + cfg.display_latency
            t = min(reading.now + lookahead, reading.duration)
            started = time.perf_counter()
            params = conductor.step(t)
            if isinstance(conductor, Handover) and conductor.done:
                conductor = conductor.new
            slot, view = ring.begin_write(cfg.width, cfg.height)
            shown_t = engine.generate(params, view)
            if shown_t is None:  # nothing arrived yet (remote): the slot keeps its frame
                ring.abort_write(slot)
            else:
                ring.end_write(slot, shown_t, reading.epoch)
                window_frames += 1
                last_epoch, dirty = reading.epoch, False
            took = time.perf_counter() - started
            gen_s += 0.2 * (took - gen_s)
            window_gen += took
        for line in engine.news():
            conn.send(Notice(line))
        now = time.monotonic()
        if now - window_start >= 1.0:
            if parent is not None and not parent.is_alive():
                return
            link = engine.link()
            conn.send(
                Stats(
                    1000 * window_gen / max(window_frames, 1),
                    window_frames / (now - window_start),
                    1000 * (gen_s + engine.latency() + interval),
                    engine=engine.name,
                    link=link,
                )
            )
            window_start, window_frames, window_gen = now, 0, 0.0
        next_tick += interval
        if next_tick < now - interval:  # fell behind: don't try to catch up
            next_tick = now
        time.sleep(max(0.0, next_tick - time.monotonic()))


SPARE_ENGINES = ("preview",)
"""Engines that keep a spare worker loaded and idle, so a dead worker is replaced within a
frame or two instead of a new process's start (seconds). Not sdxl-turbo: a spare would hold a
second copy of the model in GPU memory."""


_prespawned = None
"""(process, connection) of a worker spawned before its show exists (see :func:`prespawn`)."""


def prespawn() -> None:
    """Start a worker process now, before the song is decoded: its interpreter and imports
    load on the other core meanwhile, and the first EngineWorker to start takes it over by
    sending its config. (A worker never taken over exits with this process.)"""
    global _prespawned
    if _prespawned is not None:
        return
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=worker_main, args=(child, None), name="hambajuba-engine", daemon=True)
    proc.start()
    child.close()
    _prespawned = (proc, conn)


class EngineWorker:
    """TUI-side handle of the worker process (and of its idle spare, see SPARE_ENGINES)."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.proc = None
        self._conn = None
        self._spare = None
        """(process, connection) of the spare, or None."""
        self._want_spare = False
        self.starts = 0

    def _spawn(self, spare: bool):
        global _prespawned
        if not spare and _prespawned is not None:
            proc, conn = _prespawned
            _prespawned = None
            if proc.is_alive():
                try:
                    conn.send(self.cfg)
                    return proc, conn
                except OSError:
                    pass
            EngineWorker._end(proc, conn, timeout=0.5)
        ctx = mp.get_context("spawn")
        conn, child = ctx.Pipe()
        proc = ctx.Process(
            target=worker_main,
            args=(child, self.cfg, spare),
            name="hambajuba-engine-spare" if spare else "hambajuba-engine",
            daemon=True,
        )
        proc.start()
        child.close()
        return proc, conn

    def start(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None and spare[0].is_alive():
            self.proc, self._conn = spare
            try:
                self._conn.send(Go(self.cfg.session))
            except OSError:
                self.proc, self._conn = self._spawn(spare=False)
        else:
            if spare is not None:
                self._end(*spare)
            self.proc, self._conn = self._spawn(spare=False)
        self.starts += 1
        self._want_spare = self.cfg.engine in SPARE_ENGINES  # spawned once this one is Ready

    @staticmethod
    def _end(proc, conn, timeout: float = 1.0) -> None:
        with contextlib.suppress(OSError):
            conn.send(Stop())
        proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(1.0)
        conn.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    @property
    def exitcode(self) -> int | None:
        return None if self.proc is None else self.proc.exitcode

    def send(self, msg) -> bool:
        try:
            self._conn.send(msg)
            return True
        except (OSError, AttributeError):
            return False

    def messages(self) -> list:
        out = []
        try:
            while self._conn is not None and self._conn.poll():
                out.append(self._conn.recv())
        except (EOFError, OSError):
            pass
        if self._want_spare and any(isinstance(m, Ready) for m in out):
            # not before: a spare loading beside a starting worker slows both
            self._want_spare = False
            if self._spare is None:
                self._spare = self._spawn(spare=True)
        return out

    def set_session(self, session: Session) -> None:
        self.cfg = dataclasses.replace(self.cfg, session=session)
        self.send(SetSession(session))

    def set_analysis(self, analysis: Analysis) -> None:
        """Hand over to a new analysis of the same song (kept for a restart too)."""
        self.cfg = dataclasses.replace(self.cfg, analysis=analysis)
        self.send(SetAnalysis(analysis))
        if self._spare is not None:  # a spare spawned with the old one is told too
            with contextlib.suppress(OSError):
                self._spare[1].send(SetAnalysis(analysis))

    def stop(self, timeout: float = 3.0, keep_spare: bool = False) -> None:
        if self._spare is not None and not keep_spare:
            spare, self._spare = self._spare, None
            self._end(*spare, timeout=0.5)
        if self.proc is None:
            return
        self.send(Stop())
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(1.0)
        if self._conn is not None:
            self._conn.close()
        self.proc, self._conn = None, None
