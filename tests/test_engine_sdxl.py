"""The sdxl-turbo engine on tiny same-architecture models, loaded through the real loading code
from a Hugging Face cache layout, checked against diffusers' own pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_sdxl  # noqa: E402

from hambajuba_tui.bridge.params import FrameParams  # noqa: E402
from hambajuba_tui.engine.hub import snapshot_dir  # noqa: E402
from hambajuba_tui.engine.sae import MODULE_PATHS, find_sae, load_sae  # noqa: E402
from hambajuba_tui.vocab import BLOCKS  # noqa: E402

PROMPT_A, PROMPT_B = "the cat on the mat", "in the dark"


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf")
    tiny_sdxl.install(home / "hub", vae=True)
    return home


@pytest.fixture(autouse=True)
def _use_tiny_cache(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _load(hf_home, size, decoder="taesd"):
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hf_home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        engine = SdxlTurboEngine.load(width=size, height=size, seed=7, decoder=decoder)
    engine.set_scenes(PROMPT_A, PROMPT_B)
    return engine


@pytest.fixture(scope="module")
def engine128(hf_home):
    return _load(hf_home, 128)


@pytest.fixture(scope="module")
def engine512(hf_home):
    return _load(hf_home, 512)


@pytest.fixture(scope="module")
def pipe(hf_home):
    """diffusers' StableDiffusionXLPipeline on the same files, loaded by diffusers itself."""
    from diffusers import AutoencoderTiny, StableDiffusionXLPipeline

    hub = hf_home / "hub"
    root = hub / "models--stabilityai--sdxl-turbo" / "snapshots" / tiny_sdxl.COMMIT
    taesd = hub / "models--madebyollin--taesdxl" / "snapshots" / tiny_sdxl.COMMIT
    p = StableDiffusionXLPipeline.from_pretrained(root, add_watermarker=False)
    p.taesd = AutoencoderTiny.from_pretrained(taesd)
    p.full_vae = p.vae
    p.set_progress_bar_config(disable=True)
    return p


def _reference(pipe, prompt, latents, size, vae="taesd") -> np.ndarray:
    pipe.vae = pipe.taesd if vae == "taesd" else pipe.full_vae
    img = pipe(
        prompt,
        num_inference_steps=1,
        guidance_scale=0.0,
        latents=latents.clone(),
        height=size,
        width=size,
        output_type="np",
    ).images[0]
    return (img * 255).round().astype(np.uint8)


def _render(engine, params: FrameParams) -> np.ndarray:
    out = np.zeros((engine.height, engine.width, 3), np.uint8)
    engine.generate(params, out)
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


# -- (a) the engine is the pipeline ------------------------------------------------------------
def test_pixels_equal_pipeline_one_step(engine128, pipe):
    out = _render(engine128, FrameParams())
    ref = _reference(pipe, PROMPT_A, engine128.noise_a, 128)
    assert ref.std() > 5  # a real picture, not a flat field
    assert _diff(out, ref).max() <= 1
    assert (out == ref).mean() > 0.99


def test_scene_b_and_noise_angle_match_pipeline(engine128, pipe):
    theta = 0.7
    out = _render(engine128, FrameParams(scene_t=1.0, theta=theta))
    latents = math.cos(theta) * engine128.noise_a + math.sin(theta) * engine128.noise_b
    ref = _reference(pipe, PROMPT_B, latents, 128)
    assert _diff(out, ref).max() <= 1
    other = _reference(pipe, PROMPT_A, latents, 128)
    assert _diff(out, other).mean() > 0.5  # scene B is not scene A


def test_scene_blend_is_between(engine128):
    a = _render(engine128, FrameParams(scene_t=0.0)).astype(float)
    b = _render(engine128, FrameParams(scene_t=1.0)).astype(float)
    mid = _render(engine128, FrameParams(scene_t=0.5)).astype(float)
    assert np.abs(a - b).mean() > 0.5
    assert np.abs(mid - a).mean() < np.abs(b - a).mean()
    assert np.abs(mid - b).mean() < np.abs(b - a).mean()


