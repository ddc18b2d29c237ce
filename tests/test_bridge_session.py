import dataclasses

import numpy as np
import pytest

from hambajuba_tui.bridge import session as S
from hambajuba_tui.bridge.composition import BeatWalk
from hambajuba_tui.bridge.conductor import Conductor
from hambajuba_tui.bridge.dance import Stage
from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.vocab import BLOCKS


def _rich_session() -> S.Session:
    grid = tuple(tuple(float((r + c) % 2) for c in range(16)) for r in range(16))
    s = load_pack().session()
    s = s.with_block(
        "mid.0",
        mask="painted",
        painted=grid,
        rank="support",
        stage=Stage(-12.5, 2.0, 20.0),
        position_source="brightness",
        mix_feature=42,
        mix=0.3,
        silence="hold",
    )
    s = s.with_block("up.0.1", mask="pitch", intensity_source="flux", rank="auto")
    return dataclasses.replace(
        s,
        scenes=S.SceneSettings(prompt_a="a", prompt_b="b", mode="linked", depth=0.7),
        composition=S.CompositionSettings(distance=0.4, mode="continuous"),
        seed=7,
    )


def test_a_session_survives_a_round_trip_through_toml(tmp_path):
    session = _rich_session()
    path = tmp_path / "perf" / "song.toml"
    S.save(session, path)
    assert S.load(path) == session
    assert "painted" in path.read_text() and not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    "text, words",
    [
        ('[blocks."mid.0"]\nrank = "star"\n', '[blocks."mid.0"] rank'),
        ('[blocks."mid.0"]\nfeature = 9999\n', "feature id"),
        ('[blocks."up.9"]\nfeature = 1\n', "blocks: expected one of"),
        ('[blocks."mid.0"]\ncolour = 1\n', "unknown key 'colour'"),
        ('[blocks."mid.0".stage]\nleft = "far"\n', "stage.left"),
        ('[composition]\nmode = "spin"\n', "[composition] mode"),
        ("[scenes]\nslider = 2.0\n", "[scenes] slider"),
        ('[blocks."mid.0"]\nmask = "painted"\n', "painted"),
        ("version = 99\n", "version"),
        ("blocks = [\n", "song.toml"),
    ],
)
def test_bad_session_files_say_what_and_fall_back_to_defaults(tmp_path, text, words):
    path = tmp_path / "song.toml"
    path.write_text(text)
    with pytest.raises(S.SessionError, match="song.toml") as err:
        S.load(path)
    assert words in str(err.value)
    default = load_pack().session()
    session, problem = S.load_or_default(path, default)
    assert session == default and "using the default setup" in problem
    assert S.load_or_default(tmp_path / "absent.toml", default) == (default, None)


def test_validation_refuses_bad_values_in_code_too():
    with pytest.raises(S.SessionError, match="source"):
        S.Session().with_block("mid.0", source="kazoo")
    with pytest.raises(S.SessionError, match="mix"):
        S.Session().with_block("mid.0", mix=1.5)
    with pytest.raises(S.SessionError, match="blocks"):
        S.Session(blocks=(S.BlockSettings(),))


def test_same_analysis_session_and_clock_give_identical_frame_params(analysis):
    session = _rich_session()
    times = np.concatenate([np.arange(0, 4, 1 / 30), np.arange(8, 9, 1 / 24)])
    runs = []
    for _ in range(2):
        c = Conductor(analysis, session)
        rows = []
        for t in times:
            p = c.step(float(t))
            rows.append(
                np.concatenate(
                    [
                        p.strengths,
                        p.masks.ravel(),
                        p.feature_ids,
                        p.mix_ids,
                        p.mix_weights,
                        p.orb_activity,
                        p.prominence,
                        [p.theta, p.scene_t, p.beat_phase],
                    ]
                )
            )
        runs.append(np.array(rows))
    np.testing.assert_array_equal(runs[0], runs[1])
    p = Conductor(analysis, session).step(1.0)
    i = BLOCKS.index("mid.0")
    assert p.mix_ids[i] == 42 and p.mix_weights[i] == pytest.approx(0.3)
    assert p.masks[i, 0, 1] == 1.0 and p.masks[i, 0, 0] == 0.0  # the painted checkerboard


def test_pitch_mask_and_composition_modes(analysis):
    c = Conductor(analysis, _rich_session())
    p = c.step(2.0)
    # The synthetic analysis has no pitch: the band sits at the neutral middle.
    com = (p.masks[BLOCKS.index("up.0.1")].sum(axis=1) * np.arange(16)).sum() / p.masks[
        BLOCKS.index("up.0.1")
    ].sum()
    assert 5.0 < com < 10.0
    pulse = BeatWalk(analysis, 0.25, "pulse")
    still = BeatWalk(analysis, 0.25, "continuous")  # no tonal distance signal: no drift
    assert pulse.theta(5.0) > 0 and still.theta(5.0) == 0.0
    auto = BeatWalk(analysis, 0.25, "auto")
    assert 0.0 < auto.w_pulse <= 1.0
    assert auto.theta(5.0) == pytest.approx(auto.w_pulse * pulse.theta(5.0))
    with pytest.raises(ValueError, match="composition mode"):
        BeatWalk(analysis, 0.25, "spin")


def test_continuous_composition_leans_with_tonal_distance_and_comes_back(analysis):
    n = analysis.n_hops
    td = np.zeros(n, np.float32)
    td[300:600] = 1.0  # 3 s .. 6 s away from home key
    analysis.signals["tonal_distance.value"] = td
    walk = BeatWalk(analysis, 0.25, "continuous")
    assert walk.theta(1.0) == 0.0
    assert walk.theta(4.5) == pytest.approx(np.pi / 2)
    assert walk.theta(8.0) == 0.0
    assert BeatWalk(analysis, 0.0, "continuous").theta(4.5) == 0.0


def test_a_partial_performance_keeps_the_defaults_for_what_it_leaves_out(tmp_path):
    default = load_pack().session()
    path = tmp_path / "song.toml"
    path.write_text(
        '[blocks."mid.0"]\nsource = "drums"\nfeature = 29\n[blocks."mid.0".stage]\n'
        'right = 12.0\n[composition]\nmode = "pulse"\n'
    )
    session, problem = S.load_or_default(path, default)
    assert problem is None
    mid = session.block("mid.0")
    assert (mid.source, mid.feature, mid.stage.right) == ("drums", 29, 12.0)
    assert mid.stage.left == default.block("mid.0").stage.left
    for name in ("down.2.1", "up.0.0", "up.0.1"):
        assert session.block(name) == default.block(name)
    assert session.composition.mode == "pulse"
    assert session.composition.distance == default.composition.distance
    assert session.scenes == default.scenes
