"""The Analysis: every signal of one song on the 100 Hz grid, computed once and cached.

Contract used by bridge/ and tui/:
- ``signals["<stem>.<signal>"]`` is float32 [n_frames] on the grid ``t = i / rate``.
- ``beats`` / ``downbeats`` are float64 seconds; ``bpm`` is the measured tempo.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hambajuba_tui.vocab import GRID_RATE

if TYPE_CHECKING:
    from hambajuba_tui.audio.decode import Audio


@dataclass
class Analysis:
    song_hash: str
    """Content hash of the song file (hex); keys the cache directory."""
    duration: float
    """Seconds."""
    bpm: float
    beats: np.ndarray
    """float64 [n_beats], seconds."""
    downbeats: np.ndarray
    """float64 [n_downbeats], seconds (may be empty)."""
    stems_backend: str
    """Which stem backend produced the stems (``dsp`` or ``demucs``)."""
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    rate: float = GRID_RATE
    title: str = ""
    silent: bool = False
    """True when the song is silence only: playable, but nothing will dance."""

    @property
    def n_frames(self) -> int:
        return len(next(iter(self.signals.values()))) if self.signals else 0

    @property
    def grid(self) -> np.ndarray:
        """float64 [n_frames], seconds."""
        return np.arange(self.n_frames, dtype=np.float64) / self.rate

    def signal(self, name: str) -> np.ndarray:
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(f"no signal {name!r}; have {sorted(self.signals)}") from None

    def sample(self, name: str, t: float) -> float:
        """Linear interpolation of a signal at time ``t`` (s); clamps at the ends."""
        x = self.signal(name)
        pos = t * self.rate
        if pos <= 0:
            return float(x[0])
        i = int(pos)
        if i >= len(x) - 1:
            return float(x[-1])
        frac = pos - i
        return float(x[i] + (x[i + 1] - x[i]) * frac)

    def beat_phase(self, t: float) -> tuple[int, float]:
        """(index of the last beat at or before t, 0..1 position inside that beat)."""
        b = self.beats
        if len(b) == 0:
            period = 60.0 / max(self.bpm, 1.0)
            return int(t // period), (t % period) / period
        i = int(np.searchsorted(b, t, side="right")) - 1
        if i < 0:
            period = b[1] - b[0] if len(b) > 1 else 60.0 / max(self.bpm, 1.0)
            return -1, max(0.0, 1.0 - (b[0] - t) / period)
        nxt = b[i + 1] if i + 1 < len(b) else b[i] + 60.0 / max(self.bpm, 1.0)
        return i, min(1.0, (t - b[i]) / max(nxt - b[i], 1e-6))


def analyze(
    path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str, float], None] | None = None,
    audio: Audio | None = None,
    stems_backend: str = "dsp",
    use_cache: bool = True,
) -> Analysis:
    """Analyse a song (decode, stems, signals, rhythm), or return its cached analysis.

    See :func:`hambajuba_tui.audio.pipeline.analyze`; the pipeline (librosa) is imported on
    first call so that importing this module stays cheap.
    """
    from hambajuba_tui.audio.pipeline import analyze as _analyze

    return _analyze(
        path,
        cache_dir=cache_dir,
        progress=progress,
        audio=audio,
        stems_backend=stems_backend,
        use_cache=use_cache,
    )
