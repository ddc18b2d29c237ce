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
    """float32 [n] -> the ``lo``..``hi`` Hz band of it, zero-phase, float32 [n]."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) < 2:
        return np.zeros_like(y)
    sos = band_sos(float(lo), float(hi), int(sr))
    padlen = min(len(y) - 1, 3 * (2 * len(sos) + 1))
    return sps.sosfiltfilt(sos, y, padlen=padlen).astype(np.float32)


def virtual_stems(stems: dict[str, np.ndarray], sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The five virtual stems (float32 [n] each) cut from the physical ``drums`` and ``other``."""
    return {name: band(stems[src], lo, hi, sr) for name, (src, lo, hi) in VIRTUAL_BANDS.items()}
