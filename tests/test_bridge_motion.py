import numpy as np
import pytest

from hambajuba_tui.bridge.dancer import Dancer, normalise_weights
from hambajuba_tui.bridge.motion import CoupledOscillators, NoiseDrift, PitchFollower

DT = 1 / 30


def _run(step, seconds: float) -> np.ndarray:
    return np.array([step() for _ in range(int(seconds / DT))])


def test_a_held_note_keeps_the_sustained_models_moving_while_a_spring_settles():
    osc, drift = CoupledOscillators(), NoiseDrift()
    spring_only = Dancer("other", 120.0, {"spring": 1.0})
    o = _run(lambda: osc.step(0.8, DT), 20.0)[-300:]
    d = _run(lambda: drift.step(0.8, DT), 20.0)[-300:]
    s = _run(lambda: spring_only.step(0.8, DT), 20.0)[-300:]
    assert o.std() > 0.15 and d.std() > 0.1
    assert s.std() < 1e-6 and s[-1] == pytest.approx(0.8, abs=1e-3)
    # The oscillators never repeat a window: the last 5 s differ from the 5 s before.
    assert np.abs(o[-150:] - o[-300:-150]).mean() > 0.05


def test_a_silent_stem_decays_to_home():
    for weights in (
        {"spring": 1},
        {"pitch_follow": 1},
        {"oscillator": 1},
        {"drift": 1},
        {"spring": 1, "oscillator": 1, "drift": 1, "pitch_follow": 1},
    ):
        dancer = Dancer("vocals", 120.0, weights)
        _run(lambda d=dancer: d.step(0.9, DT, 0.8, 1.0), 5.0)
        tail = _run(lambda d=dancer: d.step(0.0, DT, 0.8, 0.0), 8.0)[-30:]
        assert np.abs(tail).max() < 0.02, weights


def test_pitch_follower_follows_voiced_pitch_and_holds_through_unvoiced_frames():
    pf = PitchFollower()
    _run(lambda: pf.step(0.9, 1.0, 1.0, DT), 4.0)
    high = pf.step(0.9, 1.0, 1.0, DT)
    held = _run(lambda: pf.step(0.1, 0.0, 1.0, DT), 2.0)  # unvoiced: pitch is noise
    assert np.allclose(held, high, atol=0.02)
    low = _run(lambda: pf.step(0.1, 1.0, 1.0, DT), 4.0)[-1]
    assert low < -0.5 < 0.5 < high


def test_drum_hits_kick_the_sustained_models():
    for weights in ({"oscillator": 1}, {"drift": 1}, {"pitch_follow": 1}, {"spring": 1}):
        calm, kicked = Dancer("drums", 120, weights), Dancer("drums", 120, weights)
        for d in (calm, kicked):
            _run(lambda d=d: d.step(0.6, DT, 0.5, 1.0), 3.0)
        kicked.kick(10.0)
        a = _run(lambda d=calm: d.step(0.6, DT, 0.5, 1.0), 0.5)
        b = _run(lambda d=kicked: d.step(0.6, DT, 0.5, 1.0), 0.5)
        assert np.abs(a - b).max() > 0.05, weights


def test_blend_weights_normalise_and_default_to_the_spring():
    assert normalise_weights(None) == {
        "spring": 1.0,
        "pitch_follow": 0.0,
        "oscillator": 0.0,
        "drift": 0.0,
    }
    assert normalise_weights({"spring": 0, "drift": 0}) == normalise_weights(None)
    w = normalise_weights({"oscillator": 3, "drift": 1, "bogus": 9})
    assert w["oscillator"] == 0.75 and w["drift"] == 0.25 and sum(w.values()) == 1.0
