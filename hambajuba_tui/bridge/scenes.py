"""Scenes: two prompts A and B blended by ``scene_t`` with spherical interpolation.

``slerp`` is the numpy reference (the engine does the same in torch on prompt and pooled
embeddings with the same t). ``SceneBlend`` turns a mode and the music into a slew-limited
``scene_t``: *slider* (the user's value), *reactive* (energy pushes toward B), *linked* (a
signal such as tension drives t). Loading a new scene freezes the current blend as the new A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("slider", "reactive", "linked")


def slerp(a: np.ndarray, b: np.ndarray, t: float, eps: float = 1e-6) -> np.ndarray:
    """Spherical interpolation of directions with linear interpolation of norms.

    Exact at t = 0 and t = 1; equal-norm inputs keep their norm all the way; nearly parallel
    inputs fall back to linear interpolation.
    """
    if t <= 0.0:
        return np.array(a, copy=True)
    if t >= 1.0:
        return np.array(b, copy=True)
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na < eps or nb < eps:
        return ((1 - t) * a64 + t * b64).reshape(np.shape(a)).astype(np.asarray(a).dtype)
    ua, ub = a64 / na, b64 / nb
    cos = float(np.clip(ua @ ub, -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-4:
        direction = (1 - t) * ua + t * ub
        direction /= np.linalg.norm(direction)
    else:
        s = np.sin(omega)
        direction = (np.sin((1 - t) * omega) / s) * ua + (np.sin(t * omega) / s) * ub
    out = direction * ((1 - t) * na + t * nb)
    return out.reshape(np.shape(a)).astype(np.asarray(a).dtype)


@dataclass
class SceneBlend:
    """Slew-limited blend control. ``step`` is called once per frame."""

    mode: str = "slider"
    slider: float = 0.0
    """The user's blend in slider mode, 0 (A) .. 1 (B)."""
    depth: float = 1.0
    """How far reactive / linked modes may push toward B."""
    slew_per_s: float = 0.8
    """Largest change of t per second: the scene breathes, it does not flicker."""
    t: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown scene mode {self.mode!r}; choose from {', '.join(MODES)}")

    def target(self, energy: float, linked: float) -> float:
        if self.mode == "slider":
            return self.slider
        drive = energy if self.mode == "reactive" else linked
        return self.depth * min(max(drive, 0.0), 1.0)

    def step(self, dt: float, energy: float = 0.0, linked: float = 0.0) -> float:
        target = min(max(self.target(energy, linked), 0.0), 1.0)
        limit = self.slew_per_s * max(dt, 0.0)
        self.t += min(max(target - self.t, -limit), limit)
        return self.t

    def load_scene(
        self, a: np.ndarray, b: np.ndarray, new_b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Freeze what is on screen as the new A, make ``new_b`` the new B, restart at t = 0."""
        frozen = slerp(a, b, self.t)
        self.t = 0.0
        if self.mode == "slider":
            self.slider = 0.0
        return frozen, np.array(new_b, copy=True)
