"""The dance model of one block: where on the stage the dancer stands, and how far it goes.

The stage has bounds left / home / right in SAE strength units (default −30 / 0 / +30; any may
be negative). A *position* source (pitch, chroma, brightness, tension; 0..1) picks the spot
``position = left + p · (right − left)``; the *intensity* (the physics-driven motion of an
energy-like source, 0..1) says how far from home the strength goes:
``strength = home + intensity · (position − home)``. On silence the block either holds its
last strength or drifts home with τ = 1.5 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

POSITION_SOURCES = ("pitch", "chroma", "brightness", "tension")
INTENSITY_SOURCES = ("energy_smooth", "transient", "flux", "envelope")
SILENCE_MODES = ("hold", "home")

DRIFT_HOME_TAU_S = 1.5
SILENCE_LEVEL = 0.02
"""An intensity source below this is silence."""


@dataclass(frozen=True)
class Stage:
    left: float = -30.0
    home: float = 0.0
    right: float = 30.0

    def position(self, p: float) -> float:
        return self.left + min(max(p, 0.0), 1.0) * (self.right - self.left)

    def strength(self, p: float, intensity: float) -> float:
        """``home + intensity · (position(p) − home)``; intensity may overshoot 1 on a kick."""
        return self.home + intensity * (self.position(p) - self.home)

    def flipped(self) -> Stage:
        """The same dance pushing the concept the other way (negative strength)."""
        return Stage(-self.left, -self.home, -self.right)


class DanceState:
    """Per-block state for the silence behaviour."""

    def __init__(self, stage: Stage, silence: str = "home") -> None:
        if silence not in SILENCE_MODES:
            raise ValueError(f"silence must be one of {', '.join(SILENCE_MODES)}, got {silence!r}")
        self.stage, self.silence = stage, silence
        self.value = stage.home

    def reset(self) -> None:
        self.value = self.stage.home

    def step(self, p: float, intensity: float, source_level: float, dt: float) -> float:
        """Strength for this frame; ``source_level`` is the raw intensity source (for silence)."""
        if source_level >= SILENCE_LEVEL:
            self.value = self.stage.strength(p, intensity)
        elif self.silence == "home":
            self.value += (1.0 - math.exp(-max(dt, 0.0) / DRIFT_HOME_TAU_S)) * (
                self.stage.home - self.value
            )
        return self.value
