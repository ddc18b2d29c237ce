"""Mass-spring-damper dancers: ``F = -k (x - target) - c v``, semi-implicit Euler.

Presets are (mass, stiffness, damping) from DESIGN.md. Tempo scaling keeps the damping
ratio: ``k' = k·s``, ``c' = c·√s`` with ``s = bpm / 120`` — faster songs, snappier springs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SPRING_PRESETS: dict[str, tuple[float, float, float]] = {
    "kick": (1.0, 400.0, 18.0),
    "drums": (1.0, 350.0, 17.0),
    "drums_low": (1.2, 300.0, 19.0),
    "drums_high": (0.8, 500.0, 16.0),
    "bass": (1.5, 150.0, 25.5),
    "vocals": (1.0, 250.0, 22.0),
    "other": (1.0, 200.0, 18.0),
    "ambient": (2.0, 50.0, 25.0),
    "linear": (1.0, 2500.0, 100.0),
}

MAX_DT = 1.0 / 15.0
"""Longest step integrated at once (s): a stalled frame must not fling the spring."""


def preset_for(stem: str) -> tuple[float, float, float]:
    return SPRING_PRESETS.get(stem, SPRING_PRESETS["other"])


@dataclass
class Spring:
    mass: float
    stiffness: float
    damping: float
    x: float = 0.0
    v: float = 0.0

    @classmethod
    def for_stem(cls, stem: str, bpm: float = 120.0) -> Spring:
        m, k, c = preset_for(stem)
        s = min(max(bpm, 60.0), 180.0) / 120.0
        return cls(m, k * s, c * math.sqrt(s))

    @property
    def damping_ratio(self) -> float:
        return self.damping / (2.0 * math.sqrt(self.stiffness * self.mass))

    def kick(self, impulse: float) -> None:
        """A hit: an instant change of momentum."""
        self.v += impulse / self.mass

    def step(self, target: float, dt: float) -> float:
        dt = min(max(dt, 0.0), MAX_DT)
        # Sub-step so stiff presets (linear: k=2500) stay stable at low frame rates.
        n = max(1, math.ceil(dt * math.sqrt(self.stiffness / self.mass) / 0.5))
        h = dt / n
        for _ in range(n):
            force = -self.stiffness * (self.x - target) - self.damping * self.v
            self.v += force / self.mass * h
            self.x += self.v * h
        return self.x

    def reset(self, x: float = 0.0) -> None:
        self.x, self.v = x, 0.0