def test_full_vae_option_matches_pipeline(hf_home, pipe):
    engine = _load(hf_home, 128, decoder="vae")
    out = _render(engine, FrameParams())
    ref = _reference(pipe, PROMPT_A, engine.noise_a, 128, vae="vae")
    assert _diff(out, ref).max() <= 1


# -- steering ----------------------------------------------------------------------------------
def _steer_params() -> FrameParams:
    p = FrameParams()
    p.feature_ids[:] = [3, 11, 7, 19]
    p.strengths[:] = [16.0, -12.0, 10.0, 20.0]  # mid.0 pushed away (negative)
    p.mix_ids[0], p.mix_weights[0] = 5, 0.4  # down.2.1 mixes two features
    p.masks[:] = 1.0
    p.masks[0, :, :8] = 0.0  # left half off
    p.masks[1, 4:12, 4:12] = 0.0  # a hole in the middle
    p.masks[2] = np.linspace(0, 1, 16)[None, :]  # a ramp
    p.masks[3, :8] = 0.5
    return p


def _add_feature_hooks(pipe, saes, params: FrameParams):
    """The SAE authors' "add feature on area", as plain forward hooks on the original blocks."""
    handles = []
    for i, block in enumerate(BLOCKS):
        sae = saes[block]
        mask = torch.from_numpy(params.masks[i].copy())
        s = float(params.strengths[i])
        w = float(params.mix_weights[i])
        parts = [((1 - w) * s, int(params.feature_ids[i])), (w * s, int(params.mix_ids[i]))]

        def hook(module, args, output, parts=parts, sae=sae, mask=mask):
            sample = output[0]
            for strength, f in parts:
                feature = strength * sae.mean[f] * sae.decoder[:, f]
                sample = sample + feature[None, :, None, None] * mask[None, None]
            return (sample, *output[1:])

        handles.append(pipe.unet.get_submodule(MODULE_PATHS[block]).register_forward_hook(hook))
    return handles


@pytest.fixture(scope="module")
def saes(hf_home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hf_home))
        return {b: load_sae(find_sae(b)) for b in BLOCKS}


def test_steering_equals_add_feature_on_area(engine512, pipe, saes):
    params = _steer_params()
    out = _render(engine512, params)
    handles = _add_feature_hooks(pipe, saes, params)
    try:
        ref = _reference(pipe, PROMPT_A, engine512.noise_a, 512)
    finally:
        for h in handles:
            h.remove()
    plain = _reference(pipe, PROMPT_A, engine512.noise_a, 512)
    assert _diff(out, plain).mean() > 2.0  # steering visibly changes the picture
    assert _diff(out, ref).max() <= 1
    assert (out == ref).mean() > 0.99


def test_zero_strength_equals_unsteered(engine512, pipe):
    params = _steer_params()
    params.strengths[:] = 0.0
    out = _render(engine512, params)
    plain = _reference(pipe, PROMPT_A, engine512.noise_a, 512)
    assert _diff(out, plain).max() <= 1
    assert (out == plain).mean() > 0.99


def test_zero_mask_region_leaves_block_output_unchanged(engine512):
    wrapper = engine512.blocks["down.2.1"]
    seen = {}
    h1 = wrapper.inner.register_forward_hook(lambda m, a, o: seen.__setitem__("inner", o[0]))
    h2 = wrapper.register_forward_hook(lambda m, a, o: seen.__setitem__("outer", o[0]))
    try:
        _render(engine512, _steer_params())  # mask 0: left half of the 16×16 token grid
    finally:
        h1.remove()
        h2.remove()
    delta = (seen["outer"] - seen["inner"])[0]  # [C, 16, 16]
    assert delta.shape[-2:] == (16, 16)
    assert torch.all(delta[:, :, :8] == 0)
    assert delta[:, :, 8:].abs().amin(dim=0).min() > 0  # the steered half moved everywhere


