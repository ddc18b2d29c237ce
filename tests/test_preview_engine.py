"""The preview engine renders FrameParams visibly, deterministically, and without allocating."""

from __future__ import annotations

import math
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.engine import preview
from hambajuba_tui.engine.preview import PreviewEngine
from hambajuba_tui.vocab import BLOCKS, MASK_SIZE

SIZE = 128


def params(**kw) -> FrameParams:
    p = FrameParams()
    for key, value in kw.items():
        if key in ("strengths", "masks"):
            value = np.asarray(value, np.float32)
        elif key == "feature_ids":
            value = np.asarray(value, np.int32)
        setattr(p, key, value)
    return p


def render(engine: PreviewEngine, p: FrameParams) -> np.ndarray:
    out = np.zeros((engine.height, engine.width, 3), np.uint8)
    engine.generate(p, out)
    return out


def one_block(block: int, strength: float, feature_id: int = 7) -> dict:
    s = np.zeros(len(BLOCKS), np.float32)
    s[block] = strength
    return {"strengths": s, "feature_ids": np.full(len(BLOCKS), feature_id, np.int32)}


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def engine() -> PreviewEngine:
    return PreviewEngine(SIZE, SIZE, seed=0)


def test_name_shape_dtype_and_in_place(engine):
    assert PreviewEngine.name == "preview"
    out = np.zeros((SIZE, SIZE, 3), np.uint8)
    address = out.__array_interface__["data"][0]
    assert engine.generate(params(), out) == 0.0  # the media time of the frame (params.t)
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    assert out.__array_interface__["data"][0] == address
    assert out.std() > 10  # a picture, not a flat fill


def test_non_square_and_tiny_sizes():
    for w, h in ((160, 96), (8, 8), (1, 3)):
        e = PreviewEngine(width=w, height=h, seed=1)
        out = np.empty((h, w, 3), np.uint8)
        e.generate(params(strengths=[5, 5, 5, 5]), out)


def test_rejects_a_wrong_out(engine):
    with pytest.raises(ValueError):
        engine.generate(params(), np.zeros((SIZE, SIZE + 1, 3), np.uint8))
    with pytest.raises(ValueError):
        engine.generate(params(), np.zeros((SIZE, SIZE, 3), np.float32))
    with pytest.raises(ValueError):
        engine.generate(params(), np.zeros((SIZE, 3, SIZE), np.uint8).transpose(0, 2, 1))


def test_deterministic_for_equal_params_and_seed():
    p = params(theta=0.7, scene_t=0.3, strengths=[4, -2, 6, 1], feature_ids=[10, 20, 30, 40])
    a = render(PreviewEngine(SIZE, SIZE, seed=5), p)
    b = render(PreviewEngine(SIZE, SIZE, seed=5), p)
    np.testing.assert_array_equal(a, b)
    e = PreviewEngine(SIZE, SIZE, seed=5)
    render(e, params(theta=2.0, strengths=[9, 9, 9, 9]))  # other frames in between
    np.testing.assert_array_equal(render(e, p), a)


def test_different_seeds_differ():
    a = render(PreviewEngine(SIZE, SIZE, seed=0), params())
    b = render(PreviewEngine(SIZE, SIZE, seed=1), params())
    assert mean_abs_diff(a, b) > 10


def test_theta_moves_the_image_and_is_periodic(engine):
    a = render(engine, params(theta=1.0))
    assert mean_abs_diff(a, render(engine, params(theta=1.3))) > 3
    assert mean_abs_diff(a, render(engine, params(theta=1.0 + math.pi / 2))) > 10
    for k in (1, -1, 3):
        b = render(engine, params(theta=1.0 + k * 2 * math.pi))
        assert np.abs(a.astype(np.int16) - b).max() <= 1


