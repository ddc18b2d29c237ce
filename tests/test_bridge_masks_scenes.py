import math

import numpy as np
import pytest

from hambajuba_tui.bridge import masks
from hambajuba_tui.bridge.physics import SPRING_PRESETS, Spring
from hambajuba_tui.bridge.scenes import SceneBlend, slerp


def test_presets_put_weight_where_their_names_say():
    com = {name: masks.centre_of_mass_row(masks.preset(name)) for name in masks.PRESETS}
    assert com["floor"] > 0.7 and com["ceiling"] < 0.3
    assert com["center"] == pytest.approx(0.5, abs=0.01)
    assert masks.preset("fill").min() == 1.0 and masks.preset("clear").max() == 0.0
    center = masks.preset("center")
    assert center[8, 8] > 0.9 and center[0, 0] < 0.1
    with pytest.raises(ValueError, match="choose from"):
        masks.preset("spiral")


def test_painted_masks_are_checked_and_clipped():
    grid = np.zeros((16, 16))
    grid[2:5, 3:9] = 3.0
    m = masks.painted(grid)
    assert m.max() == 1.0 and m.dtype == np.float32
    with pytest.raises(ValueError, match="16×16"):
        masks.painted(np.zeros((8, 8)))


def test_a_rising_pitch_moves_the_mask_up_monotonically():
    rows = [masks.centre_of_mass_row(masks.pitch_aligned(p)) for p in np.linspace(0, 1, 40)]
    assert all(b <= a for a, b in zip(rows, rows[1:]))  # row position falls = image goes up
    assert rows[0] > 0.7 and rows[-1] < 0.3
    assert len(set(np.round(rows, 6))) == masks.PITCH_BANDS


def test_slerp_keeps_the_norm_and_its_endpoints():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(77, 64)), rng.normal(size=(77, 64))
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    assert np.array_equal(slerp(a, b, 0.0), a) and np.array_equal(slerp(a, b, 1.0), b)
    for t in (0.1, 0.5, 0.9):
        assert np.linalg.norm(slerp(a, b, t)) == pytest.approx(np.linalg.norm(a), rel=1e-9)
    mid = slerp(a, b, 0.5)
    cos = lambda x, y: float((x * y).sum() / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert cos(mid, a) == pytest.approx(cos(mid, b), rel=1e-9)
    assert np.allclose(slerp(a, a * 1.0, 0.3), a)  # parallel: no division by zero


def test_scene_blend_modes_slew_and_freeze():
    blend = SceneBlend(mode="reactive", slew_per_s=1.0)
    ts = [blend.step(1 / 30, energy=1.0) for _ in range(15)]
    assert ts[-1] == pytest.approx(0.5, abs=1e-9)  # slew-limited: 1.0/s for half a second
    for _ in range(30):
        blend.step(1 / 30, energy=1.0)
    assert blend.t == pytest.approx(1.0)
    linked = SceneBlend(mode="linked", depth=0.5, slew_per_s=100)
    assert linked.step(1 / 30, energy=1.0, linked=0.8) == pytest.approx(0.4)
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=16) for _ in range(3))
    blend.t = 0.3
    new_a, new_b = blend.load_scene(a, b, c)
    assert np.allclose(new_a, slerp(a, b, 0.3)) and np.array_equal(new_b, c) and blend.t == 0.0
    with pytest.raises(ValueError, match="choose from"):
        SceneBlend(mode="chaos")


@pytest.mark.parametrize("bpm", [90.0, 140.0])
@pytest.mark.parametrize("stem", ["kick", "drums", "drums_high", "bass", "vocals", "other"])
def test_step_response_matches_the_presets_damping_and_frequency(stem, bpm):
    """Overshoot and period of the step response against theory, at 60 frames/s."""
    spring = Spring.for_stem(stem, bpm)
    m, k, c = spring.mass, spring.stiffness, spring.damping
    zeta = c / (2 * math.sqrt(k * m))
    wn = math.sqrt(k / m)
    wd = wn * math.sqrt(1 - zeta**2)
    dt = 1 / 600  # a fine clock so the test measures the model, not the frame rate
    xs = np.array([spring.step(1.0, dt) for _ in range(int(3.0 / dt))])
    overshoot = xs.max() - 1.0
    # The damping ratio the overshoot implies (OS = exp(-ζπ/√(1-ζ²))), against the preset's.
    log_os = math.log(overshoot)
    zeta_seen = -log_os / math.sqrt(math.pi**2 + log_os**2)
    assert zeta_seen == pytest.approx(zeta, rel=0.05)
    crossings = np.flatnonzero(np.diff(np.sign(xs - 1.0)) != 0)
    period = 2 * np.mean(np.diff(crossings[:4])) * dt
    assert period == pytest.approx(2 * math.pi / wd, rel=0.05)
    base = SPRING_PRESETS[stem]
    assert zeta == pytest.approx(base[2] / (2 * math.sqrt(base[1] * base[0])), rel=1e-9)
