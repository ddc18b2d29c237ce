"""Sustained motion models: they keep a dancer moving on held sounds, where a spring settles.

Each model maps the music to a displacement from home, roughly −1..1 (0 = home), and decays to
home when its stem falls silent. :class:`~hambajuba_tui.bridge.dancer.Dancer` blends the spring
and these three by the stem's classification.
"""

from __future__ import annotations

import math

import numpy as np
import opensimplex

from hambajuba_tui.bridge.physics import Spring

OSC_FREQS_HZ = (0.3, 0.47)
"""The two coupled oscillators: incommensurate, so their sum never repeats exactly."""
OSC_MAX_COUPLING = 1.5
"""Kuramoto coupling (rad/s) at full energy: loud passages pull the two into step."""
AMP_TAU_S = 0.6
"""Time constant of the sustained models' amplitude following energy (and decaying home)."""

DRIFT_TABLE = 4096
DRIFT_STEP = 0.02
"""Noise-table resolution in noise units; the table is built once (no per-frame noise calls)."""
DRIFT_SPEED = (0.15, 1.2)
"""Noise units per second walked at silence and at full energy."""


class _Amplitude:
    """One-pole follower of energy: the sustained models' size, 0 on silence."""

    def __init__(self) -> None:
        self.value = 0.0

    def step(self, energy: float, dt: float) -> float:
        self.value += (1.0 - math.exp(-dt / AMP_TAU_S)) * (min(max(energy, 0.0), 1.0) - self.value)
        return self.value


class PitchFollower:
    """Follows pitch (``pitch_norm`` 0..1 on a log 80–2000 Hz scale) with a critically damped
    spring; holds the last voiced pitch through unvoiced frames. Output −1..1 around mid-range."""

    def __init__(self, stiffness: float = 80.0) -> None:
        self.spring = Spring(1.0, stiffness, 2.0 * math.sqrt(stiffness))
        self.target = 0.5
        self.amp = _Amplitude()

    def kick(self, impulse: float) -> None:
        self.spring.kick(impulse)

    def step(self, pitch_norm: float, conf: float, energy: float, dt: float) -> float:
        if conf > 0.5:
            self.target = min(max(pitch_norm, 0.0), 1.0)
        x = self.spring.step(self.target, dt)
        return self.amp.step(energy, dt) * (2.0 * x - 1.0)


class CoupledOscillators:
    """Two phase oscillators at 0.3 and 0.47 Hz, coupled by energy; amplitude follows energy."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.phase = rng.uniform(0, 2 * math.pi, 2)
        self.amp = _Amplitude()

    def kick(self, impulse: float) -> None:
        self.phase += 0.5 * impulse  # a hit throws both forward

    def step(self, energy: float, dt: float) -> float:
        k = OSC_MAX_COUPLING * min(max(energy, 0.0), 1.0)
        p1, p2 = self.phase
        self.phase[0] = p1 + dt * (2 * math.pi * OSC_FREQS_HZ[0] + k * math.sin(p2 - p1))
        self.phase[1] = p2 + dt * (2 * math.pi * OSC_FREQS_HZ[1] + k * math.sin(p1 - p2))
        wave = 0.6 * math.sin(self.phase[0]) + 0.4 * math.sin(self.phase[1])
        return self.amp.step(energy, dt) * wave


class NoiseDrift:
    """Smooth OpenSimplex noise walked at a speed set by energy: wanders, never repeats soon."""

    def __init__(self, seed: int = 0) -> None:
        xs = np.arange(DRIFT_TABLE, dtype=np.float64) * DRIFT_STEP
        table = opensimplex.OpenSimplex(seed).noise2array(xs, np.zeros(1))[0]
        self.table = (table / max(np.abs(table).max(), 1e-6)).astype(np.float64)
        self.pos = 0.0
        self.amp = _Amplitude()

    def kick(self, impulse: float) -> None:
        self.pos += 0.2 * impulse

    def step(self, energy: float, dt: float) -> float:
        e = min(max(energy, 0.0), 1.0)
        self.pos += dt * (DRIFT_SPEED[0] + e * (DRIFT_SPEED[1] - DRIFT_SPEED[0]))
        i = self.pos / DRIFT_STEP
        i0 = int(i) % DRIFT_TABLE
        frac = i - int(i)
        value = self.table[i0] + frac * (self.table[(i0 + 1) % DRIFT_TABLE] - self.table[i0])
        return self.amp.step(e, dt) * float(value)