@pytest.mark.parametrize("block", range(len(BLOCKS)))
def test_mask_confines_steering_to_its_half(engine, block):
    masks = np.zeros((len(BLOCKS), MASK_SIZE, MASK_SIZE), np.float32)
    masks[block, :, : MASK_SIZE // 2] = 1.0  # left half only
    base = render(engine, params(masks=masks))
    steered = render(engine, params(masks=masks, **one_block(block, 10.0)))
    half = SIZE // 2
    left = mean_abs_diff(base[:, :half], steered[:, :half])
    right = mean_abs_diff(base[:, half:], steered[:, half:])
    assert left > 5
    assert left > 4 * right


def test_strength_changes_the_image_per_block(engine):
    base = render(engine, params())
    for block in range(len(BLOCKS)):
        assert mean_abs_diff(base, render(engine, params(**one_block(block, 8.0)))) > 5


def test_different_feature_ids_differ(engine):
    for block in range(len(BLOCKS)):
        a = render(engine, params(**one_block(block, 10.0, feature_id=3)))
        b = render(engine, params(**one_block(block, 10.0, feature_id=4)))
        assert mean_abs_diff(a, b) > 5


def test_negative_and_positive_strength_differ(engine):
    for block in range(len(BLOCKS)):
        pos = render(engine, params(**one_block(block, 10.0)))
        neg = render(engine, params(**one_block(block, -10.0)))
        assert mean_abs_diff(pos, neg) > 5


def test_scene_blend_changes_colour_statistics(engine):
    a = render(engine, params(scene_t=0.0)).reshape(-1, 3).mean(axis=0)
    b = render(engine, params(scene_t=1.0)).reshape(-1, 3).mean(axis=0)
    mid = render(engine, params(scene_t=0.5)).reshape(-1, 3).mean(axis=0)
    assert np.abs(a - b).max() > 25
    assert np.all(np.minimum(a, b) - 5 <= mid) and np.all(mid <= np.maximum(a, b) + 5)


def test_scene_palettes_from_prompts():
    e = PreviewEngine(SIZE, SIZE)
    default = render(e, params())
    e.set_scenes("a neon city at night", "a quiet forest")
    city = render(e, params(scene_t=0.0))
    forest = render(e, params(scene_t=1.0))
    assert mean_abs_diff(default, city) > 3
    assert mean_abs_diff(city, forest) > 3
    e.set_scenes(None, None)
    np.testing.assert_array_equal(render(e, params()), default)


@pytest.mark.parametrize(
    "kw",
    [
        {"strengths": [1000, -1000, 1000, -1000]},
        {"strengths": [-1e30, 1e30, -1e30, 1e30]},
        {"strengths": [np.inf, -np.inf, np.nan, 1000]},
        {"strengths": [30, 30, 30, 30], "masks": np.full((4, 16, 16), 1e30)},
        {"strengths": [30, 30, 30, 30], "masks": np.full((4, 16, 16), np.nan)},
        {"theta": np.nan, "scene_t": np.inf},
        {"theta": 1e18, "scene_t": -5.0},
    ],
)
def test_extreme_values_give_a_valid_frame(engine, kw):
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = render(engine, params(**kw))
    assert out.dtype == np.uint8 and out.shape == (SIZE, SIZE, 3)


def test_strength_saturates_gracefully(engine):
    frames = {s: render(engine, params(strengths=[s] * 4)) for s in (10, 30, 1000, 1e6)}
    assert mean_abs_diff(frames[10], frames[30]) > mean_abs_diff(frames[30], frames[1000])
    assert mean_abs_diff(frames[1000], frames[1e6]) < 0.5
    assert frames[1000].std() > 10  # saturated, not blank


def test_directions_are_cached_per_block_and_feature(monkeypatch):
    built = []
    real = preview._pattern

    def counting(block, feature_id, lh, lw):
        built.append((block, feature_id))
        return real(block, feature_id, lh, lw)

    monkeypatch.setattr(preview, "_pattern", counting)
    e = PreviewEngine(64, 64)
    p = params(strengths=[1, 2, 3, 4], feature_ids=[5, 6, 7, 8])
    for i in range(10):
        p.strengths[:] = [i + 1, -i - 1, 2 * i + 1, 3]
        p.theta = 0.1 * i
        render(e, p)
    assert sorted(built) == [(0, 5), (1, 6), (2, 7), (3, 8)]
    p.feature_ids[2] = 99
    render(e, p)
    render(e, p)
    assert built[-1] == (2, 99) and len(built) == 5
    assert e.direction(2, 99) is e.direction(2, 99)


def test_directions_look_the_same_at_every_size():
    """A seed and a feature describe one picture; size only changes its resolution."""
    p = params(theta=0.4, strengths=[6, 6, 6, 6], feature_ids=[1, 2, 3, 4])
    small = render(PreviewEngine(64, 64), p).astype(np.float64)
    big = render(PreviewEngine(128, 128), p).astype(np.float64)
    big_down = big.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    corr = np.corrcoef(small.ravel(), big_down.ravel())[0, 1]
    assert corr > 0.9


def test_generate_does_not_allocate_frame_sized_arrays():
    size = 256
    e = PreviewEngine(size, size)
    out = np.empty((size, size, 3), np.uint8)
    p = params(strengths=[5, -3, 8, 2], feature_ids=[1, 2, 3, 4])
    e.generate(p, out)  # builds the directions
    float_frame_bytes = size * size * 3 * 4
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for i in range(20):
            p.theta += 0.1
            p.scene_t = i / 20
            p.strengths[:] = [i, -i, 2 * i, 3]
            e.generate(p, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < float_frame_bytes // 16  # one uint8 frame is already float_frame_bytes // 4


def test_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from hambajuba_tui.engine.preview import PreviewEngine\n"
        "from hambajuba_tui.bridge.params import FrameParams\n"
        "PreviewEngine(32, 32).generate(FrameParams(), np.empty((32, 32, 3), np.uint8))\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mixing_two_features_lands_between_them():
    """A block mixing features f and g at w = 0.5 is the mean of the two single renders'
    steering (in latent space the sum is linear; in pixels it lands between them)."""
    from hambajuba_tui.bridge.params import FrameParams

    eng = PreviewEngine(64, 64, seed=3)
    frames = {}
    for name, (fid, mid, w) in {
        "f": (11, 11, 0.0),
        "g": (22, 22, 0.0),
        "mix": (11, 22, 0.5),
        "w1": (11, 22, 1.0),
    }.items():
        p = FrameParams()
        p.strengths[2] = 12.0
        p.feature_ids[2], p.mix_ids[2], p.mix_weights[2] = fid, mid, w
        out = np.zeros((64, 64, 3), np.uint8)
        eng.generate(p, out)
        frames[name] = out.astype(np.int16)
    d = lambda a, b: np.abs(frames[a] - frames[b]).mean()  # noqa: E731
    assert np.array_equal(frames["w1"], frames["g"])  # w = 1 is the second feature alone
    assert d("mix", "f") < d("g", "f") and d("mix", "g") < d("g", "f")
    assert d("mix", "f") > 0.5 and d("mix", "g") > 0.5


def test_reseed_in_place_equals_a_fresh_engine():
    from hambajuba_tui.engine.protocol import Engine

    e = PreviewEngine(SIZE, SIZE, seed=0)
    assert isinstance(e, Engine)
    noise = e._noise_a
    p = params()
    for seed in (4, 9):
        e.reseed(seed)
        assert e._noise_a is noise and e.seed == seed
        assert np.array_equal(render(e, p), render(PreviewEngine(SIZE, SIZE, seed=seed), p))
