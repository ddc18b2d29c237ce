"""sdxl-turbo in the product: engine choice (torch-free), the worker, `models status / pull`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("diffusers")

import tiny_sdxl  # noqa: E402

from hambajuba_tui.engine.errors import ModelMissing  # noqa: E402
from hambajuba_tui.engine.models import missing, resolve_engine  # noqa: E402


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf")
    tiny_sdxl.install(home / "hub")
    return home


def _no_probe() -> str:
    raise AssertionError("the accelerator probe must not run when weights are missing")


def test_auto_without_weights_says_what_is_missing():
    engine, note = resolve_engine("auto", probe=_no_probe)
    assert engine == "preview"
    assert "SDXL-Turbo" in note and "TAESDXL" in note and "SAE for mid.0" in note
    assert "hambajuba models pull" in note
    with pytest.raises(ModelMissing, match="models pull"):
        resolve_engine("sdxl-turbo", probe=_no_probe)
    assert resolve_engine("preview", probe=_no_probe) == ("preview", None)


def test_auto_with_weights_needs_an_accelerator(tiny_home, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tiny_home))
    assert missing() == []
    assert missing("vae") == ["SDXL-Turbo vae/"]  # the tiny install has no full VAE
    assert resolve_engine("auto", probe=lambda: "cuda") == ("sdxl-turbo", None)
    assert resolve_engine("auto", probe=lambda: "mps") == ("sdxl-turbo", None)
    engine, note = resolve_engine("auto", probe=lambda: "cpu")
    assert engine == "preview" and "no GPU" in note and "--engine sdxl-turbo" in note
    engine, note = resolve_engine("sdxl-turbo", probe=lambda: "cpu")
    assert engine == "sdxl-turbo" and "CPU" in note


def test_one_missing_sae_is_named(tiny_home, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "hf"
    shutil.copytree(tiny_home, copy, symlinks=True)
    snap = copy / "hub" / "models--surokpro2--sdxl-saes" / "snapshots" / tiny_sdxl.COMMIT
    (next(snap.glob("unet.up_blocks.0.attentions.0_*")) / "final" / "mean.pt").unlink()
    monkeypatch.setenv("HF_HOME", str(copy))
    assert missing() == ["SAE for up.0.0 (surokpro2/sdxl-saes)"]


def test_choosing_the_engine_never_imports_torch(tiny_home):
    """The TUI process resolves auto (weights present: the GPU probe runs in a child)."""
    code = (
        "import json, sys\n"
        "from hambajuba_tui.engine.models import resolve_engine, status\n"
        "import hambajuba_tui.engine.worker, hambajuba_tui.show\n"
        "engine, note = resolve_engine('auto')\n"
        "status()\n"
        "print(json.dumps({'engine': engine, 'note': note,\n"
        "  'torch': sorted(m for m in sys.modules if m.split('.')[0] == 'torch')}))\n"
    )
    env = {**os.environ, "HF_HOME": str(tiny_home)}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["torch"] == []
    assert out["engine"] in ("sdxl-turbo", "preview")  # sdxl-turbo only where a GPU exists
    if out["engine"] == "preview":
        assert "no GPU" in out["note"]


@pytest.mark.slow
def test_worker_runs_sdxl_turbo_and_frames_arrive(tiny_home, monkeypatch):
    from conftest import make_analysis

    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.show import Show, ShowOptions
    from hambajuba_tui.vocab import SAMPLE_RATE

    monkeypatch.setenv("HF_HOME", str(tiny_home))  # the spawned worker inherits it
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    analysis = make_analysis(duration=90.0)  # long enough for a loaded CPU's slow frames
    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    opts = ShowOptions(engine="sdxl-turbo", width=64, height=64, fps=10.0, sound=False)
    with Show(analysis, silence, SAMPLE_RATE, load_pack().session(), opts) as show:
        show.start(wait_ready_s=120)
        end = time.monotonic() + 120
        frames = []
        while time.monotonic() < end and len(frames) < 6:
            news = show.poll_worker()
            assert not [n for n in news if "failed" in n], news
            if show.poll_frame() is not None:
                frames.append(show.frame.copy())
            time.sleep(0.02)
        assert show.status.engine == "sdxl-turbo"
        assert len(frames) >= 6
        assert all(f.std() > 1 for f in frames)  # pictures, not blank slots
        assert (
            np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]) > 0.1
        )  # and they move


def test_worker_falls_back_to_preview_when_sdxl_cannot_load(analysis, monkeypatch):
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.show import Show, ShowOptions
    from hambajuba_tui.vocab import SAMPLE_RATE

    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    opts = ShowOptions(engine="sdxl-turbo", width=64, height=64, fps=10.0, sound=False)
    with Show(analysis, silence, SAMPLE_RATE, load_pack().session(), opts) as show:
        show.start(wait_ready_s=60)
        news: list[str] = []
        end = time.monotonic() + 60
        while time.monotonic() < end and show.status.engine != "preview":
            news += show.poll_worker()
            time.sleep(0.02)
        assert show.status.engine == "preview"
        assert any("sdxl-turbo" in n and "models pull" in n and "preview" in n for n in news)


def _cli(*args, env=None, timeout=300):
    env = {**os.environ, "HAMBAJUBA_AUDIO": "none", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_cli_explicit_sdxl_turbo_without_weights_is_one_clear_line():
    res = _cli("demo", "--headless", "--engine", "sdxl-turbo")
    assert res.returncode == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "models pull" in lines[0] and "Traceback" not in res.stderr
    res = _cli("demo", "--headless", "--engine", "sdxl-turbo", "--size", "100")
    assert res.returncode in (2, 3)


def test_models_status(tiny_home):
    res = _cli("models", "status", "--json", env={"HF_HOME": str(tiny_home)})
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    for name in ("SDXL-Turbo (fp16)", "TAESDXL", "SAEs (4 blocks)"):
        assert rows[name]["present"] and rows[name]["bytes"] > 0
        assert rows[name]["path"].startswith(str(tiny_home))
    assert not rows["feature labels"]["present"]
    text = _cli("models", "status", env={"HF_HOME": str(tiny_home)})
    assert "sdxl-turbo engine: ready" in text.stdout
    empty = _cli("models", "status")
    assert "MISSING" in empty.stdout and "not ready" in empty.stdout


def test_models_pull_offline_fails_clearly():
    res = _cli("models", "pull", env={"HF_HUB_OFFLINE": "1"})
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert "could not download SDXL-Turbo" in last and "HF_HUB_OFFLINE" in last
    assert "Traceback" not in res.stderr


def test_bench_runs_the_sdxl_engine():
    """The bench's sdxl path stays runnable (tiny model, one frame; figures not asserted)."""
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench" / "engine.py"
    res = subprocess.run(
        [
            sys.executable,
            str(bench),
            "--engines",
            "sdxl-tiny",
            "--sizes",
            "64",
            "--seconds",
            "0",
            "--warmup",
            "1",
            "--min-frames",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("{")))
    assert report["engine"] == "sdxl-tiny" and report["weights"].startswith("random")
    assert report["results"][0]["frames"] == 1 and report["machine"]["torch"]


