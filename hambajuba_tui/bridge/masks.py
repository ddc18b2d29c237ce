"""Masks: 16×16 weight grids that say where on the image a block's steering lands.

Row 0 is the top of the image. Presets are smooth (a hard edge in a 16×16 grid at the UNet's
16×16 tokens shows as a seam); painted masks are the user's own grid; the pitch-aligned mask is
a horizontal Gaussian band whose height follows pitch — low notes at the bottom.
"""

from __future__ import annotations

import numpy as np

from hambajuba_tui.vocab import MASK_SIZE

PRESETS = ("fill", "clear", "floor", "ceiling", "center")

PITCH_BANDS = 12
"""The pitch-aligned mask moves between 12 band centres (one per semitone of an octave)."""
PITCH_SPREAD = 0.25
"""Width (σ, as a fraction of the image height) of the pitch-aligned band."""

_ROWS = (np.arange(MASK_SIZE, dtype=np.float32) + 0.5) / MASK_SIZE
"""Row centres, 0 at the top edge, 1 at the bottom edge."""


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def preset(name: str) -> np.ndarray:
    """float32 [16, 16] for a preset name (see PRESETS)."""
    if name == "fill":
        return np.ones((MASK_SIZE, MASK_SIZE), np.float32)
    if name == "clear":
        return np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    if name in ("floor", "ceiling"):
        # Full weight in the lower (upper) third, fading out by the middle.
        rows = _ROWS if name == "floor" else 1.0 - _ROWS
        column = _smoothstep((rows - 0.4) / 0.27)
        return np.repeat(column[:, None], MASK_SIZE, axis=1).astype(np.float32)
    if name == "center":
        d2 = (_ROWS[:, None] - 0.5) ** 2 + (_ROWS[None, :] - 0.5) ** 2
        return np.exp(-d2 / (2 * 0.2**2)).astype(np.float32)
    raise ValueError(f"unknown mask preset {name!r}; choose from {', '.join(PRESETS)}")


def painted(cells: np.ndarray) -> np.ndarray:
    """A user-painted grid (any numeric [16, 16]), clipped to 0..1."""
    grid = np.asarray(cells, dtype=np.float32)
    if grid.shape != (MASK_SIZE, MASK_SIZE):
        raise ValueError(f"a painted mask is {MASK_SIZE}×{MASK_SIZE}, got {grid.shape}")
    return np.clip(np.nan_to_num(grid), 0.0, 1.0)


def pitch_band_centre(pitch_norm: float) -> float:
    """Vertical centre (0 top .. 1 bottom) of the band for a pitch on 0 (low) .. 1 (high)."""
    p = min(max(pitch_norm, 0.0), 1.0)
    # Snap to one of PITCH_BANDS centres, spread over the image, low pitch at the bottom.
    band = min(int(p * PITCH_BANDS), PITCH_BANDS - 1)
    return 1.0 - (band + 0.5) / PITCH_BANDS


def pitch_aligned(pitch_norm: float, out: np.ndarray | None = None) -> np.ndarray:
    """float32 [16, 16]: a horizontal Gaussian band at the pitch's height (writes into out)."""
    centre = pitch_band_centre(pitch_norm)
    column = np.exp(-((_ROWS - centre) ** 2) / (2 * PITCH_SPREAD**2))
    if out is None:
        out = np.empty((MASK_SIZE, MASK_SIZE), np.float32)
    out[:] = column[:, None]
    return out


def centre_of_mass_row(mask: np.ndarray) -> float:
    """Weighted mean row position (0 top .. 1 bottom); 0.5 for an empty mask."""
    total = float(mask.sum())
    if total <= 0:
        return 0.5
    return float((mask.sum(axis=1) * _ROWS).sum() / total)
