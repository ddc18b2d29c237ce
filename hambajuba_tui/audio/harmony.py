"""Harmony signals of the harmonic part of the mix (the mix minus the drums stem).

``roughness``       Sethares' parametrisation of the Plomp-Levelt dissonance curve, summed over
                    every pair of the :data:`N_PEAKS` strongest spectral peaks of each frame
                    (4096-point STFT every 4 grid frames, interpolated to the grid), divided by
                    the frame's peak power so it measures *how* rough, not how loud.
``entropy``         spectral entropy of the frame (0 = one line, 1 = white), 0..1.
``tension``         ``TENSION_ROUGHNESS`` x normalised roughness + the rest x normalised entropy,
                    times a presence gate (silence has no tension).
``tonal_distance``  Jensen-Shannon divergence (natural log, / ln 2, so 0..1) of each frame's
                    chroma distribution from the track's mean chroma, followed with attack
                    60 ms / release 400 ms; 0 where the harmonic part is silent.
``key``             Krumhansl-Schmuckler: the major or minor Krumhansl-Kessler profile (of 24
                    rotations) that correlates best with the mean chroma of the harmonic part
                    (plus, when given, the bass stem's mean chroma: see :func:`key_of`), e.g.
                    ``"A minor"``; in the analysis, the key held longest of ``keys``.
``keys``            the key over time: the same scores per bar (4 beats) over the bars around
                    it, from the harmonic part, the accompaniment and the bass, and a Viterbi
                    path through the 24 keys that pays :data:`KEY_SWITCH_PENALTY` per change, so
                    a modulation is followed and a borrowed chord is not (:func:`key_segments`).

:func:`harmony_signals` returns them as ``tension.value``, ``tension.roughness``,
``tension.entropy`` and ``tonal_distance.value`` (the bridge's derived sources ``tension`` and
``tonal_distance``).
"""

from __future__ import annotations

import math

import numpy as np

from hambajuba_tui.audio.signals import (
    ENERGY_FLOOR,
    follow,
    normalize,
    normalize_where,
    rms,
    samples_of,
)
from hambajuba_tui.vocab import GRID_RATE, HOP, SAMPLE_RATE

