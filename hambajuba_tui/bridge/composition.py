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


def pulse_weight(percussive: float) -> float:
    """Mode auto's share of the beat walk (the rest drifts) for a percussive share 0..1."""
    return min(max((percussive - 0.05) / 0.20, 0.0), 1.0)


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
        self._setup(analysis, distance, mode, move)
        beats = analysis.beats
        if len(beats) and energy_signal in analysis.signals:
            energy = np.interp(beats, analysis.grid, analysis.signals[energy_signal])
        else:
            energy = np.ones(len(beats))
        self.steps = distance * 2.0 * math.pi * np.clip(energy, 0.0, 1.0)
        self.before = np.concatenate([[0.0], np.cumsum(self.steps)])
        """θ at the start of beat i is ``before[i]``."""
        # auto: a percussive share of 5 % (pads) drifts only; 25 % and up (a drum kit's share
        # of a mix's energy) walks on the beat alone.
        auto = pulse_weight(percussiveness(analysis))
        w = {"pulse": 1.0, "continuous": 0.0, "auto": auto}[mode]
        self.w_pulse, self.w_drift = w, 1.0 - w

    def _setup(self, analysis, distance: float, mode: str, move: float) -> None:
        """What every walk needs: the mode checked, the drift's source and gain."""
        if mode not in MODES:
            raise ValueError(f"composition mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.analysis = analysis
        self.move = move
        self._td_key = Sampler(analysis).key("tonal_distance", "value")
        self.drift_gain = DRIFT_MAX * (distance / 0.25)

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


STREAM_AUTO_EVERY_S = 2.0
"""How often a streaming walk re-judges how percussive the music is (mode ``auto``)."""
STREAM_AUTO_WINDOW_S = 10.0


class StreamBeatWalk(BeatWalk):
    """θ(t) over a streaming analysis, whose beats arrive as the music plays.

    Each beat's step is folded in when the walk first reaches it (its energy sampled then), so
    the walk needs no future; only the last few beats' θ are kept, so memory stays flat however
    long the music runs. Going back before them (a seek in a fast-passed file) refolds from the
    first beat the store still holds.
    """

    KEEP = 8

    def __init__(
        self,
        analysis,
        distance: float,
        mode: str = "pulse",
        move: float = 0.5,
        energy_signal: str = "global.energy_smooth",
    ) -> None:
        self._setup(analysis, distance, mode, move)
        self.mode = mode
        self.distance = distance
        self._energy = energy_signal if energy_signal in analysis.signals else None
        self._folded: dict[int, tuple[float, float]] = {}
        """beat index -> (θ at its start, its step), for the last few beats."""
        self._judged_at = -math.inf
        self.w_pulse, self.w_drift = (1.0, 0.0) if mode != "continuous" else (0.0, 1.0)

    def _step_of(self, i: int) -> float:
        a = self.analysis
        t = a.beat_time(i)
        energy = a.sample(self._energy, t) if self._energy and math.isfinite(t) else 1.0
        return self.distance * 2.0 * math.pi * min(max(energy, 0.0), 1.0)

    def _fold(self, i: int) -> tuple[float, float]:
        folded = self._folded
        if i in folded:
            return folded[i]
        known = max(folded) if folded else None
        if known is None or i < known:  # the start, or back before what is kept: refold
            first = max(0, self.analysis.n_beats - self.analysis.store.beat_capacity)
            folded.clear()
            folded[first] = (0.0, self._step_of(first))
            known = first
        while known < i:
            before, step = folded[known]
            known += 1
            folded[known] = (before + step, self._step_of(known))
        for old in [k for k in folded if k < i - self.KEEP]:
            del folded[old]
        return folded[i]

    def _judge(self, t: float) -> None:
        """Mode auto: re-weigh pulse against drift from the last few seconds' energies."""
        if self.mode != "auto" or t - self._judged_at < STREAM_AUTO_EVERY_S:
            return
        self._judged_at = t
        a = self.analysis
        ts = np.linspace(max(0.0, t - STREAM_AUTO_WINDOW_S), t, 50)
        means = {}
        for s in ("bass", "drums", "vocals", "other"):
            key = f"{s}.envelope"
            if key in a.signals:
                means[s] = sum(a.sample(key, float(x)) for x in ts) / len(ts)
        total = sum(means.values())
        perc = means.get("drums", 0.0) / total if total > 0 else 1.0
        w = pulse_weight(perc)
        self.w_pulse, self.w_drift = w, 1.0 - w

    def pulse(self, t: float) -> float:
        i, phase = self.analysis.beat_phase(t)
        if i < 0:
            return 0.0
        before, step = self._fold(i)
        eased = ease_in_out_cubic(phase / self.move) if self.move > 0 else 1.0
        return float(before + step * eased)

    def theta(self, t: float) -> float:
        self._judge(t)
        return super().theta(t)


def make_walk(analysis, distance: float, mode: str = "pulse") -> BeatWalk:
    """The walk for an offline Analysis, or for a streaming one (beats still arriving)."""
    if getattr(analysis, "streaming", False):
        return StreamBeatWalk(analysis, distance, mode)
    return BeatWalk(analysis, distance, mode)
