"""The dancer of one routed block: the spring and the sustained motion models, blended.

The blend weights come from the stem's classification (``spring``, ``pitch_follow``,
``oscillator``, ``drift``: :data:`~hambajuba_tui.audio.classify.MODELS`); ``step`` returns the
displacement from home (roughly −1..1) that the dance model (:mod:`~hambajuba_tui.bridge.dance`)
places on the block's stage. A drum hit kicks every model it holds.
"""

from __future__ import annotations

from hambajuba_tui.audio.classify import MODELS
from hambajuba_tui.bridge.motion import CoupledOscillators, NoiseDrift, PitchFollower
from hambajuba_tui.bridge.physics import Spring


def normalise_weights(weights: dict[str, float] | None) -> dict[str, float]:
    """Blend weights over MODELS summing to 1; missing or all-zero weights mean spring only."""
    w = {m: max(float((weights or {}).get(m, 0.0)), 0.0) for m in MODELS}
    total = sum(w.values())
    if total <= 0:
        return {m: float(m == "spring") for m in MODELS}
    return {m: v / total for m, v in w.items()}


class Dancer:
    """The blend of the four models for one stem; ``step`` returns displacement from home."""

    def __init__(
        self, stem: str, bpm: float, weights: dict[str, float] | None = None, seed: int = 0
    ) -> None:
        self.weights = normalise_weights(weights)
        self.spring = Spring.for_stem(stem, bpm)
        self.pitch = PitchFollower()
        self.osc = CoupledOscillators(seed)
        self.drift = NoiseDrift(seed)

    def reset(self, level: float) -> None:
        """After a seek: settle at ``level`` as if it had been playing a while."""
        self.spring.reset(level)
        for model in (self.pitch, self.osc, self.drift):
            model.amp.value = min(max(level, 0.0), 1.0)

    def kick(self, impulse: float) -> None:
        """A drum hit: the spring jumps, and the sustained models are jolted too."""
        self.spring.kick(impulse)
        self.pitch.kick(0.5 * impulse)
        self.osc.kick(impulse)
        self.drift.kick(impulse)

    def step(
        self, energy: float, dt: float, pitch_norm: float = 0.5, pitch_conf: float = 0.0
    ) -> float:
        w = self.weights
        out = w["spring"] * self.spring.step(energy, dt)
        out += w["pitch_follow"] * self.pitch.step(pitch_norm, pitch_conf, energy, dt)
        out += w["oscillator"] * self.osc.step(energy, dt)
        out += w["drift"] * self.drift.step(energy, dt)
        return out