N_PEAKS = 20
PEAK_BAND_HZ = (30.0, 5000.0)
HARMONY_N_FFT = 4096
HARMONY_STEP = 4
"""Harmony spectra are taken every this many grid frames (25 Hz) and interpolated."""
TENSION_ROUGHNESS = 0.6
TONAL_ATTACK_MS, TONAL_RELEASE_MS = 60.0, 400.0
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BAR_BEATS = 4
KEY_WINDOW_BARS = 4
KEY_SWITCH_PENALTY = 1.5
"""Score (sum of two correlations per bar, at most 2) a key change must win back: about two
bars of clear evidence, so a passing chord never changes the key."""
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def dissonance(f1: np.ndarray, f2: np.ndarray, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Sethares (1993) pairwise dissonance of partials (Hz, amplitudes), broadcasting."""
    fmin = np.minimum(f1, f2)
    s = 0.24 / (0.0207 * fmin + 18.96)
    x = s * np.abs(f2 - f1)
    return a1 * a2 * (np.exp(-3.5 * x) - np.exp(-5.75 * x))


def _spectra(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(magnitude float32 [bins, m], bin Hz) every HARMONY_STEP grid frames, centred."""
    import librosa

    spec = np.abs(
        librosa.stft(y, n_fft=HARMONY_N_FFT, hop_length=HARMONY_STEP * HOP, pad_mode="constant")
    )
    return spec.astype(np.float32), np.fft.rfftfreq(HARMONY_N_FFT, 1.0 / sr)


SPECTRA_BLOCK = 512
"""Spectrum frames (every HARMONY_STEP grid frames: 20 s) analysed at once."""


def _roughness_entropy(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`roughness_frames` and :func:`spectral_entropy` of :func:`_spectra`, the same
    numbers made a block of frames at a time (each frame is its own), so a long song never
    holds its whole spectrogram."""
    import librosa

    hop = HARMONY_STEP * HOP
    m = 1 + len(y) // hop  # librosa's centred frame count
    y = samples_of(y)
    half = HARMONY_N_FFT // 2
    freqs = np.fft.rfftfreq(HARMONY_N_FFT, 1.0 / sr)
    rough, ent = np.empty(m), np.empty(m)
    for start in range(0, m, SPECTRA_BLOCK):
        count = min(SPECTRA_BLOCK, m - start)
        # samples of the song zero-padded by half a window each side (no padded copy of it)
        a = start * hop - half
        b = (start + count - 1) * hop + HARMONY_N_FFT - half
        seg = y[max(a, 0) : min(b, len(y))]
        seg = np.pad(seg, (max(0, -a), max(0, b - len(y))))
        spec = librosa.stft(seg, n_fft=HARMONY_N_FFT, hop_length=hop, center=False)
        mag = np.abs(spec[:, :count]).astype(np.float32)
        rough[start : start + count] = roughness_frames(mag, freqs)
        ent[start : start + count] = spectral_entropy(mag)
    return rough, ent


def roughness_frames(mag: np.ndarray, freqs: np.ndarray, n_peaks: int = N_PEAKS) -> np.ndarray:
    """Roughness per spectrum frame (float64 [m]) of a magnitude spectrogram [bins, m]."""
    lo, hi = np.searchsorted(freqs, PEAK_BAND_HZ)
    m = mag[lo:hi]
    f = freqs[lo:hi]
    peak = np.zeros(m.shape, dtype=bool)
    peak[1:-1] = (m[1:-1] > m[:-2]) & (m[1:-1] >= m[2:])
    amp = np.where(peak, m, 0.0).T  # [frames, bins]
    k = min(n_peaks, amp.shape[1])
    if k < 2:
        return np.zeros(mag.shape[1])
    idx = np.argpartition(-amp, k - 1, axis=1)[:, :k]
    a = np.take_along_axis(amp, idx, axis=1).astype(np.float64)
    # parabolic interpolation of the peak frequency (bins are ~10.8 Hz wide)
    left = np.take_along_axis(m.T, np.maximum(idx - 1, 0), axis=1)
    right = np.take_along_axis(m.T, np.minimum(idx + 1, len(f) - 1), axis=1)
    den = left - 2 * a + right
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (left - right) / np.where(den == 0, 1, den), 0)
    fk = f[idx] + np.clip(shift, -0.5, 0.5) * (f[1] - f[0])
    d = dissonance(fk[:, :, None], fk[:, None, :], a[:, :, None], a[:, None, :])
    total = d.sum(axis=(1, 2)) / 2.0
    return total / np.maximum(np.square(a).sum(axis=1), 1e-20)


def spectral_entropy(mag: np.ndarray) -> np.ndarray:
    """Normalised entropy (0..1) of each frame's power distribution, float64 [m]."""
    p = np.square(mag, dtype=np.float64)
    p /= np.maximum(p.sum(axis=0, keepdims=True), 1e-30)
    h = -(p * np.log(np.maximum(p, 1e-30))).sum(axis=0)
    return h / math.log(mag.shape[0])


def roughness(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Raw roughness of float32 [n] audio every HARMONY_STEP grid frames (float64)."""
    mag, freqs = _spectra(np.asarray(y, dtype=np.float32), sr)
    return roughness_frames(mag, freqs)


def js_distance(chroma: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence / ln 2 (0..1) of each column of float [12, n] from
    ``reference`` [12] (both normalised to distributions) -> float64 [n]."""
    p = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), 1e-20)
    q = (reference / max(float(reference.sum()), 1e-20))[:, None]
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(a > 0, a * np.log(np.maximum(a, 1e-20) / np.maximum(b, 1e-20)), 0.0).sum(
            axis=0
        )

    return np.clip(0.5 * (kl(p, m) + kl(q, m)) / math.log(2.0), 0.0, 1.0)


def mean_chroma(chroma: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted mean of the per-frame chroma distributions -> float64 [12]."""
    p = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), 1e-20)
    w = np.asarray(weight, dtype=np.float64)
    if w.sum() <= 0:
        return np.full(12, 1.0 / 12.0)
    return (p * w).sum(axis=1) / w.sum()


def tonal_distance(chroma: np.ndarray, weight: np.ndarray, rate: float = GRID_RATE) -> np.ndarray:
    """Smoothed JS distance of each frame's chroma from the weighted mean chroma -> float32."""
    present = weight > 0
    dist = np.where(present, js_distance(chroma, mean_chroma(chroma, weight)), 0.0)
    return np.clip(follow(dist, TONAL_ATTACK_MS, TONAL_RELEASE_MS, rate), 0, 1).astype(np.float32)


def key_scores(mean: np.ndarray) -> dict[str, float]:
    """Correlation of a mean chroma [12] with each of the 24 rotated Krumhansl-Kessler profiles."""
    mean = np.asarray(mean, dtype=np.float64)
    out: dict[str, float] = {}
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(mean, np.roll(profile, tonic))[0, 1] if np.ptp(mean) > 1e-12 else 0.0
            out[f"{PITCH_CLASSES[tonic]} {mode}"] = float(r) if np.isfinite(r) else 0.0
    return out


def key_of(mean: np.ndarray, bass_mean: np.ndarray | None = None) -> str:
    """Krumhansl-Schmuckler key of a mean chroma [12] (C = index 0), e.g. ``"A minor"``.

    With ``bass_mean`` (the bass line's mean chroma) the score of each key is the sum of both
    correlations: relative major and minor keys share their pitch classes (Am-F-C-G fits C major
    about as well as A minor), and the bass line's emphasis on the tonic tells them apart.
    """
    mean = np.asarray(mean, dtype=np.float64)
    if not np.isfinite(mean).all() or np.ptp(mean) <= 1e-12:
        return ""
    scores = key_scores(mean)
    if bass_mean is not None and np.isfinite(bass_mean).all() and np.ptp(bass_mean) > 1e-12:
        for name, r in key_scores(bass_mean).items():
            scores[name] += r
    return max(scores, key=lambda k: scores[k])


def _window_scores(chroma: np.ndarray, weight: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Key correlations (float [n_bars, 24], in :func:`key_scores` order) per bar
    ``edges[i]:edges[i + 1]`` (grid frames), each of the weighted mean chroma of the
    :data:`KEY_WINDOW_BARS` bars around it (shifted inwards at the ends): one bar holds a
    chord or two, which fits several keys; a few bars hold the scale."""
    n_bars = len(edges) - 1
    chroma = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), 1e-20)  # as mean_chroma
    sums = np.zeros((n_bars, 12))
    mass = np.zeros(n_bars)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        sums[i] = chroma[:, a:b] @ weight[a:b]
        mass[i] = weight[a:b].sum()
    cs, cm = np.vstack([np.zeros(12), np.cumsum(sums, axis=0)]), np.r_[0.0, np.cumsum(mass)]
    width = min(KEY_WINDOW_BARS, n_bars)
    out = np.zeros((n_bars, 24))
    for i in range(n_bars):
        lo = int(np.clip(i - KEY_WINDOW_BARS // 2, 0, n_bars - width))
        hi = lo + width
        if cm[hi] - cm[lo] > 0:
            out[i] = list(key_scores((cs[hi] - cs[lo]) / (cm[hi] - cm[lo])).values())
    return out


def key_segments(
    evidence: list[tuple[np.ndarray, np.ndarray]],
    beats: np.ndarray,
    rate: float = GRID_RATE,
) -> list[tuple[float, str]]:
    """The key over time, ``[(start s, key), ...]`` (the first starts at 0; empty when no key).

    ``evidence``: (chroma float [12, n], weight float [n]) pairs on the grid, weight 0 where
    that part is silent -- the harmonic part of the mix (its melody spells the scale), the
    accompaniment and the bass (their roots tell relative keys apart). ``beats``: float64 s.
    Each bar of :data:`BAR_BEATS` beats sums every part's key correlations over the bars around
    it; the best path through the 24 keys pays :data:`KEY_SWITCH_PENALTY` per change. Without
    two bars of beats it is one key for the whole song.
    """
    n = min(c.shape[1] for c, _ in evidence)
    parts = [(np.asarray(c, np.float64)[:, :n], np.asarray(w, np.float64)[:n]) for c, w in evidence]
    if len(beats) >= 2 * BAR_BEATS:
        bars = np.round(np.asarray(beats)[BAR_BEATS::BAR_BEATS] * rate).astype(np.int64)
        edges = np.unique(np.clip(np.r_[0, bars, n], 0, n))
    else:
        edges = np.array([0, n])
    scores = sum(_window_scores(c, w, edges) for c, w in parts)
    if len(edges) < 2 or not np.any(scores):
        return []
    # Viterbi: the best total score with a penalty per key change.
    total = scores[0].copy()
    back = np.zeros(scores.shape, dtype=np.int64)
    for i in range(1, len(scores)):
        best = int(np.argmax(total))
        stay = total >= total[best] - KEY_SWITCH_PENALTY
        back[i] = np.where(stay, np.arange(24), best)
        total = np.where(stay, total, total[best] - KEY_SWITCH_PENALTY) + scores[i]
    path = np.empty(len(scores), dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for i in range(len(scores) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    names = list(key_scores(np.arange(12.0)))
    out: list[tuple[float, str]] = []
    for i, k in enumerate(path):
        if not out or names[k] != out[-1][1]:
            out.append((0.0 if not out else round(float(edges[i]) / rate, 3), names[k]))
    return out


def main_key(keys: list[tuple[float, str]], duration: float) -> str:
    """The key the song spends the most time in (the earliest on a tie); "" when none."""
    if not keys:  # no key section found (a short or damaged clip)
        return ""
    held: dict[str, float] = {}
    for (start, key), end in zip(keys, [k[0] for k in keys[1:]] + [duration], strict=True):
        held[key] = held.get(key, 0.0) + max(end - start, 0.0)
    return max(held, key=lambda k: held[k]) if held else ""


def harmony_signals(
    y: np.ndarray,
    chroma: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    key_parts: list[tuple[np.ndarray, np.ndarray]] = (),
    beats: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], list[tuple[float, str]]]:
    """Harmony signals (float32 [n_frames], names in the module docstring) and the keys over
    time (:func:`key_segments`) of the harmonic part ``y`` (float32 [n]); ``chroma`` is its
    chroma on the grid (float [12, n]); ``key_parts`` are more (chroma [12, n], weight [n])
    evidence for the key (the accompaniment, the bass); ``beats`` (s) set the bars."""
    return harmony_from_parts(harmony_parts(y, sr), chroma, key_parts=key_parts, beats=beats)


def harmony_parts(y: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, ...]:
    """What :func:`harmony_signals` needs from the samples of ``y``: (rms, raw roughness, raw
    entropy), so the caller can drop ``y`` before the rest is known."""
    y = samples_of(y)  # a spilled part is read a block at a time
    return (rms(y), *_roughness_entropy(y, sr))


def harmony_from_parts(
    parts: tuple[np.ndarray, ...],
    chroma: np.ndarray,
    *,
    key_parts: list[tuple[np.ndarray, np.ndarray]] = (),
    beats: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], list[tuple[float, str]]]:
    """:func:`harmony_signals` from :func:`harmony_parts` of the samples."""
    energy, raw_rough, raw_ent = parts
    n = len(energy)
    loud = float(np.percentile(energy, 95)) if n else 0.0
    present = (energy > ENERGY_FLOOR) & (energy > loud * 0.01)
    chroma = np.asarray(chroma, dtype=np.float64)[:, :n]
    if chroma.shape[1] < n:
        chroma = np.pad(chroma, ((0, 0), (0, n - chroma.shape[1])))
    weight = np.where(present, energy, 0.0)
    beats = np.zeros(0) if beats is None else np.asarray(beats, dtype=np.float64)
    keys = key_segments([(chroma, weight), *key_parts], beats) if present.any() else []
    td = tonal_distance(chroma, weight)

    grid = np.arange(n, dtype=np.float64)
    at = np.arange(len(raw_rough), dtype=np.float64) * HARMONY_STEP
    rough = np.interp(grid, at, raw_rough)
    ent = np.interp(grid, at, raw_ent)
    rough_n = normalize_where(rough, present, floor=1e-3)
    ent_n = normalize_where(ent, present, floor=0.02)
    gate = normalize(energy, floor=ENERGY_FLOOR)
    gate = np.clip(gate / 0.2, 0.0, 1.0)  # full tension from 20 % of the loud level up
    tension = (TENSION_ROUGHNESS * rough_n + (1 - TENSION_ROUGHNESS) * ent_n) * gate
    return (
        {
            "tension.value": tension.astype(np.float32),
            "tension.roughness": rough_n,
            "tension.entropy": ent_n,
            "tonal_distance.value": td,
        },
        keys,
    )
