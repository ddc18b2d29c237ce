"""bench/gpu_check.py rehearsed on the CPU with the tiny models, in a Python that sees only what
the GPU machine has, so the GPU run cannot fail on a typo or a missing import.

The GPU machine's Python has torch, numpy, transformers, huggingface_hub, safetensors,
tokenizers, filelock, requests, PyYAML, tqdm, regex, packaging (and pip) — none of this
project's other dependencies. The check runs here under ``python -S`` with a sys.path made of
links to exactly those distributions (and what torch, requests and huggingface_hub need): any
import of Textual, librosa, rich, platformdirs, scipy, tomli_w… fails as it would there. When
``bench/wheels`` holds the diffusers wheel, diffusers is left out too and the check installs it
from the wheel with pip, no index, as it will there; otherwise diffusers is linked in.

On the CPU the compiled step runs through ``torch.compile(..., backend="aot_eager")``
(dynamo's tracing, guards and recompile checks; no inductor code, whose C++ compile takes
minutes on a small shared host), at 64² with few frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

pytestmark = pytest.mark.slow  # one ≈ 50 s run of the check, shared by the tests below

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "bench" / "gpu_check.py"
BOX = (
    "torch",
    "numpy",
    "transformers",
    "huggingface_hub",
    "safetensors",
    "tokenizers",
    "filelock",
    "requests",
    "PyYAML",
    "tqdm",
    "regex",
    "packaging",
    "pip",
)
"""What the GPU machine's Python has."""
WITH_DEPS = ("torch", "requests", "huggingface_hub")
"""Installed there with their own requirements (transformers' we never import)."""
PROJECT_ONLY = (
    "textual",
    "rich",
    "librosa",
    "platformdirs",
    "scipy",
    "tomli_w",
    "opensimplex",
    "soundfile",
    "sounddevice",
    "rapidfuzz",
    "term_image",
    "accelerate",
)
"""This project's dependencies that the GPU machine lacks: none may be imported."""
FRAMES, FEATURE_EVERY, RESEED_EVERY = 6, 2, 4

