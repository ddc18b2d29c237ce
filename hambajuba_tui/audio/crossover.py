"""Virtual stems by Linkwitz-Riley LR-4 crossovers.

Each band edge is an LR-4 filter: two cascaded 2nd-order Butterworth sections (same cutoff),
applied zero-phase with ``sosfiltfilt``. A band is a high-pass at its lower edge followed by a
low-pass at its upper edge. At a crossover frequency the two LR-4 halves are each -6 dB (forward
pass) and sum flat; ``sosfiltfilt`` runs them forward and backward (magnitude squared, no phase
shift), so a band is -12 dB at its edges and everything is time-aligned with the physical stem.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as sps

from hambajuba_tui.vocab import SAMPLE_RATE

VIRTUAL_BANDS: dict[str, tuple[str, float, float]] = {
    # virtual stem: (physical stem it is cut from, low edge Hz, high edge Hz)
    "drums_low": ("drums", 20.0, 200.0),
    "drums_mid": ("drums", 200.0, 5000.0),
    "drums_high": ("drums", 5000.0, 16000.0),
    "other_mid": ("other", 200.0, 4000.0),
    "other_high": ("other", 4000.0, 16000.0),
}


def lr4(cutoff: float, btype: str, sr: int = SAMPLE_RATE) -> np.ndarray:
    """LR-4 ``lowpass`` / ``highpass`` at ``cutoff`` Hz: two identical 2nd-order Butterworth
    sections, as float64 sos [2, 6]."""
    sos = sps.butter(2, cutoff, btype=btype, fs=sr, output="sos")
    return np.vstack([sos, sos])


@lru_cache(maxsize=32)
def band_sos(lo: float, hi: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """High-pass LR-4 at ``lo`` then low-pass LR-4 at ``hi`` (``hi`` at or above Nyquist: no
    low-pass) -> sos [4 or 2, 6]."""
    parts = [lr4(lo, "highpass", sr)]
    if hi < 0.5 * sr * 0.999:
        parts.append(lr4(hi, "lowpass", sr))
    return np.vstack(parts)


def band(y: np.ndarray, lo: float, hi: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [n] -> the ``lo``..``hi`` Hz band of it, zero-phase, float32 [n]. ``y`` may
    also be anything sliced like an array that reads itself a block at a time (a spilled
    stem: see :class:`~hambajuba_tui.audio.stems.Spilled`)."""
    if isinstance(y, np.ndarray) or not hasattr(y, "__len__"):
        y = np.asarray(y, dtype=np.float32)
    if len(y) < 2:
        return np.zeros(len(y), dtype=np.float32)
    sos = band_sos(float(lo), float(hi), int(sr))
    padlen = min(len(y) - 1, 3 * (2 * len(sos) + 1))
    return filtfilt_blocks(sos, y, padlen)


FILT_BLOCK = 1 << 18
"""Samples filtered at once by :func:`filtfilt_blocks` (6 s at 44.1 kHz)."""


def filtfilt_blocks(sos: np.ndarray, y: np.ndarray, padlen: int) -> np.ndarray:
    """``scipy.signal.sosfiltfilt(sos, y, padlen=padlen)`` (odd extension) as float32 [n],
    run :data:`FILT_BLOCK` samples at a time in each direction with the filter state carried
    over: no float64 copies of the whole signal (scipy makes several). The one difference is
    that the forward pass is kept in float32 between the two passes (~1e-7 relative)."""
    tape = _ArrayTape(len(y) + 2 * padlen)
    _filtfilt(sos, y, padlen, tape)
    return tape.out[padlen : padlen + len(y)]