def test_negative_strength_pushes_the_other_way(engine128):
    wrapper = engine128.blocks["up.0.1"]
    p = FrameParams()
    p.feature_ids[:] = 4
    p.strengths[3] = 2.0
    engine128.render(p)
    plus = wrapper.delta(4, 4, torch.float32).clone()
    p.strengths[3] = -2.0
    engine128.render(p)
    minus = wrapper.delta(4, 4, torch.float32)
    assert plus.abs().max() > 0
    assert torch.allclose(plus, -minus)


def test_feature_change_copies_the_decoder_column(engine128, saes):
    wrapper = engine128.blocks["mid.0"]
    sae = saes["mid.0"]
    p = FrameParams()
    p.feature_ids[1], p.mix_ids[1] = 9, 2
    engine128.render(p)
    assert torch.allclose(wrapper.directions[0], sae.decoder[:, 9] * sae.mean[9])
    assert torch.allclose(wrapper.directions[1], sae.decoder[:, 2] * sae.mean[2])
    p.feature_ids[1] = 10_000  # beyond the SAE: steers nothing instead of failing
    engine128.render(p)
    assert torch.all(wrapper.directions[0] == 0)


def test_garbage_params_steer_nothing_where_they_are_garbage(engine128):
    p = FrameParams()
    p.feature_ids[:] = [1, 2, 3, 4]
    p.strengths[:] = [np.nan, np.inf, -np.inf, 8.0]
    p.theta, p.scene_t = float("nan"), float("inf")
    p.masks[3, 0, 0] = np.nan
    out = _render(engine128, p)
    clean = FrameParams()
    clean.feature_ids[:] = [1, 2, 3, 4]
    clean.strengths[:] = [0.0, 0.0, 0.0, 8.0]
    clean.masks[3, 0, 0] = 0.0
    assert out.std() > 5
    assert np.array_equal(out, _render(engine128, clean))


def test_prompt_embeddings_are_cached_per_scene(engine128):
    cache = engine128.prompts._cache
    engine128.set_scenes("the cat", "the dog")
    first = cache["the cat"][0]
    engine128.set_scenes("the dog", "the cat")
    assert cache["the cat"][0] is first  # encoded once
    engine128.set_scenes(PROMPT_A, PROMPT_B)


def test_sae_width_mismatch_is_a_clear_error(hf_home, tmp_path):
    from hambajuba_tui.engine.errors import CheckpointError
    from hambajuba_tui.engine.models import load_sdxl
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    tiny_sdxl.write_sae(tmp_path / "wrong", d=20, n=8, seed=0)
    models = load_sdxl(device="cpu")
    saes = {b: load_sae(tmp_path / "wrong") for b in BLOCKS}
    with pytest.raises(CheckpointError, match=r"wrong: SAE d_model 20 does not match"):
        SdxlTurboEngine(models, saes, width=128, height=128)


def test_bad_size_is_refused(engine128):
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    with pytest.raises(ValueError, match="multiples of 32"):
        SdxlTurboEngine(engine128.models, {}, width=100, height=128)


def test_loads_from_the_cache_snapshot(hf_home):
    snap = snapshot_dir("stabilityai/sdxl-turbo")
    assert snap is not None and snap.is_relative_to(hf_home)


@pytest.mark.slow
def test_full_architecture_step_is_one_graph():
    """The full SDXL-Turbo-architecture step traces as ONE graph (fullgraph=True) — what the
    CUDA path compiles and replays as a CUDA graph — checked on the meta device (no memory,
    no arithmetic)."""
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    models, saes = tiny_sdxl.build_full("meta", torch.float16)
    assert sum(p.numel() for p in models.unet.parameters()) > 2.5e9
    engine = SdxlTurboEngine(models, saes, 512, 512, compile=False)
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(engine.step, fullgraph=True, dynamic=False, backend=backend)
    params = _steer_params()
    with torch.no_grad():
        engine.render(params)
        out = compiled()
        engine.render(params)  # params change between frames: still the same graph
        compiled()
    assert len(graphs) == 1
    assert tuple(out.shape) == (512, 512, 3) and out.dtype == torch.uint8
    ops = [n for n in graphs[0].graph.nodes if n.op == "call_function"]
    assert len(ops) > 1000  # the whole UNet, steering and decoder are in it


