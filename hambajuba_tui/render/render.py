"""Song + performance → video, deterministic: ``hambajuba render SONG -o out.mp4``.

Frame ``i`` belongs to media time ``t = i / fps`` (a clip from ``--start`` begins at the frame
nearest it); the conductor is stepped at exactly ``1 / fps`` from the start and the engine
renders in this process — a batch job needs no frame ring or media clock — so two renders of
the same inputs give the same frames. A clip first steps the conductor over the
:data:`SETTLE_S` seconds before it (from 0 at the song's start) without rendering, so the
dancers arrive at ``--start`` the same way every time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.session import Session
from hambajuba_tui.render.encoder import Encoder, RenderError
from hambajuba_tui.threads import one_blas_thread

SETTLE_S = 4.0
"""Seconds of conductor steps (not rendered) before a clip's first frame."""
MAX_FPS = 60.0


@dataclass(frozen=True)
class RenderOptions:
    engine: str = "preview"
    size: int = 512
    fps: float = 30.0
    start: float = 0.0
    end: float | None = None
    seed: int | None = None
    creature: bool = False
    vertical: bool = False
    decoder: str = "taesd"
    title: str = ""
    crf: int = 18
    preset: str = "superfast"
    """x264 preset: superfast keeps a 512² preview render ahead of real time on two cores."""


@dataclass(frozen=True)
class Progress:
    frame: int
    frames: int
    elapsed_s: float

    @property
    def fps(self) -> float:
        return self.frame / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float:
        return (self.frames - self.frame) / self.fps if self.fps > 0 else math.inf


def clip_frames(duration: float, fps: float, start: float, end: float | None) -> tuple[int, int]:
    """(first frame index, frame count) of the clip ``start``..``end`` of a song."""
    if not 0 < fps <= MAX_FPS:
        raise RenderError(f"--fps must be above 0 and at most {MAX_FPS:g}, got {fps:g}")
    end = duration if end is None else min(end, duration)
    if start < 0 or start >= duration:
        raise RenderError(f"--start must be within the song (0 to {duration:.1f} s), got {start:g}")
    if end <= start:
        raise RenderError(f"--end ({end:g} s) must come after --start ({start:g} s)")
    first = round(start * fps)
    last = math.ceil(end * fps - 1e-6)  # exclusive
    return first, max(1, last - first)


class Renderer:
    """Frames of a song, in order, in this process: conductor + engine (+ creature)."""

    def __init__(
        self, analysis: Analysis, session: Session, opts: RenderOptions, skin=None
    ) -> None:
        from hambajuba_tui.bridge.conductor import Conductor
        from hambajuba_tui.engine.worker import _set_scenes, make_engine

        if opts.seed is not None:
            session = dataclasses.replace(session, seed=int(opts.seed))
        self.analysis, self.session, self.opts = analysis, session, opts
        self.first, self.count = clip_frames(analysis.duration, opts.fps, opts.start, opts.end)
        self.engine = make_engine(opts.engine, opts.size, opts.size, session.seed, opts.decoder)
        _set_scenes(self.engine, session)
        self.conductor = Conductor(analysis, session)
        self.heart = np.empty((opts.size, opts.size, 3), np.uint8)
        self.canvas = None
        if opts.creature or opts.vertical:
            from hambajuba_tui.render.creature import CreatureCanvas
            from hambajuba_tui.tui.skin import default_skin

            self.canvas = CreatureCanvas(
                analysis,
                skin or default_skin(),
                session.sources,
                opts.size,
                getattr(self.engine, "name", opts.engine),
                title=opts.title,
                vertical=opts.vertical,
                creature=opts.creature,
            )

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the video."""
        return self.canvas.size if self.canvas is not None else (self.opts.size, self.opts.size)

    def time_of(self, i: int) -> float:
        """Media time of the clip's frame ``i``."""
        return (self.first + i) / self.opts.fps

    def settle(self) -> None:
        """Step the conductor over the seconds before the clip (none from the song's start)."""
        fps = self.opts.fps
        n = round(SETTLE_S * fps)
        for k in range(self.first - n, self.first):
            if k >= 0:
                self.conductor.step(k / fps)

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """(i, t, frame) for the clip; ``frame`` is reused: copy it to keep it."""
        with one_blas_thread():
            self.settle()
            for i in range(self.count):
                t = self.time_of(i)
                self.engine.generate(self.conductor.step(t), self.heart)
                yield i, t, (self.canvas.draw(t, self.heart) if self.canvas else self.heart)

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()


def audio_clip(samples: np.ndarray, sr: int, t0: float, seconds: float) -> np.ndarray:
    """The song's samples for the clip, padded with silence past its end."""
    a = int(round(t0 * sr))
    n = int(round(seconds * sr))
    clip = samples[a : a + n]
    if len(clip) < n:
        pad = np.zeros((n - len(clip),) + samples.shape[1:], samples.dtype)
        clip = np.concatenate([clip, pad])
    return clip


def render(
    analysis: Analysis,
    samples: np.ndarray | None,
    sr: int,
    session: Session,
    out: Path,
    opts: RenderOptions,
    skin=None,
    progress: Callable[[Progress], None] | None = None,
) -> Path:
    """Render the clip to ``out`` (an MP4); returns its path. On any error or Ctrl-C the
    unfinished file is removed and nothing is left at ``out``."""
    from hambajuba_tui.render.encoder import check_writable, ffmpeg_exe

    out = Path(out)
    ffmpeg_exe()  # a missing encoder is known before the engine loads
    check_writable(out)
    renderer = Renderer(analysis, session, opts, skin)
    width, height = renderer.size
    seconds = renderer.count / opts.fps
    audio = None if samples is None else audio_clip(samples, sr, renderer.time_of(0), seconds)
    encoder = Encoder(out, width, height, opts.fps, audio, sr, opts.crf, opts.preset)
    began = time.monotonic()
    try:
        for i, _t, frame in renderer.frames():
            encoder.write(frame)
            if progress is not None:
                progress(Progress(i + 1, renderer.count, time.monotonic() - began))
        return encoder.finish()
    finally:
        encoder.abort()  # nothing when finished; else stop ffmpeg and remove the partial file
        renderer.close()
