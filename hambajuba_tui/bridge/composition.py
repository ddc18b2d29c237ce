"""The composition: the seed noise walks a circle, ``noise(θ) = cos θ · a + sin θ · b``.

Two motions, blended by how percussive the music is (mode ``auto``), or either alone:
- *pulse*: on every beat θ advances by ``distance · 2π · beat energy``; inside the beat the
  move follows a cubic ease-in-out over the first ``move`` fraction and then holds, so the
  image steps on the beat like a dancer and rests between;
- *continuous*: θ leans away from home by up to π/2 (scaled by distance / 0.25) as the
  harmony moves away from the song's key (tonal distance), and comes back as it returns, so
  sustained music moves the picture without a beat.
θ is a pure function of time (per-beat steps and the drift are summed once), so seeking
anywhere gives the same picture.
"""

from __future__ import annotations

import math

import numpy as np

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.sampler import Sampler

MODES = ("auto", "pulse", "continuous")
DRIFT_MAX = math.pi / 2
"""θ offset at full tonal distance and distance 0.25."""


def ease_in_out_cubic(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return 4.0 * x**3 if x < 0.5 else 1.0 - (-2.0 * x + 2.0) ** 3 / 2.0


def percussiveness(analysis: Analysis) -> float:
    """0..1: the drums' share of the energy (or the classification's, when the Analysis has it)."""
    cls = getattr(analysis, "classification", None) or {}
    if "global" in cls and "percussive" in cls["global"]:
        return float(min(max(cls["global"]["percussive"], 0.0), 1.0))
    means = {
        s: float(np.mean(analysis.signals[f"{s}.envelope"]))
        for s in ("bass", "drums", "vocals", "other")
        if f"{s}.envelope" in analysis.signals
    }
    total = sum(means.values())
    return means.get("drums", 0.0) / total if total > 0 else 1.0


class BeatWalk:
    """θ(t) for one Analysis, distance knob and mode."""

    def __init__(
        self,
        analysis: Analysis,
        distance: float,
        mode: str = "pulse",
        move: float = 0.5,
        energy_signal: str = "global.energy_smooth",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"composition mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.analysis = analysis
        self.move = move
        beats = analysis.beats
        if len(beats) and energy_signal in analysis.signals:
            energy = np.interp(beats, analysis.grid, analysis.signals[energy_signal])
        else:
            energy = np.ones(len(beats))
        self.steps = distance * 2.0 * math.pi * np.clip(energy, 0.0, 1.0)
        self.before = np.concatenate([[0.0], np.cumsum(self.steps)])
        """θ at the start of beat i is ``before[i]``."""
        self._td_key = Sampler(analysis).key("tonal_distance", "value")
        self.drift_gain = DRIFT_MAX * (distance / 0.25)
        # auto: a percussive share of 5 % (pads) drifts only; 25 % and up (a drum kit's share
        # of a mix's energy) walks on the beat alone.
        auto = min(max((percussiveness(analysis) - 0.05) / 0.20, 0.0), 1.0)
        w = {"pulse": 1.0, "continuous": 0.0, "auto": auto}[mode]
        self.w_pulse, self.w_drift = w, 1.0 - w

    def pulse(self, t: float) -> float:
        if len(self.steps) == 0:
            return 0.0
        i, phase = self.analysis.beat_phase(t)
        if i < 0:
            return 0.0
        eased = ease_in_out_cubic(phase / self.move) if self.move > 0 else 1.0
        return float(self.before[i] + self.steps[i] * eased)

    def drift_at(self, t: float) -> float:
        if self._td_key is None:
            return 0.0
        return self.drift_gain * min(max(self.analysis.sample(self._td_key, t), 0.0), 1.0)

    def theta(self, t: float) -> float:
        theta = self.w_pulse * self.pulse(t) if self.w_pulse else 0.0
        if self.w_drift:
            theta += self.w_drift * self.drift_at(t)
        return theta
