"""FrameParams: everything the engine needs for one frame.

Plain data whose numpy arrays the conductor updates in place, so the per-frame path allocates
nothing. (What the user edits is the Session, in ``bridge/session.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hambajuba_tui.vocab import BLOCKS, MASK_SIZE


@dataclass
class FrameParams:
    """Everything the engine needs for one frame.

    Arrays are indexed in ``BLOCKS`` order. ``strengths`` are in SAE units: 1.0 is the
    feature's typical (mean) activation, negative pushes the concept away.
    """

    t: float = 0.0
    """Media time (s) this frame belongs to."""
    strengths: np.ndarray = field(default_factory=lambda: np.zeros(len(BLOCKS), np.float32))
    masks: np.ndarray = field(
        default_factory=lambda: np.ones((len(BLOCKS), MASK_SIZE, MASK_SIZE), np.float32)
    )
    """float32 [4, 16, 16], weight of each block's steering per image region."""
    feature_ids: np.ndarray = field(default_factory=lambda: np.zeros(len(BLOCKS), np.int32))
    scene_t: float = 0.0
    """Blend between scene A (0) and scene B (1)."""
    theta: float = 0.0
    """Angle (rad) of the seed-noise walk: noise = cos θ · a + sin θ · b."""
    beat_phase: float = 0.0
    """Position inside the current beat, 0 at the beat, → 1 just before the next."""
    orb_activity: np.ndarray = field(default_factory=lambda: np.zeros(len(BLOCKS), np.float32))
    """float32 [4], 0..1 activity of the stem routed to each block."""
    mix_ids: np.ndarray = field(default_factory=lambda: np.zeros(len(BLOCKS), np.int32))
    mix_weights: np.ndarray = field(default_factory=lambda: np.zeros(len(BLOCKS), np.float32))
    """float32 [4]: each block steers toward (1 − w)·feature + w·mix feature."""
    prominence: np.ndarray = field(default_factory=lambda: np.zeros(len(BLOCKS), np.float32))
    """float32 [4], 0..1: how much each block's dancer stands out (already in strengths)."""


__all__ = ["BLOCKS", "FrameParams"]
