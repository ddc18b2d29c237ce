"""Beats, downbeats and tempo.

Beats come from librosa's dynamic-programming tracker on the mix's onset strength (100 Hz grid).
librosa's own tempo estimate is quantised by its autocorrelation lag resolution (at 100 Hz, one
lag step near 124 BPM is ~1.2 BPM), so the reported BPM is instead the slope of a robust linear
fit of beat time against beat index, which is precise to a small fraction of a BPM on a steady
song. Downbeats: every 4th beat, at the phase where bars most look like they start (strong low
end, weak snare band, chord changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hambajuba_tui.vocab import GRID_RATE, HOP, SAMPLE_RATE

BPM_RANGE = (60.0, 180.0)
DEFAULT_BPM = 120.0
BEATS_PER_BAR = 4


@dataclass
class Rhythm:
    beats: np.ndarray
    """float64 [n_beats], seconds."""
    downbeats: np.ndarray
    """float64 [n_downbeats], seconds (empty when there are too few beats)."""
    bpm: float
    """Measured tempo folded into :data:`BPM_RANGE`."""


def fold_bpm(bpm: float, lo: float = BPM_RANGE[0], hi: float = BPM_RANGE[1]) -> float:
    """Fold a tempo into [lo, hi] by octaves (halving / doubling)."""
    if not np.isfinite(bpm) or bpm <= 0:
        return DEFAULT_BPM
    while bpm > hi:
        bpm /= 2.0
    while bpm < lo:
        bpm *= 2.0
    return float(bpm)


def bpm_from_beats(beats: np.ndarray) -> float | None:
    """Tempo (BPM, unfolded) from beat times (float64 [n], s) by a robust linear fit.

    Each beat gets an integer index ``round((t - t0) / median IBI)`` (so a missed beat leaves a
    gap instead of bending the fit); beats more than 15% of a period off the line are dropped
    and the fit repeated. None when fewer than 4 beats.
    """
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 4:
        return None
    ibi = np.diff(beats)
    period = float(np.median(ibi))
    if period <= 0:
        return None
    index = np.round((beats - beats[0]) / period)
    keep = np.ones(len(beats), dtype=bool)
    for _ in range(4):
        if keep.sum() < 3:
            break
        slope, intercept = np.polyfit(index[keep], beats[keep], 1)
        resid = np.abs(beats - (slope * index + intercept))
        new_keep = resid < 0.15 * slope
        if new_keep.sum() < 3 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    slope = float(np.polyfit(index[keep], beats[keep], 1)[0])
    return 60.0 / slope if slope > 0 else None


def track_beats(onset_env: np.ndarray, rate: float = GRID_RATE) -> tuple[np.ndarray, float]:
    """Beat times (float64 [n], s) and librosa's coarse tempo estimate from an onset envelope
    (float [n_frames] at ``rate`` Hz)."""
    import librosa

    if len(onset_env) < 8 or float(np.max(onset_env)) <= 0:
        return np.zeros(0, dtype=np.float64), DEFAULT_BPM
    hop = int(round(SAMPLE_RATE / rate))
    tempo, frames = librosa.beat.beat_track(
        onset_envelope=onset_env, sr=SAMPLE_RATE, hop_length=hop, units="frames"
    )
    coarse = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else DEFAULT_BPM
    beats = refine_peaks(onset_env, np.asarray(frames, dtype=np.int64)) / rate
    return beats.astype(np.float64), coarse


def refine_peaks(env: np.ndarray, frames: np.ndarray, radius: int = 2) -> np.ndarray:
    """Move each frame to the onset peak within ``radius`` frames, with parabolic sub-frame
    interpolation -> float64 [n] fractional frames."""
    if len(frames) == 0:
        return frames.astype(np.float64)
    n = len(env)
    offsets = np.arange(-radius, radius + 1)
    idx = np.clip(frames[:, None] + offsets[None, :], 0, n - 1)
    best = idx[np.arange(len(frames)), np.argmax(env[idx], axis=1)]
    left, mid, right = env[np.maximum(best - 1, 0)], env[best], env[np.minimum(best + 1, n - 1)]
    denom = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    return best + np.clip(shift, -0.5, 0.5)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = float(np.std(x))
    return (x - float(np.mean(x))) / sd if sd > 1e-9 else np.zeros_like(x)


def _band_flux(mel_db: np.ndarray, mel_hz: np.ndarray, lo: float, hi: float) -> np.ndarray:
    rows = (mel_hz >= lo) & (mel_hz < hi)
    if not rows.any():
        return np.zeros(mel_db.shape[1])
    d = np.diff(mel_db[rows], axis=1, prepend=mel_db[rows][:, :1])
    return np.maximum(d, 0.0).mean(axis=0)


def _at_beats(x: np.ndarray, beat_frames: np.ndarray, radius: int = 3) -> np.ndarray:
    """Max of x within ``radius`` frames of each beat frame."""
    n = len(x)
    idx = np.clip(beat_frames[:, None] + np.arange(-radius, radius + 1)[None, :], 0, n - 1)
    return x[idx].max(axis=1)


def _chord_change(chroma: np.ndarray, beat_frames: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of mean chroma over the beat before vs the beat after each beat."""
    edges = np.concatenate(([0], beat_frames, [chroma.shape[1]]))
    seg = np.stack(
        [
            chroma[:, a:b].mean(axis=1) if b > a else np.zeros(12)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )  # [n_beats + 1, 12]: segment k ends at beat k
    seg /= np.maximum(np.linalg.norm(seg, axis=1, keepdims=True), 1e-9)
    return 1.0 - np.sum(seg[:-1] * seg[1:], axis=1)


def find_downbeats(
    beats: np.ndarray,
    mel_db: np.ndarray,
    *,
    chroma: np.ndarray | None = None,
    rate: float = GRID_RATE,
) -> np.ndarray:
    """Every 4th beat (float64 seconds), at the phase whose beats look most like bar starts.

    ``mel_db`` is the mix's log-mel (float [n_mels, n_frames] at ``rate`` Hz, from
    ``signals.log_mel``); ``chroma`` (float [12, n_frames], same grid) adds chord changes.
    Score per beat: z(low-band flux) - 0.5 z(snare-band flux) + z(chord change).
    """
    import librosa

    if len(beats) < 2 * BEATS_PER_BAR:
        return beats[:1].copy() if len(beats) else np.zeros(0, dtype=np.float64)
    mel_hz = librosa.mel_frequencies(n_mels=mel_db.shape[0] + 2, fmax=16000)[1:-1]
    frames = np.clip(np.round(beats * rate).astype(np.int64), 0, mel_db.shape[1] - 1)
    score = _zscore(_at_beats(_band_flux(mel_db, mel_hz, 20.0, 150.0), frames))
    score -= 0.5 * _zscore(_at_beats(_band_flux(mel_db, mel_hz, 1000.0, 6000.0), frames))
    if chroma is not None and chroma.shape[1] > 0:
        score += _zscore(_chord_change(chroma, frames))
    phase_score = [score[p::BEATS_PER_BAR].mean() for p in range(BEATS_PER_BAR)]
    return beats[int(np.argmax(phase_score)) :: BEATS_PER_BAR].copy()


def analyze_rhythm(
    onset_env: np.ndarray,
    mel_db: np.ndarray,
    *,
    chroma: np.ndarray | None = None,
    rate: float = GRID_RATE,
) -> Rhythm:
    """Beats, downbeats and BPM from the mix's onset strength (float [n_frames]) and log-mel
    (float [n_mels, n_frames]), both on the ``rate`` Hz grid."""
    beats, coarse = track_beats(onset_env, rate)
    fine = bpm_from_beats(beats)
    bpm = fold_bpm(fine if fine is not None else coarse)
    downbeats = find_downbeats(beats, mel_db, chroma=chroma, rate=rate)
    return Rhythm(beats=beats, downbeats=downbeats, bpm=bpm)


def harmonic_chroma(y: np.ndarray, sr: int = SAMPLE_RATE, rate: float = GRID_RATE) -> np.ndarray:
    """Chroma of float32 [n] (e.g. the harmonic stems summed) -> float32 [12, n_frames] at
    ``rate`` Hz (computed at rate / 4 and repeated, which is plenty for chord changes)."""
    import librosa

    n = 1 + len(y) // HOP
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=4096, hop_length=4 * HOP, tuning=0.0)
    return np.repeat(chroma, 4, axis=1)[:, :n].astype(np.float32)
