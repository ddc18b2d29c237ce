"""A simple section segmentation of the whole song (for summaries, not for steering).

Boundaries are peaks above :data:`MIN_PEAK` of the geometric mean of the mix's ``novelty_mid``
and ``novelty_long`` (timbre contrast over 8- and 32-beat windows: the first places a change
to the bar, the second says it lasts), at least :data:`MIN_BEATS` beats apart and from the
ends, snapped to the nearest downbeat within one beat. Sections get letters: a section whose
mean log-mel timbre lies within :data:`SAME_DISTANCE` (RMS over 16 bands, in units of 70 dB:
~1 dB) of an earlier section's gets that section's letter, otherwise the next new letter.
Rough by design: it finds where the arrangement changes (layers in and out, breakdowns) and
which parts sound alike, not verse/chorus semantics.
"""

from __future__ import annotations

import string

import numpy as np

from hambajuba_tui.vocab import GRID_RATE

MIN_PEAK = 0.4
MIN_BEATS = 8.0
SAME_DISTANCE = 0.015

Section = tuple[float, float, str]


def boundaries(
    novelty: np.ndarray, bpm: float, downbeats: np.ndarray, rate: float = GRID_RATE
) -> list[float]:
    """Section boundary times (s, ascending; not 0 nor the end) from a 0..1 novelty curve."""
    x = np.asarray(novelty, dtype=np.float64)
    n = len(x)
    if n < 3:
        return []
    beat = 60.0 / max(bpm, 1.0)
    gap = int(round(MIN_BEATS * beat * rate))
    peak = np.flatnonzero((x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:]) & (x[1:-1] > MIN_PEAK)) + 1
    chosen: list[int] = []
    for i in peak[np.argsort(-x[peak], kind="stable")]:
        if i < gap // 2 or i > n - gap // 2:
            continue
        if all(abs(int(i) - j) >= gap for j in chosen):
            chosen.append(int(i))
    times = []
    for i in sorted(chosen):
        t = i / rate
        if len(downbeats):
            d = downbeats[np.argmin(np.abs(downbeats - t))]
            t = float(d) if abs(d - t) <= beat else t
        times.append(round(t, 3))
    return sorted(set(times))


def segment(
    novelty: np.ndarray,
    features: np.ndarray,
    bpm: float,
    downbeats: np.ndarray,
    duration: float,
    rate: float = GRID_RATE,
) -> list[Section]:
    """Sections ``(start s, end s, label)`` covering 0..duration; ``features`` is float
    [d, n_frames] (the timbre the labels compare)."""
    edges = [0.0, *boundaries(novelty, bpm, downbeats, rate), round(float(duration), 3)]
    edges = [e for i, e in enumerate(edges) if i == 0 or e > edges[i - 1]]
    if len(edges) < 2:
        return []
    reps: list[tuple[str, np.ndarray]] = []
    out: list[Section] = []
    n = features.shape[1]
    for a, b in zip(edges[:-1], edges[1:], strict=False):
        i, j = int(a * rate), max(int(a * rate) + 1, min(int(b * rate), n))
        mean = features[:, i:j].mean(axis=1) if i < n else np.zeros(features.shape[0])
        label = None
        for name, rep in reps:
            if float(np.sqrt(np.mean(np.square(rep - mean)))) < SAME_DISTANCE:
                label = name
                break
        if label is None:
            letters = string.ascii_uppercase
            k = len(reps)
            label = letters[k % 26] + (str(k // 26) if k >= 26 else "")
            reps.append((label, mean))
        out.append((float(a), float(b), label))
    return out
