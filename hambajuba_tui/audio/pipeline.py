"""The analysis pipeline: song file -> :class:`Analysis`, computed once and cached by content hash.

``hambajuba_tui.audio.analysis.analyze`` (and ``hambajuba_tui.audio.analyze``) call :func:`analyze`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hambajuba_tui.audio import cache
from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.audio.decode import Audio, check_path, content_hash, load_audio, samples_hash
from hambajuba_tui.audio.rhythm import DEFAULT_BPM, analyze_rhythm, harmonic_chroma
from hambajuba_tui.audio.signals import (
    SIGNAL_NAMES,
    log_mel,
    n_frames,
    onset_strength,
    silent_signals,
    stem_signals,
)
from hambajuba_tui.audio.stems import separate
from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS, SAMPLE_RATE

Progress = Callable[[str, float], None]
"""``progress(stage, fraction)``: stage is one of "decode", "cache", "stems", "signals",
"rhythm", "done"; fraction is the overall progress in [0, 1], never decreasing."""

SILENCE_DBFS = -70.0
"""A song whose peak stays below this is "silence only"."""

SIGNAL_STEMS: tuple[str, ...] = (*PHYSICAL_STEMS, "global")
"""Stems that get signals in this version: the physical stems and ``global`` (the mono mix)."""


def _noop(stage: str, fraction: float) -> None:
    pass


def _monotonic(progress: Progress) -> Progress:
    """Wrap ``progress`` so the fractions it sees never decrease (and are rounded)."""
    last = 0.0

    def report(stage: str, fraction: float) -> None:
        nonlocal last
        last = max(last, round(min(max(fraction, 0.0), 1.0), 4))
        progress(stage, last)

    return report


def analyze(
    path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    audio: Audio | None = None,
    stems_backend: str = "dsp",
    use_cache: bool = True,
) -> Analysis:
    """Analyse the song at ``path`` (or the already decoded ``audio`` of it).

    The content hash of the file (or of ``audio``'s samples when ``path`` is not a file) keys the
    cache under ``cache_dir`` (default: the user cache); a cache hit returns without decoding.
    Raises :class:`~hambajuba_tui.audio.decode.AudioError` for files that cannot be used.
    A song of silence only gives ``silent=True``, all-zero signals, no beats and 120 BPM.
    """
    report = _monotonic(progress or _noop)
    path = Path(path)
    report("decode", 0.0)
    if audio is None or path.is_file():
        check_path(path)
        song_hash = content_hash(path)
    else:
        song_hash = samples_hash(audio.samples, audio.sr)

    if use_cache:
        report("cache", 0.01)
        hit = cache.load_cached(song_hash, cache_dir, stems_backend=stems_backend)
        if hit is not None:
            report("done", 1.0)
            return hit

    if audio is None:
        audio = load_audio(path)
    report("decode", 0.1)
    result = analyze_audio(
        audio, song_hash=song_hash, title=path.stem, backend=stems_backend, progress=report
    )
    if use_cache:
        report("cache", 0.97)
        cache.save(result, cache_dir)
    report("done", 1.0)
    return result


def analyze_audio(
    audio: Audio,
    *,
    song_hash: str,
    title: str = "",
    backend: str = "dsp",
    progress: Progress | None = None,
) -> Analysis:
    """The analysis itself (no cache): stems, signals per stem and for the mix, rhythm."""
    with warnings.catch_warnings():
        # librosa warns about clips shorter than one FFT frame; those are handled (padded).
        warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
        return _analyze_audio(audio, song_hash, title, backend, progress or _noop)


def _analyze_audio(
    audio: Audio, song_hash: str, title: str, backend: str, report: Progress
) -> Analysis:
    if audio.sr != SAMPLE_RATE:
        raise ValueError(f"analyze_audio needs {SAMPLE_RATE} Hz audio, got {audio.sr}")
    mono = audio.mono
    n = n_frames(len(mono))
    duration = audio.duration
    peak = float(np.max(np.abs(audio.samples))) if audio.samples.size else 0.0
    if peak < 10 ** (SILENCE_DBFS / 20):
        return Analysis(
            song_hash=song_hash,
            duration=duration,
            bpm=DEFAULT_BPM,
            beats=np.zeros(0, dtype=np.float64),
            downbeats=np.zeros(0, dtype=np.float64),
            stems_backend=backend,
            signals=silent_signals(n, SIGNAL_STEMS),
            rate=GRID_RATE,
            title=title,
            silent=True,
        )

    report("stems", 0.1)
    stems = separate(audio.samples, audio.sr, backend)
    report("stems", 0.45)

    signals: dict[str, np.ndarray] = {}
    mix_mel = log_mel(mono)
    mix_onset = onset_strength(mono, mel_db=mix_mel)
    sources = [*((name, stems[name]) for name in PHYSICAL_STEMS), ("global", mono)]
    for k, (name, y) in enumerate(sources):
        own = stem_signals(y, name, onset_env=mix_onset if name == "global" else None)
        signals.update({f"{name}.{key}": own[key] for key in SIGNAL_NAMES})
        report("signals", 0.45 + 0.4 * (k + 1) / len(sources))

    report("rhythm", 0.85)
    chroma = harmonic_chroma(mono - stems["drums"])
    rhythm = analyze_rhythm(mix_onset, mix_mel, chroma=chroma)
    report("rhythm", 0.95)
    return Analysis(
        song_hash=song_hash,
        duration=duration,
        bpm=rhythm.bpm,
        beats=rhythm.beats,
        downbeats=rhythm.downbeats,
        stems_backend=backend,
        signals=signals,
        rate=GRID_RATE,
        title=title,
        silent=False,
    )
