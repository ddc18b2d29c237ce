"""The composition: the seed noise walks a circle, ``noise(θ) = cos θ · a + sin θ · b``.

θ advances on every beat by ``distance · 2π · beat energy``; inside a beat the move follows a
cubic ease-in-out over the first ``move`` fraction of the beat and then holds, so the image
steps on the beat like a dancer and rests between. θ is a pure function of time (the per-beat
steps are summed once), so seeking anywhere gives the same picture.
"""

from __future__ import annotations

import math

import numpy as np

from hambajuba_tui.audio.analysis import Analysis


def ease_in_out_cubic(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return 4.0 * x**3 if x < 0.5 else 1.0 - (-2.0 * x + 2.0) ** 3 / 2.0


class BeatWalk:
    """θ(t) for one Analysis and one distance knob."""

    def __init__(self, analysis: Analysis, distance: float, move: float = 0.5,
                 energy_signal: str = "global.energy_smooth") -> None:
        self.analysis = analysis
        self.move = move
        beats = analysis.beats
        if len(beats) and energy_signal in analysis.signals:
            grid = analysis.grid
            energy = np.interp(beats, grid, analysis.signals[energy_signal]).astype(np.float64)
        else:
            energy = np.ones(len(beats))
        self.steps = distance * 2.0 * math.pi * np.clip(energy, 0.0, 1.0)
        self.before = np.concatenate([[0.0], np.cumsum(self.steps)])
        """θ at the start of beat i is ``before[i]``."""

    def theta(self, t: float) -> float:
        if len(self.steps) == 0:
            return 0.0
        i, phase = self.analysis.beat_phase(t)
        if i < 0:
            return 0.0
        eased = ease_in_out_cubic(phase / self.move) if self.move > 0 else 1.0
        return float(self.before[i] + self.steps[i] * eased)