def test_pull_asks_for_fp16_files_into_the_cache(monkeypatch, tmp_path):
    import fnmatch

    import huggingface_hub

    from hambajuba_tui.engine import models

    calls = []

    def fake(repo_id, repo_type="model", cache_dir=None, allow_patterns=None, **kw):
        calls.append((repo_id, repo_type, cache_dir, allow_patterns))
        return str(tmp_path / repo_id)

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    logged: list[str] = []
    models.pull(log=logged.append)
    repos = {c[0]: c for c in calls}
    assert set(repos) == {
        "stabilityai/sdxl-turbo",
        "madebyollin/taesdxl",
        "surokpro2/sdxl-saes",
        "hammamiomar/sdxl-turbo-sae-labels",
    }
    assert all(c[2] == tmp_path / "cache" for c in calls)
    assert repos["hammamiomar/sdxl-turbo-sae-labels"][1] == "dataset"
    sdxl = repos["stabilityai/sdxl-turbo"][3]

    def wanted(path):
        return any(fnmatch.fnmatch(path, p) for p in sdxl)

    assert wanted("unet/diffusion_pytorch_model.fp16.safetensors")
    assert wanted("text_encoder_2/model.fp16.safetensors") and wanted("tokenizer_2/vocab.json")
    assert not wanted("unet/diffusion_pytorch_model.safetensors")  # no float32 copies
    assert not wanted("sd_xl_turbo_1.0_fp16.safetensors")  # nor the single-file checkpoint
    saes = repos["surokpro2/sdxl-saes"][3]
    assert any(
        fnmatch.fnmatch(
            "unet.mid_block.attentions.0_k10_hidden5120_auxk256_bs4096_lr0.0001/final/mean.pt", p
        )
        for p in saes
    )
    assert len(logged) == 4 and "TAESDXL" in logged[1]
    calls.clear()
    models.pull(["saes"], log=logged.append)
    assert [c[0] for c in calls] == ["surokpro2/sdxl-saes"]


def test_cli_auto_without_weights_says_so_and_runs_the_preview(tmp_path):
    res = _cli("demo", "--headless", "--seconds", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "sdxl-turbo needs" in res.stderr and "hambajuba models pull" in res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["engine"] == "preview" and summary["frames_generated"] > 0
