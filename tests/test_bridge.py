import math

import numpy as np
import pytest

from hambajuba_tui.bridge.composition import BeatWalk, ease_in_out_cubic
from hambajuba_tui.bridge.conductor import Conductor
from hambajuba_tui.bridge.dance import Stage
from hambajuba_tui.bridge.physics import SPRING_PRESETS, Spring
from hambajuba_tui.bridge.session import BlockSettings, CompositionSettings, Session
from hambajuba_tui.vocab import BLOCKS


def _block(source: str, feature: int, strength: float) -> BlockSettings:
    return BlockSettings(source=source, feature=feature, stage=Stage(0.0, 0.0, strength))


def _session(distance: float = 0.25) -> Session:
    """BLOCKS order: down.2.1, mid.0, up.0.0, up.0.1."""
    return Session(
        blocks=(
            _block("bass", 1, 8.0),
            _block("other", 4, 6.0),
            _block("drums", 2, 10.0),
            _block("vocals", 3, 8.0),
        ),
        composition=CompositionSettings(distance=distance, mode="pulse"),
    )


@pytest.mark.parametrize("stem", ["kick", "drums", "bass", "vocals", "ambient"])
def test_tempo_scaling_keeps_the_damping_ratio(stem):
    m, k, c = SPRING_PRESETS[stem]
    base = c / (2 * math.sqrt(k * m))
    for bpm in (70.0, 120.0, 174.0):
        assert Spring.for_stem(stem, bpm).damping_ratio == pytest.approx(base, rel=1e-9)
    assert Spring.for_stem(stem, 174).stiffness > Spring.for_stem(stem, 70).stiffness


def test_spring_settles_on_its_target_and_a_kick_overshoots_and_returns():
    s = Spring.for_stem("drums")
    for _ in range(120):
        s.step(0.6, 1 / 60)
    assert s.x == pytest.approx(0.6, abs=1e-3)
    s.kick(10.0)
    peak = max(s.step(0.6, 1 / 60) for _ in range(10))
    assert peak > 0.8
    for _ in range(240):
        s.step(0.6, 1 / 60)
    assert s.x == pytest.approx(0.6, abs=1e-3)


def test_stiff_spring_is_stable_at_a_low_frame_rate():
    s = Spring.for_stem("linear")
    for _ in range(200):
        x = s.step(1.0, 1 / 10)
    assert abs(x - 1.0) < 1e-3


def test_beat_walk_steps_on_the_beat_and_rests_between(analysis):
    walk = BeatWalk(analysis, distance=0.25)
    period = 60.0 / analysis.bpm
    b = analysis.beats[4]
    start, mid_move, rest_a, rest_b = (walk.theta(b + f * period) for f in (0.0, 0.25, 0.6, 0.95))
    assert mid_move > start
    assert rest_a == pytest.approx(rest_b)
    assert rest_a - start == pytest.approx(walk.steps[4])
    # A full beat at full energy would be a quarter circle; energy scales it.
    assert 0 < walk.steps[4] <= 0.25 * 2 * math.pi
    assert BeatWalk(analysis, distance=0.0).theta(b + 0.3) == 0.0
    assert ease_in_out_cubic(0.0) == 0.0 and ease_in_out_cubic(1.0) == 1.0


def test_conductor_is_deterministic_and_drums_jump_on_beats(analysis):
    times = np.arange(0.0, 6.0, 1 / 30)
    runs = []
    for _ in range(2):
        c = Conductor(analysis, _session())
        runs.append(np.array([c.step(t).strengths.copy() for t in times]))
    np.testing.assert_array_equal(runs[0], runs[1])
    drums = runs[0][:, BLOCKS.index("up.0.0")]
    period = 60.0 / analysis.bpm
    phase = (times % period) / period
    motion = np.abs(np.diff(drums, prepend=drums[0]))
    on_beat = motion[(phase < 0.2) & (times > 1)].mean()
    between = motion[(phase > 0.5) & (times > 1)].mean()
    assert on_beat > 2 * between


def test_conductor_fills_params_in_place_and_follows_session(analysis):
    c = Conductor(analysis, _session())
    p = c.step(1.0)
    assert c.step(1.05) is p
    assert list(p.feature_ids) == [1, 4, 2, 3]  # BLOCKS order: down.2.1, mid.0, up.0.0, up.0.1
    assert p.masks.shape == (4, 16, 16)
    assert 0.0 <= p.beat_phase <= 1.0 and (p.orb_activity >= 0).all()
    c.set_session(Session().with_block("mid.0", source="drums", feature=77))
    p = c.step(1.1)
    assert p.feature_ids[BLOCKS.index("mid.0")] == 77
    assert p.strengths[BLOCKS.index("down.2.1")] == 0.0


def test_seek_settles_springs_instead_of_flinging_them(analysis):
    c = Conductor(analysis, _session())
    for t in np.arange(0, 2, 1 / 30):
        c.step(t)
    after_seek = c.step(9.0).strengths.copy()
    fresh = Conductor(analysis, _session()).step(9.0).strengths
    np.testing.assert_allclose(after_seek, fresh)


def test_drum_hits_jolt_the_other_dancers_too(analysis):
    """Vocals steady at one level: its block still moves on the drum hits."""
    steady = analysis.signals["vocals.energy_smooth"].copy()
    steady[:] = 0.7
    analysis.signals["vocals.energy_smooth"] = steady
    session = _session()
    idx = BLOCKS.index("up.0.1")  # vocals
    c = Conductor(analysis, session)
    times = np.arange(0.0, 6.0, 1 / 60)
    vocals = np.array([c.step(t).strengths[idx] for t in times])
    late = times > 2.0
    assert vocals[late].std() > 0.05  # without drum kicks a spring at a steady level is still
    silent = analysis.signals["drums.transient"].copy()
    analysis.signals["drums.transient"] = np.zeros_like(silent)
    c = Conductor(analysis, session)
    calm = np.array([c.step(t).strengths[idx] for t in times])
    assert calm[late].std() < 1e-3


def test_prominence_reads_level_coupling_and_call_response(analysis):
    n = analysis.n_hops
    sig = analysis.signals
    sig["bass.energy_db"] = np.full(n, 0.5, np.float32)  # (dB + 40) / 40: −20 dB, gate 0.5
    sig["coupling.bass_drums.lock_index"] = np.full(n, 0.8, np.float32)
    sig["coupling.bass_other.lock_index"] = np.full(n, 0.4, np.float32)
    sig["coupling.bass_drums.call_response"] = np.full(n, 1.0, np.float32)
    session = _session().with_block("down.2.1", rank="background")
    p = Conductor(analysis, session).step(3.0)
    i = BLOCKS.index("down.2.1")
    # 0.40 · (1 + 0 + mean(0.8, 0.4)) · (0.75 + 0.5 · 1.0) · 0.5
    assert p.prominence[i] == pytest.approx(0.40 * 1.6 * 1.25 * 0.5, rel=1e-4)
