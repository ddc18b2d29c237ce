"""The Analysis: every signal of one song on the 100 Hz grid, computed once and cached.

Contract used by bridge/ and tui/:
- ``signals["<stem>.<signal>"]`` is float32 [n_hops] in [0, 1] on the grid ``t = i / rate``.
- ``beats`` / ``downbeats`` are float64 seconds; ``bpm`` is the measured tempo.

Signal names (see :mod:`hambajuba_tui.audio.signals` for what each means):
- per stem, for the physical stems ``bass drums vocals other``, the virtual stems
  ``drums_low drums_mid drums_high other_mid other_high`` and ``global`` (the mono mix):
  ``envelope energy_smooth flash sustain flux transient brightness flatness harmonic percussive
  percussive_ratio chroma_0 .. chroma_11 chroma_centroid energy_db novelty_short novelty_mid
  novelty_long layer_entry``; ``vocals`` and ``bass`` also ``pitch_conf pitch_norm`` (their
  fundamental in Hz is :attr:`Analysis.pitch_hz`). ``energy_db`` is ``(dB + 40) / 40``.
- derived sources (:mod:`hambajuba_tui.audio.harmony`): ``tension.value`` (with its parts
  ``tension.roughness`` and ``tension.entropy``) and ``tonal_distance.value``, 0..1.
- coupling (:mod:`hambajuba_tui.audio.coupling`): ``coupling.<a>_<b>.<name>`` for each pair of
  physical stems (``bass_drums``, ``bass_vocals``, ``bass_other``, ``drums_vocals``,
  ``drums_other``, ``vocals_other``), names ``correlation plv onset_sync lock_index
  call_response``, 0..1.
An Analysis from an older cache or a hand-made one may have fewer; users of it check.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS, VIRTUAL_STEMS

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
    key: str = ""
    """The key the song spends the most time in, e.g. ``"A minor"`` (empty when unknown)."""
    keys: list[tuple[float, str]] = field(default_factory=list)
    """The key over time: ``(start s, key)`` per key section, the first at 0."""
    events: dict[str, np.ndarray] = field(default_factory=dict)
    """Event times, float64 [k] seconds, by name: ``"<stem>.layer_entry"`` for every stem."""
    classification: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per stem: ``percussive harmonic melody texture harmony`` (0..1) and the normalised motion
    weights ``spring pitch_follow oscillator drift`` (see :mod:`hambajuba_tui.audio.classify`)."""
    pitch_hz: dict[str, np.ndarray] = field(default_factory=dict)
    """Stem (``vocals``, ``bass``) -> fundamental in Hz, float32 [n_hops], held through
    unvoiced hops (0 before any voiced one); ``<stem>.pitch_conf`` says where it is voiced."""
    sections: list[tuple[float, float, str]] = field(default_factory=list)
    """``(start s, end s, label)`` covering the song (see :mod:`hambajuba_tui.audio.sections`)."""

    @property
    def n_hops(self) -> int:
        return len(next(iter(self.signals.values()))) if self.signals else 0

    @property
    def grid(self) -> np.ndarray:
        """float64 [n_hops], seconds."""
        return np.arange(self.n_hops, dtype=np.float64) / self.rate

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

    def beat_time(self, i: int) -> float:
        """Time (s) of beat ``i``; nan outside the beat list."""
        return float(self.beats[i]) if 0 <= i < len(self.beats) else float("nan")

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


ACTIVE_LEVEL = 0.2
"""A stem counts as active where its ``energy_smooth`` is above this."""


def summary(analysis: Analysis) -> dict:
    """A JSON-ready overview: duration, tempo, key, stem backend, how much of the song each
    physical stem (``activity``) and virtual sub-band (``sub_band_activity``) is active (share
    of hops with ``energy_smooth`` > :data:`ACTIVE_LEVEL`), layer entries, the
    classification's leading motion model per stem, and the sections."""
    a = analysis

    def share(stems: tuple[str, ...]) -> dict[str, float]:
        return {
            s: round(float(np.mean(a.signals[f"{s}.energy_smooth"] > ACTIVE_LEVEL)), 3)
            for s in stems
            if f"{s}.energy_smooth" in a.signals
        }

    motion = {
        s: max(("spring", "pitch_follow", "oscillator", "drift"), key=lambda m: w.get(m, 0))
        for s, w in a.classification.items()
    }
    return {
        "title": a.title,
        "duration": round(float(a.duration), 3),
        "bpm": round(float(a.bpm), 2),
        "beats": int(len(a.beats)),
        "key": a.key,
        "keys": [{"start": round(s, 2), "key": k} for s, k in a.keys],
        "stems_backend": a.stems_backend,
        "silent": bool(a.silent),
        "activity": share(PHYSICAL_STEMS),
        "sub_band_activity": share(VIRTUAL_STEMS),
        "layer_entries": {
            name.split(".")[0]: [round(float(t), 2) for t in times]
            for name, times in a.events.items()
            if name.endswith(".layer_entry")
        },
        "motion": motion,
        "sections": [
            {"start": round(s, 2), "end": round(e, 2), "label": lab} for s, e, lab in a.sections
        ],
        "hash": a.song_hash,
    }


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
