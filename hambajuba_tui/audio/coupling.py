"""Coupling between the physical stems, per pair, on the grid (float32 [n_hops], 0..1).

Signals ``coupling.<a>_<b>.<name>`` for each pair of :data:`PHYSICAL_STEMS` in that order
(``bass_drums``, ``bass_vocals``, ``bass_other``, ``drums_vocals``, ``drums_other``,
``vocals_other``). Windows are :data:`WINDOW_BEATS` beats (4 s at 120 BPM), centred.

``correlation``    Pearson correlation of the two ``energy_smooth`` over the window, as
                   ``(r + 1) / 2``.
``plv``            phase-locking value: ``|mean(exp(i(phi_a - phi_b)))|`` over the window, with
                   ``phi`` the Hilbert phase of ``energy_smooth`` minus its 2-beat moving mean.
``onset_sync``     cosine similarity of the two ``transient`` pulse trains over the window (the
                   40 ms pulses make hits within ~50 ms count as together).
``lock_index``     ``0.40 (r + 1) / 2 + 0.35 plv + 0.25 onset_sync`` (> 0.7 locked, < 0.3
                   independent), times the share of the window in which *both* stems are
                   active (a pair with a silent partner is not locked).
``call_response``  the share of the window in which exactly one of the two is active (smoothed
                   XOR of activity; active = ``energy_smooth`` > :data:`ACTIVE` somewhere
                   within half a beat).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS

WINDOW_BEATS = 8.0
ACTIVE = 0.2
COUPLING_NAMES = ("correlation", "plv", "onset_sync", "lock_index", "call_response")
PAIRS: tuple[tuple[str, str], ...] = tuple(combinations(PHYSICAL_STEMS, 2))


def pair_names() -> list[str]:
    return [f"coupling.{a}_{b}.{name}" for a, b in PAIRS for name in COUPLING_NAMES]


def _window_mean(x: np.ndarray, half: int) -> np.ndarray:
    """Centred moving mean over ``2 * half + 1`` frames (shorter at the ends)."""
    n = len(x)
    cs = np.zeros(n + 1, dtype=x.dtype)
    np.cumsum(x, out=cs[1:])
    i = np.arange(n)
    a, b = np.maximum(i - half, 0), np.minimum(i + half + 1, n)
    return (cs[b] - cs[a]) / (b - a)


def active(energy: np.ndarray, beat_frames: float) -> np.ndarray:
    """Bool [n]: the stem's ``energy_smooth`` reached :data:`ACTIVE` within half a beat (so the
    gaps between drum hits do not count as silence)."""
    from scipy.ndimage import maximum_filter1d

    size = max(1, int(round(beat_frames)))
    return maximum_filter1d(np.asarray(energy, np.float64), size=size, mode="nearest") > ACTIVE


def phase(x: np.ndarray, detrend: int) -> np.ndarray:
    """Hilbert phase (rad, float64 [n]) of ``x`` minus its centred moving mean."""
    from scipy.signal import hilbert

    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(len(x))
    return np.angle(hilbert(x - _window_mean(x, detrend)))


def pair_coupling(
    energy_a: np.ndarray,
    energy_b: np.ndarray,
    transient_a: np.ndarray,
    transient_b: np.ndarray,
    bpm: float,
    rate: float = GRID_RATE,
) -> dict[str, np.ndarray]:
    """The coupling signals of one pair from their ``energy_smooth`` and ``transient``."""
    ea, eb = np.asarray(energy_a, np.float64), np.asarray(energy_b, np.float64)
    ta, tb = np.asarray(transient_a, np.float64), np.asarray(transient_b, np.float64)
    beat = 60.0 / max(bpm, 1.0) * rate
    half = max(1, int(round(WINDOW_BEATS * beat / 2)))
    m = lambda x: _window_mean(x, half)  # noqa: E731
    ma, mb = m(ea), m(eb)
    cov = m(ea * eb) - ma * mb
    va, vb = m(ea * ea) - ma * ma, m(eb * eb) - mb * mb
    ok = (va > 1e-6) & (vb > 1e-6)
    r = np.where(ok, cov / np.sqrt(np.maximum(va * vb, 1e-12)), 0.0)
    corr = (np.clip(r, -1.0, 1.0) + 1.0) / 2.0
    detrend = max(1, int(round(beat)))
    dphi = phase(ea, detrend) - phase(eb, detrend)
    plv = np.hypot(m(np.cos(dphi)), m(np.sin(dphi)))
    sab, saa, sbb = m(ta * tb), m(ta * ta), m(tb * tb)
    sync = np.where((saa > 1e-9) & (sbb > 1e-9), sab / np.sqrt(np.maximum(saa * sbb, 1e-18)), 0)
    act_a, act_b = active(ea, beat), active(eb, beat)
    both = m((act_a & act_b).astype(np.float64))
    lock = (0.40 * corr + 0.35 * plv + 0.25 * np.clip(sync, 0.0, 1.0)) * both
    call = m((act_a ^ act_b).astype(np.float64))
    out = {
        "correlation": corr,
        "plv": plv,
        "onset_sync": sync,
        "lock_index": lock,
        "call_response": call,
    }
    return {k: np.clip(v, 0.0, 1.0).astype(np.float32) for k, v in out.items()}


def coupling_signals(signals: dict[str, np.ndarray], bpm: float) -> dict[str, np.ndarray]:
    """Every pair's coupling signals from an Analysis's ``<stem>.energy_smooth`` and
    ``<stem>.transient`` signals."""
    out: dict[str, np.ndarray] = {}
    for a, b in PAIRS:
        pair = pair_coupling(
            signals[f"{a}.energy_smooth"],
            signals[f"{b}.energy_smooth"],
            signals[f"{a}.transient"],
            signals[f"{b}.transient"],
            bpm,
        )
        out.update({f"coupling.{a}_{b}.{k}": v for k, v in pair.items()})
    return out