def test_frame_packing_allocates_no_numpy_memory(engine128):
    """The host side of a frame (FrameParams → staging vector) allocates nothing numpy-sized."""
    import tracemalloc

    p = _steer_params()
    engine128._pack(p)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(20):
            p.theta, p.strengths[0] = 0.1 * i, float(i)
            engine128._pack(p)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 1024  # a [4,16,16] mask copy alone would be 4 KB
    frame = engine128._stage_np
    assert frame[0] == pytest.approx(19.0 * (1 - 0.4))  # strength × (1 − mix weight)


# -- the Engine protocol: reseed in place ------------------------------------------------------
@pytest.mark.slow
def test_reseed_in_place_keeps_the_compiled_graph(hf_home, monkeypatch):
    """Three reseeds of the CPU-compiled tiny model with recompiles made errors: each copies new
    noise into the step's buffers (same tensors), gives the picture of a fresh engine with that
    seed, and never recompiles. The decoder chosen at load (here the full VAE) is kept."""
    from hambajuba_tui.engine.protocol import Engine
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    torch._dynamo.reset()
    engine = SdxlTurboEngine.load(width=64, height=64, seed=1, decoder="vae", compile=True)
    assert isinstance(engine, Engine) and engine.compiled
    decoder = engine.step.decoder
    buffers = (engine.step.noise_a.data_ptr(), engine.step.noise_b.data_ptr())
    params = _steer_params()
    params.theta = 0.3
    first = _render(engine, params)
    seen = [first]
    for seed in (2, 3, 1):
        engine.reseed(seed)
        out = _render(engine, params)  # a recompile here would raise
        assert (engine.step.noise_a.data_ptr(), engine.step.noise_b.data_ptr()) == buffers
        assert engine.step.decoder is decoder and engine.seed == seed
        fresh = SdxlTurboEngine.load(64, 64, seed=seed, decoder="vae", compile=False)
        assert _diff(out, _render(fresh, params)).max() <= 2
        seen.append(out)
    assert _diff(seen[0], seen[1]).mean() > 0.5  # a new seed is a new picture
    assert _diff(seen[0], seen[3]).max() <= 1  # and back to seed 1 is the first picture again
    torch._dynamo.reset()


def test_batched_generation_equals_unbatched_per_sample(hf_home):
    """Several performers in one UNet call (``generate_batch``, what `hambajuba serve` runs for
    pending requests of several clients): each sample keeps its own seed, scenes, scene blend,
    noise angle, features, strengths and masks — equal to rendering them one by one."""
    engine = _load(hf_home, 64)
    p1 = _steer_params()
    p2 = FrameParams(theta=1.1, scene_t=0.6)
    p2.feature_ids[:] = [1, 2, 3, 4]
    p2.strengths[:] = [-8.0, 6.0, 0.0, 12.0]
    p2.masks[:, 8:] = 0.0
    p3 = FrameParams(theta=-0.4, scene_t=1.0)
    jobs = [
        (p1, 7, (PROMPT_A, PROMPT_B)),
        (p2, 11, ("a blue room", None)),
        (p3, 7, (None, PROMPT_B)),
    ]
    outs = [np.zeros((64, 64, 3), np.uint8) for _ in jobs]
    engine.generate_batch(jobs, outs)
    for (params, seed, scenes), out in zip(jobs, outs, strict=True):
        engine.reseed(seed)
        engine.set_scenes(*scenes)
        ref = _render(engine, params)
        assert ref.std() > 1
        assert _diff(out, ref).max() <= 2 and _diff(out, ref).mean() < 0.1
    assert _diff(outs[0], outs[1]).mean() > 1 and _diff(outs[0], outs[2]).mean() > 1
