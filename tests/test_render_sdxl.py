"""``render`` with the sdxl-turbo engine (tiny same-architecture models on the CPU): the
engine runs in the render's own process, frames are deterministic and reach the file."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

import tiny_sdxl  # noqa: E402
from conftest import make_analysis  # noqa: E402

from hambajuba_tui.catalog.packs import load_pack  # noqa: E402
from hambajuba_tui.render.probe import decode_frames, probe  # noqa: E402
from hambajuba_tui.render.render import Renderer, RenderOptions, render  # noqa: E402


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf")
    tiny_sdxl.install(home / "hub")
    return home


@pytest.mark.slow
def test_sdxl_turbo_renders_the_same_frames_twice_into_a_video(tiny_home, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tiny_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    analysis = make_analysis(duration=3.0)
    session = load_pack().session()
    opts = RenderOptions(engine="sdxl-turbo", size=64, fps=10, start=1.0, end=1.6, seed=3)
    runs = []
    for _ in range(2):
        renderer = Renderer(analysis, session, opts)
        runs.append([f.copy() for _i, _t, f in renderer.frames()])
        renderer.close()
    assert len(runs[0]) == 6
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    assert all(f.std() > 1 for f in runs[0])
    sr = 44100
    tone = np.zeros((3 * sr, 2), np.float32)
    out = render(analysis, tone, sr, session, tmp_path / "sdxl.mp4", opts)
    info = probe(out)
    assert (info["video"]["width"], info["video"]["height"]) == (64, 64)
    assert len(decode_frames(out, 64, 64)) == 6 and info["audio"] is not None