_AUDIT = """
import atexit, json, runpy, sys
def _audit(path=sys.argv[1]):
    names = sorted({m.split('.')[0] for m, v in list(sys.modules.items()) if v is not None})
    with open(path, 'w') as f:
        json.dump(names, f)
atexit.register(_audit)
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _deep(names) -> dict[str, metadata.Distribution]:
    """BOX plus the full requirement closure of WITH_DEPS."""
    from packaging.requirements import Requirement

    found: dict[str, metadata.Distribution] = {}
    todo = [(n, n in WITH_DEPS) for n in names]
    while todo:
        name, follow = todo.pop()
        dist = _installed(name)
        if dist is None:
            continue
        key = _norm(dist.metadata["Name"])
        if key in found and not follow:
            continue
        new = key not in found
        found[key] = dist
        if follow and new:
            for line in dist.requires or []:
                req = Requirement(line)
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    todo.append((req.name, True))
    return found


def _tops(dist: metadata.Distribution) -> set[Path]:
    """The top-level entries (packages, modules, .dist-info, .libs) a distribution installed."""
    out = set()
    for f in dist.files or []:
        parts = Path(f).parts
        if not parts or parts[0] == ".." or parts[0] == "__pycache__":
            continue
        out.add(Path(dist.locate_file(parts[0])))
    return out


@pytest.fixture(scope="module")
def workdir():
    """A private temporary folder (pytest's shared basetemp may be rotated by other runs)."""
    with tempfile.TemporaryDirectory(prefix="hambajuba-test-gpu-check-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def box(workdir):
    """(site folder with only the GPU machine's distributions, whether diffusers is in it)."""
    site = workdir / "site"
    site.mkdir()
    wheels = sorted((ROOT / "bench" / "wheels").glob("diffusers-*.whl"))
    names = list(BOX) + ["Pillow"]  # Pillow's cp312 wheel cannot install on this Python
    if not wheels:
        names.append("diffusers")
    for dist in _deep(names).values():
        for top in _tops(dist):
            link = site / top.name
            if top.exists() and not link.exists():
                link.symlink_to(top)
    return site, not wheels


@pytest.fixture(scope="module")
def run(box, workdir):
    site, linked_diffusers = box
    out = workdir / "out"
    audit = workdir / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["TMPDIR"] = str(workdir)  # the check's pip target lands here and goes with it
    cmd = [sys.executable, "-S", "-c", _AUDIT, str(audit), str(CHECK)]
    cmd += ["--device", "cpu", "--tiny", "--size", "64", "--backend", "aot_eager"]
    cmd += ["--frames", str(FRAMES), "--timed-frames", "2", "--warmup", "1"]
    cmd += ["--feature-every", str(FEATURE_EVERY), "--reseed-every", str(RESEED_EVERY)]
    cmd += ["--stage-reps", "1", "--profile-frames", "1", "--budget-s", "400"]
    cmd += ["--out", str(out)]
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert (out / "gpu_check.json").is_file() and audit.is_file(), done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    return done, report, out, json.loads(audit.read_text()), linked_diffusers


def test_check_runs_and_passes_on_the_cpu(run):
    done, r, out, _, _ = run
    assert done.returncode == 0, done.stderr[-3000:]
    assert r["ok"] is True and r["errors"] == [] and r["phase"] == "done"
    for key in ("device", "size", "fps_eager", "fps_compiled", "recompiles", "max_abs_diff"):
        assert r[key] is not None, key
    assert "peak_mem_gb" in r and "torch" in r and "diffusers" in r
    assert r["device"] == "cpu" and r["size"] == 64
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is True  # last line: the JSON
    assert (out / "profile_top.txt").is_file() and r["profile"]["top_ops"]


def test_compiled_equals_eager_without_recompiles(run):
    _, r, _, _, _ = run
    assert r["recompiles"] == 0 and r["compiled_graphs"] == 1
    assert r["frames_compared"] == FRAMES
    assert r["max_abs_diff"] <= 1 and r["mean_abs_diff"] <= 0.05  # float32 on the CPU
    assert r["image_std"] > 5 and r["frames_move"] > 1  # real, moving pictures


def test_workload_changes_features_and_reseeds(run):
    _, r, _, _, _ = run
    w = r["workload"]
    assert w["feature_changes"] == (FRAMES - 1) // FEATURE_EVERY
    assert w["reseeds"] == (FRAMES - 1) // RESEED_EVERY >= 1
    assert w["compiled_feature_changes"] >= w["feature_changes"]
    assert w["compiled_reseeds"] >= w["reseeds"]


def test_stage_split_and_honest_cpu_notes(run):
    _, r, _, _, _ = run
    stages = r["stages_ms"]
    for key in ("unet_unsteered", "unet_steered", "taesd_decode", "copy_to_host"):
        assert stages[key] > 0, key
    assert r["host_syncs_per_frame"] is None and r["sync_check"].startswith("skipped: CPU")
    assert r["peak_mem_gb"] is None and r["peak_rss_gb"] > 0
    assert "aot_eager" in r["compile"]["how"]


def test_check_imports_only_what_the_gpu_machine_has(run, box):
    done, r, _, modules, linked_diffusers = run
    assert not set(modules) & set(PROJECT_ONLY), sorted(set(modules) & set(PROJECT_ONLY))
    assert "hambajuba_tui" in modules and "diffusers" in modules
    site = box[0]
    allowed = set(sys.stdlib_module_names) | {p.name.split(".")[0] for p in site.iterdir()}
    allowed |= {"__main__", "__mp_main__", "hambajuba_tui", "tiny_sdxl", "diffusers", "PIL"}
    generated = ("_cython_", "cython_runtime", "_sysconfigdata_", "_remote_module_")
    extra = {m for m in set(modules) - allowed if not m.startswith(generated)}
    assert not extra, sorted(extra)  # in-memory modules (Cython, torch.jit) aside
    if not linked_diffusers:  # installed from bench/wheels, no index, into a temporary target
        assert r["diffusers_source"].startswith("pip install --no-index"), r["diffusers_source"]


def test_fetch_wheels_pins_the_venv_diffusers():
    """The pinned diffusers is the one this project's venv runs (what the tests check)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "bench"))
    assert gpu_check.PINS["diffusers"] == metadata.version("diffusers")
