"""The conductor: one call per frame turns (Analysis, Session, media time) into FrameParams.

Per routed block: a Dancer (spring + sustained models, blended by the stem's classification)
is pulled toward the intensity source and kicked by transients; the dance model places that
motion on the block's stage; prominence scales it; the mask follows its mode. θ comes from
the composition walk, ``scene_t`` from the slew-limited scene blend. The returned FrameParams
is the same object every call, updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge import masks
from hambajuba_tui.bridge.composition import make_walk
from hambajuba_tui.bridge.dance import DanceState
from hambajuba_tui.bridge.dancer import Dancer
from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.bridge.prominence import Surprise, prominence
from hambajuba_tui.bridge.sampler import Sampler
from hambajuba_tui.bridge.scenes import SceneBlend
from hambajuba_tui.bridge.session import BlockSettings, Session

KICK_GAIN = 14.0
"""Impulse per unit of transient rise: a full hit throws a drums spring to about +0.5."""
DRUM_KICK_SHARE = 0.35
"""Share of a drum hit's impulse that jolts the other blocks' dancers."""

SEEK_JUMP_S = 0.5
"""A time step larger than this (or backwards) is a seek: dancers settle at their target."""


@dataclass
class _Rig:
    """What one routed block needs each frame: its settings, state and signal keys."""

    settings: BlockSettings
    dancer: Dancer
    dance: DanceState
    surprise: Surprise
    intensity: str | None
    energy: str | None
    transient: str | None
    position: str | None
    pitch: str | None
    pitch_conf: str | None
    energy_db: str | None
    novelty: str | None
    layer_entry: str | None
    lock_keys: list[str]
    call_keys: list[str]
    last_hit: float = 0.0
    last_entry: float = 0.0


class Conductor:
    def __init__(self, analysis: Analysis, session: Session) -> None:
        self.analysis = analysis
        self.sampler = Sampler(analysis)
        self.params = FrameParams()
        self._last_t: float | None = None
        self._rigs: list[_Rig | None] = []
        self._seed: int | None = None
        """The seed the current dancers were made with (None: no dancers yet)."""
        self._last_drum_hit = 0.0
        self.scene = SceneBlend()
        self.set_session(session)

    def set_session(self, session: Session) -> None:
        """Apply new settings; takes effect on the next step.

        A block whose source (and the seed) did not change keeps its dancer in motion, so
        turning a knob while the music plays does not make every dancer jump; only new
        dancers start settled, as after a seek.
        """
        a, p, key = self.analysis, self.params, self.sampler.key
        old_rigs, old_seed = self._rigs, self._seed
        fresh = False
        self.session = session
        self._seed = session.seed
        comp = session.composition
        self.walk = make_walk(a, comp.distance, comp.mode)
        sc = session.scenes
        self.scene = SceneBlend(sc.mode, sc.slider, sc.depth, sc.slew_per_s, t=self.scene.t)
        self._drum_hit_key = key("drums", "transient")
        self._scene_energy = key("global", "energy_smooth")
        self._scene_link = self.sampler.level_key(sc.link_source)
        classification = getattr(a, "classification", None) or {}
        self._rigs = []
        for i, b in enumerate(session.blocks):
            p.feature_ids[i] = b.feature
            p.mix_ids[i] = b.mix_feature if b.mix_feature is not None else b.feature
            p.mix_weights[i] = b.mix if b.mix_feature is not None else 0.0
            if b.mask == "painted":
                p.masks[i] = masks.painted(np.array(b.painted))
            elif b.mask != "pitch":
                p.masks[i] = masks.preset(b.mask)
            if b.source is None:
                self._rigs.append(None)
                p.strengths[i] = p.orb_activity[i] = p.prominence[i] = 0.0
                continue
            s = b.source
            prev = old_rigs[i] if i < len(old_rigs) else None
            if prev is not None and prev.settings.source == s and old_seed == session.seed:
                dancer, dance, surprise = prev.dancer, prev.dance, prev.surprise
                dance.stage, dance.silence = b.stage, b.silence
            else:
                dancer = Dancer(s, a.bpm, classification.get(s), seed=session.seed + i)
                dance, surprise = DanceState(b.stage, b.silence), Surprise()
                prev, fresh = None, True
            self._rigs.append(
                _Rig(
                    settings=b,
                    dancer=dancer,
                    dance=dance,
                    surprise=surprise,
                    intensity=key(s, b.intensity_source),
                    energy=key(s, "energy_smooth"),
                    transient=key(s, "transient"),
                    position=self.sampler.position_key(s, b.position_source),
                    pitch=key(s, "pitch_norm"),
                    pitch_conf=key(s, "pitch_conf"),
                    energy_db=key(s, "energy_db"),
                    novelty=key(s, "novelty_mid"),
                    layer_entry=key(s, "layer_entry"),
                    lock_keys=self.sampler.coupling_keys(s, "lock_index"),
                    call_keys=self.sampler.coupling_keys(s, "call_response"),
                    last_hit=prev.last_hit if prev else 0.0,
                    last_entry=prev.last_entry if prev else 0.0,
                )
            )
        if fresh:
            self._last_t = None

    def step(self, t: float) -> FrameParams:
        p, at = self.params, self.sampler.at
        seek = self._last_t is None or t < self._last_t or t - self._last_t > SEEK_JUMP_S
        dt = 0.0 if seek else t - self._last_t
        self._last_t = t
        drum_hit = at(self._drum_hit_key, t)
        drum_kick = drum_hit - self._last_drum_hit if drum_hit > self._last_drum_hit + 0.02 else 0.0
        self._last_drum_hit = drum_hit
        for i, rig in enumerate(self._rigs):
            if rig is None:
                continue
            b = rig.settings
            level = at(rig.intensity, t)
            hit = at(rig.transient, t)
            if seek:
                rig.dancer.reset(level)
                rig.dance.reset()
            elif hit > rig.last_hit + 0.02:
                rig.dancer.kick(KICK_GAIN * (hit - rig.last_hit))
            elif drum_kick and rig.transient != self._drum_hit_key:
                rig.dancer.kick(DRUM_KICK_SHARE * KICK_GAIN * drum_kick)
            rig.last_hit = hit
            pitch = at(rig.pitch, t, 0.5)
            motion = rig.dancer.step(level, dt, pitch, at(rig.pitch_conf, t))
            position = 1.0 if b.position_source == "fixed" else at(rig.position, t, 0.5)
            strength = rig.dance.step(position, motion, level, dt)
            entry = at(rig.layer_entry, t)
            surprise = rig.surprise.step(dt, b.rank == "auto" and entry > rig.last_entry + 0.2)
            rig.last_entry = entry
            # energy_db is stored as (dB + 40) / 40; no signal: the gate stays open.
            db = 40.0 * at(rig.energy_db, t) - 40.0 if rig.energy_db else 0.0
            coupling = self.sampler.mean_at(rig.lock_keys, t, 0.0)
            call = self.sampler.mean_at(rig.call_keys, t, 0.5)
            prom = prominence(b.rank, at(rig.novelty, t), coupling, call, db, surprise)
            p.prominence[i] = prom
            p.strengths[i] = strength * prom
            if b.mask == "pitch":
                masks.pitch_aligned(pitch, out=p.masks[i])
            p.orb_activity[i] = min(1.0, max(at(rig.energy, t), hit))
        p.t = t
        p.theta = self.walk.theta(t)
        p.beat_phase = self.analysis.beat_phase(t)[1]
        p.scene_t = self.scene.step(dt, at(self._scene_energy, t), at(self._scene_link, t))
        return p