def band_spilled(y, lo: float, hi: float, spill, name: str, sr: int = SAMPLE_RATE):
    """:func:`band` of ``y`` (a :class:`~hambajuba_tui.audio.stems.Spilled` stem, or an
    array) into ``spill`` under ``name``, file to file: only blocks of it are ever in memory.
    Returns the band as a ``Spilled`` (the same numbers as :func:`band`)."""
    from hambajuba_tui.audio.stems import Spilled

    if len(y) < 2:
        spill.put(name, np.zeros(len(y), dtype=np.float32))
        return Spilled(spill, name)
    sos = band_sos(float(lo), float(hi), int(sr))
    padlen = min(len(y) - 1, 3 * (2 * len(sos) + 1))
    return filtfilt_spilled(sos, y, padlen, spill, name)


def filtfilt_spilled(sos: np.ndarray, y, padlen: int, spill, name: str):
    """:func:`filtfilt_blocks` with its buffer in ``spill``'s file ``name`` (the same blocks,
    so the same numbers). Returns the ``Spilled`` view of the ``y`` part."""
    from hambajuba_tui.audio.stems import Spilled

    _filtfilt(sos, y, padlen, _SpillTape(spill, name))
    return Spilled(spill, name, start=padlen, n=len(y))


class _ArrayTape:
    """The filter's buffer in memory (float32)."""

    def __init__(self, total: int) -> None:
        self.out = np.empty(total, dtype=np.float32)
        self.end = 0

    def append(self, part: np.ndarray) -> None:
        self.out[self.end : self.end + len(part)] = part
        self.end += len(part)

    def read(self, a: int, count: int) -> np.ndarray:
        return self.out[a : a + count]

    def write_at(self, a: int, part: np.ndarray) -> None:
        self.out[a : a + len(part)] = part


class _SpillTape:
    """The filter's buffer in a spill file (float32): a long band never sits in memory."""

    def __init__(self, spill, name: str) -> None:
        self.spill, self.name = spill, name
        spill.claim(name)

    def append(self, part: np.ndarray) -> None:
        self.spill.append(self.name, part)

    def read(self, a: int, count: int) -> np.ndarray:
        return self.spill.read(self.name, a, count)

    def write_at(self, a: int, part: np.ndarray) -> None:
        self.spill.write_at(self.name, a, part)


def _filtfilt(sos: np.ndarray, y, padlen: int, tape: _ArrayTape | _SpillTape) -> None:
    """The two passes of :func:`filtfilt_blocks` over head | y | tail into ``tape``: forward,
    appended a block at a time; backward, read from the end and written over in place."""
    n = len(y)
    x0, x1 = float(y[0]), float(y[-1])
    head = 2.0 * x0 - np.asarray(y[1 : padlen + 1], dtype=np.float64)[::-1]
    tail = 2.0 * x1 - np.asarray(y[n - 1 - padlen : n - 1], dtype=np.float64)[::-1]
    total = n + 2 * padlen
    zi0 = sps.sosfilt_zi(sos)  # [sections, 2]
    zi = zi0 * (head[0] if padlen else x0)
    if padlen:
        part, zi = sps.sosfilt(sos, head, zi=zi)
        tape.append(part)
    for a in range(0, n, FILT_BLOCK):
        b = min(n, a + FILT_BLOCK)
        part, zi = sps.sosfilt(sos, np.asarray(y[a:b], dtype=np.float64), zi=zi)
        tape.append(part)
    if padlen:
        part, zi = sps.sosfilt(sos, tail, zi=zi)
        last = part[-1]
        tape.append(part)
    else:
        last = float(tape.read(total - 1, 1)[0])
    # backward, from the end (the last forward sample in float64 where there is a tail)
    zi = zi0 * last
    for b in range(total, 0, -FILT_BLOCK):
        a = max(0, b - FILT_BLOCK)
        seg = tape.read(a, b - a)[::-1].astype(np.float64)
        if b == total and padlen:
            seg[0] = last
        part, zi = sps.sosfilt(sos, seg, zi=zi)
        tape.write_at(a, part[::-1])


def virtual_stems(stems: dict[str, np.ndarray], sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The five virtual stems (float32 [n] each) cut from the physical ``drums`` and ``other``."""
    return {name: band(stems[src], lo, hi, sr) for name, (src, lo, hi) in VIRTUAL_BANDS.items()}
