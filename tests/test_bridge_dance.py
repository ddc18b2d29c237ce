import pytest

from hambajuba_tui.bridge.dance import DanceState, Stage
from hambajuba_tui.bridge.prominence import RANKS, Surprise, gate, prominence


def test_stage_maps_position_and_intensity_to_strength():
    stage = Stage(-30, 0, 30)
    assert stage.position(0.0) == -30 and stage.position(0.5) == 0 and stage.position(1) == 30
    assert stage.strength(1.0, 0.5) == 15.0
    assert stage.strength(0.0, 1.0) == -30.0
    assert stage.strength(1.0, 0.0) == 0.0  # no intensity: home
    odd = Stage(left=-5, home=-10, right=-40)  # all negative: push a concept away
    assert odd.strength(1.0, 1.0) == -40 and odd.strength(0.3, 0.0) == -10


def test_silence_holds_or_drifts_home():
    hold = DanceState(Stage(), "hold")
    home = DanceState(Stage(), "home")
    for s in (hold, home):
        s.step(1.0, 0.8, source_level=0.8, dt=1 / 30)
    assert hold.value == home.value == 24.0
    for _ in range(45):  # 1.5 s of silence = one time constant
        hold.step(1.0, 0.0, source_level=0.0, dt=1 / 30)
        home.step(1.0, 0.0, source_level=0.0, dt=1 / 30)
    assert hold.value == 24.0
    assert home.value == pytest.approx(24.0 / 2.718281828, rel=0.01)
    with pytest.raises(ValueError, match="silence"):
        DanceState(Stage(), "sleep")


def test_prominence_ranks_gate_boosts_and_surprise():
    args = dict(novelty=0.0, coupling=0.0, call_response=0.5, energy_db=0.0)
    order = [prominence(r, **args) for r in RANKS]
    assert order == sorted(order, reverse=True) and order[0] == 1.0
    assert prominence("support", **args) == pytest.approx(0.65)
    assert prominence("support", **{**args, "novelty": 0.3}) > prominence("support", **args)
    assert prominence("background", **{**args, "coupling": 0.5}) == pytest.approx(0.6)
    assert prominence("lead", **{**args, "energy_db": -40.0}) == 0.0
    assert gate(-20.0) == 0.5 and gate(-80.0) == 0.0 and gate(3.0) == 1.0
    quiet_auto = prominence("auto", **args)
    s = Surprise()
    assert prominence("auto", **args, surprise=s.step(1 / 30, entered=True)) == pytest.approx(
        quiet_auto + 0.7
    )
    for _ in range(60):
        s.step(1 / 30, entered=False)
    assert s.value == pytest.approx(0.7 * 2.718281828**-1, rel=0.01)
    with pytest.raises(ValueError, match="rank"):
        prominence("star", **args)
