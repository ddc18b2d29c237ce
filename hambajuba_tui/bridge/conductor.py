"""The conductor: one call per frame turns (Analysis, Session, media time) into FrameParams.

Each routed block has a spring dancer pulled toward its stem's smoothed energy and kicked by
its transients; strength = route strength × spring position. θ comes from the beat walk.
The returned FrameParams is the same object every call, updated in place (no allocations).
"""

from __future__ import annotations

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.composition import BeatWalk
from hambajuba_tui.bridge.params import FrameParams, Session
from hambajuba_tui.bridge.physics import Spring
from hambajuba_tui.vocab import BLOCKS

KICK_GAIN = 14.0
"""Impulse per unit of transient rise: a full hit throws a drums spring to about +0.5."""

SEEK_JUMP_S = 0.5
"""A time step larger than this (or backwards) is a seek: springs settle at their target."""


class Conductor:
    def __init__(self, analysis: Analysis, session: Session) -> None:
        self.analysis = analysis
        self.params = FrameParams()
        self._last_t: float | None = None
        self.set_session(session)

    def set_session(self, session: Session) -> None:
        """Apply new routes / knobs; takes effect on the next step."""
        self.session = session
        self.walk = BeatWalk(self.analysis, session.distance)
        self._blocks = []
        for i, block in enumerate(BLOCKS):
            route = session.route_for(block)
            if route is None:
                self._blocks.append(None)
                self.params.strengths[i] = 0.0
                self.params.orb_activity[i] = 0.0
                continue
            energy = self._signal(route.source, "energy_smooth")
            transient = self._signal(route.source, "transient")
            spring = Spring.for_stem(route.source, self.analysis.bpm)
            self._blocks.append([route, spring, energy, transient, 0.0])
            self.params.feature_ids[i] = route.feature_id
        self._last_t = None

    def _signal(self, source: str, name: str) -> str | None:
        key = f"{source}.{name}"
        return key if key in self.analysis.signals else None

    def step(self, t: float) -> FrameParams:
        a, p = self.analysis, self.params
        seek = self._last_t is None or t < self._last_t or t - self._last_t > SEEK_JUMP_S
        dt = 0.0 if seek else t - self._last_t
        self._last_t = t
        for i, entry in enumerate(self._blocks):
            if entry is None:
                continue
            route, spring, energy_key, transient_key, last_hit = entry
            energy = a.sample(energy_key, t) if energy_key else 0.0
            hit = a.sample(transient_key, t) if transient_key else 0.0
            if seek:
                spring.reset(energy)
            elif hit > last_hit + 0.02:
                spring.kick(KICK_GAIN * (hit - last_hit))
            entry[4] = hit
            x = spring.step(energy, dt)
            p.strengths[i] = route.strength * x
            p.orb_activity[i] = min(1.0, max(energy, hit))
        p.t = t
        p.theta = self.walk.theta(t)
        p.beat_phase = a.beat_phase(t)[1]
        p.scene_t = a.sample("global.sustain", t) if "global.sustain" in a.signals else 0.0
        return p


def default_orb_stems(session: Session) -> list[str]:
    """The stem routed to each block (BLOCKS order), '' where none is."""
    return [(r.source if (r := session.route_for(b)) else "") for b in BLOCKS]


__all__ = ["Conductor", "default_orb_stems"]
