"""FrameParams (what the engine needs for one frame) and Session (what the user edits).

Both are plain data. FrameParams carries numpy arrays that the conductor updates in place,
so the per-frame path allocates nothing; Session travels over the control pipe (picklable).
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


@dataclass(frozen=True)
class Route:
    """A signal source driving one block with one feature."""

    block: str
    source: str
    """A stem name (``bass``, ``drums``, …) or a derived source."""
    feature_id: int
    strength: float = 8.0
    """Strength at full excitation of the spring, in SAE units."""


@dataclass(frozen=True)
class Session:
    """What the user has set: routes per block and the composition distance."""

    routes: tuple[Route, ...]
    distance: float = 0.15
    """Fraction of the full noise circle walked per beat at full energy (0 = still)."""
    seed: int = 0

    def route_for(self, block: str) -> Route | None:
        return next((r for r in self.routes if r.block == block), None)

    def with_routes(self, routes: tuple[Route, ...]) -> Session:
        return Session(routes=routes, distance=self.distance, seed=self.seed)


__all__ = ["BLOCKS", "FrameParams", "Route", "Session"]
