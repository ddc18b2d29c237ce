"""The handover: from one analysis to another without a visible jump.

When the full offline analysis of a song is ready while it already plays on the streaming
analysis, the worker conducts with both for about a second and cross-fades their frame params
(strengths, masks, scene blend, θ) by media time; then the new conductor goes on alone.
"""

from __future__ import annotations

import numpy as np

from hambajuba_tui.bridge.conductor import Conductor
from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.bridge.session import Session

HANDOVER_S = 1.0
"""Media seconds over which the old conductor's params fade into the new one's."""


class Handover:
    """Steps ``old`` and ``new`` together and blends their params; ``done`` after the fade."""

    def __init__(self, old: Conductor, new: Conductor, seconds: float = HANDOVER_S) -> None:
        self.old, self.new = old, new
        self.seconds = seconds
        self.params = FrameParams()
        self._t0: float | None = None
        self.weight = 0.0
        """How far the fade has gone: 0 (all old) .. 1 (all new)."""

    @property
    def done(self) -> bool:
        return self.weight >= 1.0

    @property
    def session(self) -> Session:
        return self.new.session

    def set_session(self, session: Session) -> None:
        self.old.set_session(session)
        self.new.set_session(session)

    def step(self, t: float) -> FrameParams:
        b = self.new.step(t)
        if self._t0 is None:
            self._t0 = t
        if t < self._t0:  # a seek back: no old picture to fade from
            self.weight = 1.0
        else:
            self.weight = min(1.0, (t - self._t0) / self.seconds) if self.seconds > 0 else 1.0
        if self.done:
            return b
        a, w, p = self.old.step(t), self.weight, self.params
        for name in ("strengths", "masks", "orb_activity", "prominence", "mix_weights"):
            out = getattr(p, name)
            np.subtract(getattr(b, name), getattr(a, name), out=out)
            out *= w
            out += getattr(a, name)
        p.feature_ids[:] = b.feature_ids
        p.mix_ids[:] = b.mix_ids
        p.t = t
        p.scene_t = a.scene_t + w * (b.scene_t - a.scene_t)
        p.theta = a.theta + w * (b.theta - a.theta)
        p.beat_phase = b.beat_phase if w >= 0.5 else a.beat_phase
        return p
