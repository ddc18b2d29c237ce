"""The CUDA path: fp16, torch.compile(reduce-overhead) replayed as a CUDA graph.

Needs a CUDA GPU (skipped elsewhere). Uses the tiny same-architecture models, so it runs in
seconds on any CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

import tiny_sdxl  # noqa: E402

from hambajuba_tui.bridge.params import FrameParams  # noqa: E402


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf")
    tiny_sdxl.install(home / "hub")
    return home


def _engine(hf_home, compile):
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hf_home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        return SdxlTurboEngine.load(width=256, height=256, seed=3, device="cuda", compile=compile)


def _frames(engine, n=6):
    out, frames = np.zeros((256, 256, 3), np.uint8), []
    p = FrameParams()
    p.masks[:, :, :8] = 0.0
    for i in range(n):
        p.feature_ids[:] = [1 + i % 3, 2, 3, 4]
        p.strengths[:] = [10.0 * np.sin(i), -5.0, 4.0, 8.0]
        p.theta, p.scene_t = 0.3 * i, i / n
        engine.generate(p, out)
        frames.append(out.copy())
    return frames


def test_cuda_graph_replay_equals_eager_and_never_recompiles(hf_home):
    eager = _engine(hf_home, compile=False)
    assert eager.models.dtype == torch.float16 and not eager.cuda_graphs
    graph = _engine(hf_home, compile=True)
    assert graph.compiled and graph.cuda_graphs
    reference = _frames(eager)
    _frames(graph, 3)  # compile + record
    torch._dynamo.config.error_on_recompile = True
    try:
        replayed = _frames(graph)
    finally:
        torch._dynamo.config.error_on_recompile = False
    for a, b in zip(reference, replayed, strict=True):
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4  # fp16 kernels differ slightly
    assert np.abs(replayed[0].astype(int) - replayed[-1]).mean() > 0.5  # frames change


def test_per_frame_inputs_are_in_device_buffers(hf_home):
    engine = _engine(hf_home, compile=True)
    assert engine.frame.is_cuda and engine._stage.is_pinned() and engine._host.is_pinned()
    for wrapper in engine.blocks.values():
        assert wrapper.directions.is_cuda
        assert wrapper.frame.data_ptr() == engine.frame.data_ptr()  # one shared buffer
