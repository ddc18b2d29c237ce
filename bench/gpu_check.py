"""GPU check (issue 14): the sdxl-turbo engine's CUDA path measured and checked in one command.

    python3 bench/gpu_check.py --out "$OUT"               # on the GPU machine (≈ 4–6 min)
    python bench/gpu_check.py --device cpu --tiny --size 64 --frames 8 --timed-frames 4 \\
        --feature-every 3 --reseed-every 5 --backend aot_eager --out /tmp/check   # CPU rehearsal
    python bench/gpu_check.py --fetch-wheels              # once, with network: fills bench/wheels

What it builds, through the project's own engine code (``SdxlTurboEngine``): the full
SDXL-Turbo UNet architecture (2.57 B parameters), TAESDXL's architecture (the
``AutoencoderTiny`` default) and four 1280 × 5120 SAEs, all with RANDOM weights (fp16 on
CUDA), made on the meta device and filled on the target device in seconds. The text encoders
are random stand-ins that give embeddings of CLIP's shapes ([1, 77, 2048] and pooled [1, 1280])
through the engine's own scene path: they run once per scene, never per frame, so no CLIP is
built and nothing is downloaded. ``--tiny`` uses the tests' tiny same-architecture configs.

What it runs, at ``--size`` (512²): a moving workload — all four blocks steered every frame,
every block's mask moving, the scene blend and θ moving, every block's feature (and mix
feature) changing every ``--feature-every`` frames (60) and a reseed every ``--reseed-every``
frames (100) — first eager, then compiled by the engine (``torch.compile(fullgraph=True,
mode="reduce-overhead", dynamic=False)``, replayed as a CUDA graph), the same frames again so
they can be compared, then more compiled frames for the timing. Between them: the eager time
split by stage (UNet unsteered, UNet steered, TAESD decode, copy to host), and at the end a
short torch.profiler window (top kernels, host syncs, graph launches per frame).

What it checks: no recompiles across all those changes; compiled frames equal eager frames
within tolerance; exactly one host sync per frame (CUDA: ``set_sync_debug_mode("warn")``
around the frames catches implicit syncs, the profiler counts the explicit ones); no CUDA
graph skipped; peak GPU memory. On the CPU the sync check is skipped and says so.

Results go to ``<out>/gpu_check.json`` (rewritten after every phase, so a run cut short by
``--budget-s`` or the machine's limit still leaves what it measured) and
``<out>/profile_top.txt``; the JSON is also printed as the last stdout line.

The GPU machine has torch with CUDA but no diffusers: when diffusers is not importable, the
check installs the wheels in ``bench/wheels`` (git-ignored, filled by ``--fetch-wheels``) into a
temporary folder with ``pip install --no-index --no-deps --target`` and puts it on sys.path.
It imports nothing of the TUI (no Textual, librosa, platformdirs, scipy, …).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / "bench" / "wheels"
PINS = {"diffusers": "0.42.1", "Pillow": "10.4.0"}
"""Wheels the GPU machine lacks: diffusers as installed in the project's venv, and Pillow
(diffusers imports PIL at import time). diffusers' other runtime requirements (filelock,
huggingface-hub, numpy, regex, requests, safetensors) are on that machine; importlib_metadata
is imported by diffusers only on Python < 3.8."""
IMPORT_NAMES = {"pillow": "PIL"}
PLATFORM = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")

DIFF_MEAN_MAX = 1.0
DIFF_P99_MAX = 4
"""Compiled vs eager, in uint8 levels: fp16 kernels differ slightly (as tests/test_engine_gpu)."""
FRAME_LABEL = "gpu_check.frame"
SYNC_NAMES = (
    "cudaEventSynchronize",
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaMemcpy",
)


class BudgetExceeded(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` inside torch swallows it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise BudgetExceeded


# -- arguments ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "out" / "gpu_check"))
    ap.add_argument("--device", default=None, help="cuda (default when present) or cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny same-architecture models")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float16", "bfloat16", "float32"),
        help="auto: float16 on CUDA, float32 on the CPU (as the engine loads real weights)",
    )
    ap.add_argument("--frames", type=int, default=150, help="frames run eager AND compiled")
    ap.add_argument("--timed-frames", type=int, default=600, help="more compiled frames, timed")
    ap.add_argument("--warmup", type=int, default=2, help="eager warm-up frames")
    ap.add_argument("--feature-every", type=int, default=60)
    ap.add_argument("--reseed-every", type=int, default=100)
    ap.add_argument("--stage-reps", type=int, default=20)
    ap.add_argument("--profile-frames", type=int, default=20)
    ap.add_argument("--target-fps", type=float, default=100.0)
    ap.add_argument(
        "--backend",
        default="engine",
        choices=("engine", "aot_eager", "eager"),
        help="engine: the engine's own torch.compile (reduce-overhead CUDA graph on CUDA, "
        "inductor on the CPU); aot_eager / eager: dynamo tracing only (fast CPU rehearsal)",
    )
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop and write by then")
    ap.add_argument("--wheels", default=str(WHEELS))
    ap.add_argument("--no-install", action="store_true", help="never install the wheels")
    ap.add_argument("--fetch-wheels", action="store_true", help="download the wheels and exit")
    return ap.parse_args(argv)


# -- wheels ------------------------------------------------------------------------------------
def fetch_wheels(dest: Path) -> int:
    """pip download the pinned wheels for CPython 3.12 on x86-64 Linux into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", "3.12", "--implementation", "cp", "--abi", "cp312"]
    for plat in PLATFORM:
        cmd += ["--platform", plat]
    cmd += ["-d", str(dest), *(f"{name}=={version}" for name, version in PINS.items())]
    print(" ".join(cmd), file=sys.stderr)
    rc = subprocess.call(cmd)
    wheels = sorted(dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels)
    for w in wheels:
        print(f"{w.stat().st_size / 1e6:7.2f} MB  {w.name}")
    print(f"{total / 1e6:7.2f} MB  in {dest}")
    return rc


def _dist_of(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower().replace("_", "-")


def ensure_diffusers(wheels_dir: Path, allow_install: bool, report: dict) -> None:
    """Make diffusers importable: as it is, or from the wheels in a temporary target."""
    if importlib.util.find_spec("diffusers") is not None:
        report["diffusers_source"] = "already installed"
        return
    if not allow_install:
        raise RuntimeError("diffusers is not importable and --no-install was given")
    wheels = sorted(wheels_dir.glob("*.whl"))
    if not wheels:
        raise RuntimeError(
            f"diffusers is not importable and {wheels_dir} has no wheels: run "
            "`python bench/gpu_check.py --fetch-wheels` where PyPI is reachable, then send "
            "bench/wheels along"
        )
    need = []
    for wheel in wheels:
        dist = _dist_of(wheel)
        module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
        if dist == "diffusers" or importlib.util.find_spec(module) is None:
            need.append(wheel)
    target = Path(tempfile.mkdtemp(prefix="hambajuba-gpu-check-"))
    how = None
    if importlib.util.find_spec("pip") is not None:
        cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet"]
        cmd += ["--disable-pip-version-check", "--find-links", str(wheels_dir)]
        cmd += ["--target", str(target), *map(str, need)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            how = "pip install --no-index --no-deps --target"
        else:
            report["warnings"].append(f"pip install failed: {done.stderr.strip()[-1000:]}")
    if how is None:  # no (working) pip: a wheel is a zip laid out for site-packages
        import zipfile

        for wheel in need:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(target)
        how = "unzipped (no working pip on this machine)"
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    report["diffusers_source"] = f"{how} into {target}: {', '.join(w.name for w in need)}"


def check_requirements(report: dict) -> None:
    """Warn about diffusers' runtime requirements this machine does not satisfy."""
    from importlib import metadata

    from packaging.requirements import Requirement

    for line in metadata.requires("diffusers") or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.name.lower().replace("_", "-") == "importlib-metadata":
            continue  # imported by diffusers only on Python < 3.8
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            report["warnings"].append(f"diffusers wants {req}; not installed here")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            report["warnings"].append(f"diffusers wants {req}; this machine has {have}")


# -- models with random weights ----------------------------------------------------------------
class _TokenIds:
    def __init__(self, ids):
        self.input_ids = ids


class ByteTokenizer:
    """Stands in for a CLIP tokenizer: the prompt's bytes as ids, padded to 77 tokens."""

    model_max_length = 77
    vocab = 258

    def __call__(self, prompt: str, max_length: int = 77, **_: Any) -> _TokenIds:
        import torch

        ids = [256, *list(prompt.encode())[: max_length - 2], 257]
        ids += [257] * (max_length - len(ids))
        return _TokenIds(torch.tensor([ids]))


class _EncoderOutput(tuple):
    hidden_states: tuple


def random_text_encoder(dim: int, pooled: bool, device, dtype, gen):
    """Stands in for CLIP-L (pooled=False) or OpenCLIP-bigG with projection (pooled=True):
    fixed random token and position embeddings; hidden_states[-2] is what SDXL reads."""
    import torch
    from torch import nn

    class RandomTextEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            kw = dict(device=device, dtype=dtype)
            self.token = nn.Parameter(torch.randn(ByteTokenizer.vocab, dim, generator=gen, **kw))
            self.position = nn.Parameter(torch.randn(77, dim, generator=gen, **kw) * 0.1)

        @property
        def device(self):
            return self.token.device

        def forward(self, ids, output_hidden_states: bool = True):
            h = self.token[ids] + self.position[: ids.shape[1]]
            out = _EncoderOutput((h.mean(1) if pooled else h,))
            out.hidden_states = (h * 0.5, h, h * 2.0)
            return out

    return RandomTextEncoder().eval().requires_grad_(False)


def init_random_(module, gen) -> None:
    """Fill every parameter in place: weights N(0, 1/fan_in), norm scales 1, biases 0."""
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, p[0].numel() ** -0.5, generator=gen)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def build_models(device, dtype, tiny: bool, seed: int = 0, size: int = 512):
    """(SdxlModels, SAEs, description) with random weights, built on meta, filled on device."""
    import diffusers
    import torch
    from diffusers import AutoencoderTiny, EulerAncestralDiscreteScheduler, UNet2DConditionModel

    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import tiny_sdxl

    from hambajuba_tui.engine.models import SdxlModels
    from hambajuba_tui.engine.sae import SaeWeights
    from hambajuba_tui.vocab import BLOCKS

    diffusers.utils.logging.set_verbosity_error()  # no "keep in float32" chatter on .to()
    unet_cfg = tiny_sdxl.TINY_UNET if tiny else tiny_sdxl.SDXL_UNET
    taesd_cfg = tiny_sdxl.TINY_TAESD if tiny else {}
    text = (tiny_sdxl.TEXT_DIM_1, tiny_sdxl.TEXT_DIM_2) if tiny else (768, 1280)
    gen = torch.Generator(device).manual_seed(seed)

    def make(cls, **cfg):
        with torch.device("meta"):
            module = cls(**cfg)
        module = module.to(dtype).to_empty(device=device)
        init_random_(module, gen)
        return module.eval().requires_grad_(False)

    unet = make(UNet2DConditionModel, **unet_cfg)
    taesd = make(AutoencoderTiny, **taesd_cfg)
    with torch.no_grad():  # calibrate: decoded pixels spread around mid-grey, not all clamped
        side = size // 8
        latent = torch.randn(1, 4, side, side, device=device, dtype=dtype, generator=gen) * 3
        raw = taesd.decode(latent, return_dict=False)[0].float()
        last = taesd.decoder.layers[-1]
        last.weight.mul_(0.5 / max(float(raw.std()), 1e-3))
        last.bias.zero_()
    width = unet_cfg["block_out_channels"][-1]
    n_dirs = 5120
    saes = {}
    for block in BLOCKS:
        dec = torch.randn(width, n_dirs, device=device, generator=gen)
        dec /= dec.norm(dim=0, keepdim=True)
        mean = torch.rand(n_dirs, device=device, generator=gen) * 3 + 0.5
        empty = torch.empty(0)
        saes[block] = SaeWeights(
            decoder=dec.to(dtype),
            mean=mean.to(dtype),
            encoder=empty,
            pre_bias=empty,
            latent_bias=empty,
            path=Path("random"),
        )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    te1 = random_text_encoder(text[0], False, device, torch.float32, gen)
    te2 = random_text_encoder(text[1], True, device, torch.float32, gen)
    tok = ByteTokenizer()
    models = SdxlModels(unet, taesd, "taesd", te1, te2, tok, tok, scheduler, device, dtype)
    n_unet = sum(p.numel() for p in unet.parameters())
    about = {
        "weights": "random (tiny same-architecture test configs)"
        if tiny
        else "random (full SDXL-Turbo architecture)",
        "unet_params": n_unet,
        "taesd_decoder_params": sum(p.numel() for p in taesd.decoder.parameters()),
        "sae_shape": [width, n_dirs],
        "text_encoders": "random stand-ins with CLIP's output shapes (run once per scene)",
        "dtype": str(dtype).replace("torch.", ""),
    }
    return models, saes, about


# -- the workload ------------------------------------------------------------------------------
class Workload:
    """FrameParams as a function of the frame index, so eager and compiled see the same frames.

    All four blocks steered (strength 2…14), each block's soft-disc mask moving, θ walking,
    the scene blend swinging, two blocks mixing a second feature, every block's features
    changing every ``feature_every`` frames, a new seed every ``reseed_every`` frames.
    """

    def __init__(self, n_dirs: int, feature_every: int, reseed_every: int, seed: int) -> None:
        import numpy as np

        from hambajuba_tui.bridge.params import FrameParams

        rng = np.random.default_rng(1234)
        self.np = np
        self.features = rng.integers(0, n_dirs, (1024, 4), dtype=np.int32)
        self.mixes = rng.integers(0, n_dirs, (1024, 4), dtype=np.int32)
        self.phases = rng.uniform(0, 2 * np.pi, 4).astype(np.float32)
        self.feature_every, self.reseed_every, self.seed = feature_every, reseed_every, seed
        self.p = FrameParams()
        self.yy, self.xx = np.mgrid[0:16, 0:16].astype(np.float32) / 15.0
        self.reset()

    def reset(self) -> None:
        """Count feature changes and reseeds afresh."""
        self.feature_changes = 0
        self.reseeds = 0
        self.last_features: tuple | None = None

    def seed_at(self, i: int) -> int:
        return self.seed + i // self.reseed_every

    def params(self, i: int):
        np, p = self.np, self.p
        p.t = i / 30.0
        p.theta = 0.05 * i
        p.scene_t = 0.5 + 0.5 * math.sin(0.05 * i)
        p.strengths[:] = 8.0 + 6.0 * np.sin(0.2 * i + self.phases)
        k = (i // self.feature_every) % len(self.features)
        p.feature_ids[:] = self.features[k]
        p.mix_ids[:] = self.mixes[k]
        p.mix_weights[:] = (0.3, 0.0, 0.0, 0.5)
        for b in range(4):
            a = 0.07 * i + b * math.pi / 2
            cx, cy = 0.5 + 0.3 * math.cos(a), 0.5 + 0.3 * math.sin(a)
            d2 = (self.xx - cx) ** 2 + (self.yy - cy) ** 2
            p.masks[b] = np.clip(1.2 - d2 / 0.12, 0.0, 1.0)
        return p


class Reseeder:
    """New seed noise in place (the compiled graph keeps reading the same buffers): the same
    CPU-generator draws as ``SdxlTurboEngine.__init__``, written into two pinned host buffers
    made once and copied to the device without a host sync."""

    def __init__(self, engine) -> None:
        import torch

        pin = engine.device.type == "cuda"
        self.engine = engine
        self.a = torch.empty(engine.noise_a.shape, pin_memory=pin)
        self.b = torch.empty(engine.noise_b.shape, pin_memory=pin)

    def __call__(self, seed: int) -> None:
        import torch

        engine = self.engine
        if hasattr(engine, "reseed"):  # the engine's own, once it has one
            engine.reseed(seed)
            return
        gen = torch.Generator("cpu").manual_seed(seed)
        torch.randn(self.a.shape, generator=gen, out=self.a)
        torch.randn(self.b.shape, generator=gen, out=self.b)
        engine.noise_a, engine.noise_b, engine.seed = self.a, self.b, seed
        engine.step.noise_a.copy_(self.a, non_blocking=True)
        engine.step.noise_b.copy_(self.b, non_blocking=True)


def run_frames(
    engine, wl: Workload, reseed: Reseeder, start: int, n: int, out, keep=False, mark=None
):
    """Frames start … start+n−1 through ``engine.generate``; (seconds per frame, frames).
    ``mark``: a context-manager factory wrapped around each frame (the profiler's labels)."""
    from time import perf_counter

    mark = mark or contextlib.nullcontext
    times, frames = [], []
    for i in range(start, start + n):
        seed = wl.seed_at(i)
        if seed != engine.seed:
            reseed(seed)  # the previous frame is done (generate waited): the buffers are free
            wl.reseeds += 1
        p = wl.params(i)
        features = tuple(p.feature_ids.tolist())
        if wl.last_features is not None and features != wl.last_features:
            wl.feature_changes += 1
        wl.last_features = features
        t0 = perf_counter()
        with mark():
            engine.generate(p, out)
        times.append(perf_counter() - t0)
        if keep:
            frames.append(out.copy())
    return times, frames


def summary_ms(times: list[float]) -> dict[str, float]:
    import numpy as np

    ms = np.asarray(times) * 1e3
    return {
        "mean": round(float(ms.mean()), 3),
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "frames": len(times),
    }


@contextlib.contextmanager
def sync_watch(cuda: bool):
    """CUDA: torch's sync debug mode "warn" for the frames; yields the list of warnings."""
    import warnings

    import torch

    if not cuda:
        yield []
        return
    syncs: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield syncs
        finally:
            torch.cuda.set_sync_debug_mode("default")
            syncs.extend(w for w in caught if "synchroniz" in str(w.message).lower())


@contextlib.contextmanager
def unsteered(engine):
    """The original attention blocks back in the UNet (no steering wrappers), for timing."""
    from hambajuba_tui.engine import steering

    saved = []
    for block, wrapper in engine.blocks.items():
        container, _, idx = steering.block_module(engine.models.unet, block)
        container[idx] = wrapper.inner
        saved.append((container, idx, wrapper))
    try:
        yield
    finally:
        for container, idx, wrapper in saved:
            container[idx] = wrapper


def timer(cuda: bool):
    import torch

    def time_it(fn, reps: int) -> float:
        fn()
        if cuda:
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / reps
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t0) * 1e3 / reps

    return time_it


def stage_split(engine, wl: Workload, i: int, reps: int) -> dict[str, float]:
    """Eager ms by stage, mirroring ``SdxlStep.forward`` piece by piece (device time on CUDA)."""
    import numpy as np
    import torch

    cuda = engine.device.type == "cuda"
    time_it = timer(cuda)
    step = engine.step
    p = wl.params(i)
    out = np.empty((engine.height, engine.width, 3), np.uint8)
    with torch.no_grad():
        engine.render(p)  # the frame's params are in the device buffers now
        noisy = step.latents()
        emb, pooled = step.scene()
        x_in = (noisy / step.in_scale).to(step.dtype)
        cond = {"text_embeds": pooled, "time_ids": step.time_ids}

        def unet():
            return step.unet(
                x_in,
                step.timestep,
                encoder_hidden_states=emb,
                added_cond_kwargs=cond,
                return_dict=False,
            )[0]

        x0 = noisy - step.sigma * unet().float()
        latent = (x0 / step.scaling).to(step.decoder_dtype)
        image = step()

        def decode():
            return step.decoder.decode(latent, return_dict=False)[0]

        def copy():
            if cuda:
                engine._host.copy_(image, non_blocking=True)
            else:
                torch.from_numpy(out).copy_(image)

        def pack():
            for k, block in enumerate(engine.blocks):
                engine.blocks[block].set_feature(0, int(p.feature_ids[k]))
            engine._pack(p)

        ms = {"unet_steered": time_it(unet, reps)}
        with unsteered(engine):
            ms["unet_unsteered"] = time_it(unet, reps)
        ms["taesd_decode"] = time_it(decode, reps)
        ms["copy_to_host"] = time_it(copy, reps)
        ms["step_on_device"] = time_it(step, reps)
        t0 = time.perf_counter()
        for _ in range(max(reps, 20)):
            pack()
        ms["host_pack"] = (time.perf_counter() - t0) * 1e3 / max(reps, 20)
    ms["steering_overhead"] = ms["unet_steered"] - ms["unet_unsteered"]
    ms["rest_on_device"] = ms["step_on_device"] - ms["unet_steered"] - ms["taesd_decode"]
    ms["rest_note"] = "noise composition, scene SLERP, Euler step, uint8 conversion"
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in ms.items()}


def compare(eager: list, compiled: list) -> dict[str, Any]:
    import numpy as np

    maxes, means, p99s = [], [], []
    for a, b in zip(eager, compiled, strict=True):
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        maxes.append(int(d.max()))
        means.append(float(d.mean()))
        p99s.append(float(np.percentile(d, 99)))
    first, last = eager[0].astype(np.int16), eager[-1].astype(np.int16)
    return {
        "max_abs_diff": max(maxes),
        "mean_abs_diff": round(float(np.mean(means)), 4),
        "worst_frame_mean_abs_diff": round(max(means), 4),
        "p99_abs_diff": max(p99s),
        "frames_compared": len(maxes),
        "image_std": round(float(eager[-1].std()), 2),
        "frames_move": round(float(np.abs(first - last).mean()), 2),
        "diff_tolerance": {"mean_max": DIFF_MEAN_MAX, "p99_max": DIFF_P99_MAX},
    }


def _kernel_kind(name: str) -> str:
    n = name.lower()
    if "memcpy" in n or "memset" in n:
        return "memcpy"
    if any(k in n for k in ("flash", "fmha", "attention", "sdpa", "softmax")):
        return "attention"
    if any(k in n for k in ("fprop", "dgrad", "conv", "implicit", "winograd", "cudnn")):
        return "convolution"
    if any(k in n for k in ("gemm", "xmma", "cutlass", "cublas", "wgmma", "sm90", "sm80")):
        return "matmul"
    if "triton" in n:
        return "triton (fused pointwise / norms)"
    return "other"


def profile_frames(engine, wl: Workload, reseed, start: int, n: int, out_dir: Path) -> dict:
    """torch.profiler over n frames: top kernels (CUDA) or ops (CPU), syncs and launches."""
    import numpy as np
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = engine.device.type == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    frame = np.empty((engine.height, engine.width, 3), np.uint8)

    def mark():
        return record_function(FRAME_LABEL)

    with profile(activities=acts) as prof:
        times, _ = run_frames(engine, wl, reseed, start, n, frame, mark=mark)
    wall_ms = float(np.mean(times) * 1e3)
    averages = prof.key_averages()
    events = list(prof.events())
    spans = [(e.time_range.start, e.time_range.end) for e in events if e.name == FRAME_LABEL]
    counts: dict[str, int] = {}  # host-side CUDA runtime calls made inside the frames
    for e in events:
        host = e.name.startswith("cuda") and e.device_type != DeviceType.CUDA
        if host and any(a <= e.time_range.start <= b for a, b in spans):
            counts[e.name] = counts.get(e.name, 0) + 1
    result: dict[str, Any] = {"frames": n, "wall_ms_per_frame": round(wall_ms, 3)}
    sort = "self_cpu_time_total"
    if cuda:
        sort = (
            "self_device_time_total"
            if hasattr(averages[0], "self_device_time_total")
            else ("self_cuda_time_total")
        )
        kernels: dict[str, float] = {}
        calls: dict[str, int] = {}
        for e in events:
            if e.device_type == DeviceType.CUDA:
                us = e.time_range.elapsed_us()
                kernels[e.name] = kernels.get(e.name, 0.0) + us
                calls[e.name] = calls.get(e.name, 0) + 1
        busy = sum(kernels.values()) / 1e3 / n
        kinds: dict[str, float] = {}
        for name, us in kernels.items():
            kinds[_kernel_kind(name)] = kinds.get(_kernel_kind(name), 0.0) + us / 1e3 / n
        top = sorted(kernels.items(), key=lambda kv: -kv[1])[:25]
        result["top_kernels"] = [
            {
                "name": name[:160],
                "ms_per_frame": round(us / 1e3 / n, 4),
                "calls_per_frame": round(calls[name] / n, 2),
                "share": round(us / 1e3 / n / busy, 4) if busy else None,
            }
            for name, us in top
        ]
        result["gpu_busy_ms_per_frame"] = round(busy, 3)
        result["by_kind_ms_per_frame"] = {k: round(v, 3) for k, v in sorted(kinds.items())}
        syncs = {name: counts.get(name, 0) / n for name in SYNC_NAMES if counts.get(name)}
        result["frames_seen"] = len(spans)
        result["cuda_calls_per_frame"] = {k: round(v / n, 3) for k, v in sorted(counts.items())}
        result["syncs_per_frame_by_call"] = syncs
        if counts and len(spans) == n:
            result["host_syncs_per_frame"] = round(sum(syncs.values()), 3)
        else:  # the profiler saw no CUDA runtime calls: it cannot count syncs here
            result["host_syncs_per_frame"] = None
            result["sync_count_note"] = "the profiler recorded no CUDA runtime calls in frames"
        result["graph_launches_per_frame"] = counts.get("cudaGraphLaunch", 0) / n
        result["kernel_launches_per_frame"] = counts.get("cudaLaunchKernel", 0) / n
        idle = max(wall_ms - busy, 0.0)
        shares = ", ".join(
            f"{k} {v / busy:.0%}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]) if busy
        )
        result["where_time_goes"] = (
            f"wall {wall_ms:.2f} ms/frame, GPU busy {busy:.2f} ms ({busy / wall_ms:.0%}), "
            f"GPU idle {idle:.2f} ms (launch / host / sync gaps); GPU time: {shares}"
        )
    else:
        top = sorted(averages, key=lambda e: -e.self_cpu_time_total)[:25]
        result["top_ops"] = [
            {
                "name": e.key[:160],
                "ms_per_frame": round(e.self_cpu_time_total / 1e3 / n, 4),
                "calls_per_frame": round(e.count / n, 2),
            }
            for e in top
        ]
    try:
        table = averages.table(sort_by=sort, row_limit=40, max_name_column_width=80)
    except Exception as exc:  # table formatting differs between versions
        table = f"(no table: {exc})"
    (out_dir / "profile_top.txt").write_text(
        f"{n} frames, wall {wall_ms:.3f} ms/frame, sorted by {sort}\n\n{table}\n"
    )
    return result


# -- the run -----------------------------------------------------------------------------------
class Check:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.t0 = time.perf_counter()
        self.failures: list[str] = []
        self.r: dict[str, Any] = {
            "name": "gpu_check",
            "ok": None,
            "phase": "start",
            "errors": [],
            "warnings": [],
            "device": None,
            "size": args.size,
            "tiny": args.tiny,
            "fps_eager": None,
            "fps_compiled": None,
            "recompiles": None,
            "max_abs_diff": None,
            "peak_mem_gb": None,
            "stages_ms": None,
            "host_syncs_per_frame": None,
            "budget_s": args.budget_s,
            "timings_s": {},
            "args": vars(args),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }

    def save(self) -> None:
        self.r["timings_s"]["total"] = round(time.perf_counter() - self.t0, 2)
        path = self.out / "gpu_check.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.r, indent=1, default=str))
        tmp.replace(path)

    @contextlib.contextmanager
    def phase(self, name: str):
        self.r["phase"] = name
        self.save()
        print(f"[{time.perf_counter() - self.t0:7.1f} s] {name}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            yield
        finally:
            self.r["timings_s"][name] = round(time.perf_counter() - t, 2)
            self.save()

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.t0)

    def run(self) -> None:
        a, r = self.args, self.r
        with self.phase("import"):
            for path in (str(ROOT), str(ROOT / "tests")):
                if path not in sys.path:
                    sys.path.insert(0, path)
            import torch

            r["torch"] = torch.__version__
            r["torch_cuda"] = torch.version.cuda
            ensure_diffusers(Path(a.wheels), not a.no_install, r)
            import diffusers
            import numpy as np

            r["diffusers"] = diffusers.__version__
            r["numpy"] = np.__version__
            check_requirements(r)
            from hambajuba_tui.engine.sdxl import SdxlTurboEngine

            device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
            cuda = device.type == "cuda"
            r["device_type"] = device.type
            r["device"] = torch.cuda.get_device_name(device) if cuda else "cpu"
            if cuda:
                r["capability"] = list(torch.cuda.get_device_capability(device))
                r["cudnn"] = torch.backends.cudnn.version()
                r["cudnn_benchmark"] = torch.backends.cudnn.benchmark
            r["torch_threads"] = torch.get_num_threads()

        with self.phase("build"):
            auto = torch.float16 if cuda else torch.float32
            dtype = auto if a.dtype == "auto" else getattr(torch, a.dtype)
            models, saes, about = build_models(device, dtype, a.tiny, a.seed, a.size)
            r["model"] = about
            own_compile = a.backend == "engine"
            engine = SdxlTurboEngine(models, saes, a.size, a.size, seed=a.seed, compile=own_compile)
            engine.set_scenes("a creature dancing in neon rain", "a quiet forest at dawn")
            if own_compile:
                compiled = engine._run
                mode = "'reduce-overhead' (CUDA graph)" if engine.cuda_graphs else "None"
                r["compile"] = {
                    "how": "the engine's own torch.compile(engine.step, fullgraph=True, "
                    f"dynamic=False, mode={mode})",
                    "cuda_graphs": engine.cuda_graphs,
                }
            else:
                compiled = torch.compile(
                    engine.step, fullgraph=True, dynamic=False, backend=a.backend
                )
                r["compile"] = {
                    "how": f"torch.compile(engine.step, fullgraph=True, dynamic=False, "
                    f"backend={a.backend!r}): dynamo tracing and guards only, no inductor "
                    "code (a rehearsal: inductor's CPU compile takes minutes on a small host)",
                    "cuda_graphs": False,
                }
            engine._run = engine.step  # eager first; the compiled step is swapped in later
            if cuda:
                torch.cuda.synchronize()
            n_dirs = next(iter(saes.values())).n_dirs
            wl = Workload(n_dirs, a.feature_every, a.reseed_every, a.seed)
            reseed = Reseeder(engine)
            r["reseed"] = (
                "SdxlTurboEngine.reseed"
                if hasattr(engine, "reseed")
                else "in place by the check (the engine has no reseed method): the same CPU "
                "draws as SdxlTurboEngine.__init__, pinned, copied without a host sync"
            )
            frame = np.empty((a.size, a.size, 3), np.uint8)

        with self.phase("eager"):
            run_frames(engine, wl, reseed, 0, a.warmup, frame)
            reseed(a.seed)
            wl.reset()
            with sync_watch(cuda) as caught:
                times, eager_frames = run_frames(engine, wl, reseed, 0, a.frames, frame, True)
            r["ms_eager"] = summary_ms(times)
            r["fps_eager"] = round(1e3 / r["ms_eager"]["mean"], 3)
            r["eager_implicit_syncs"] = len(caught) if cuda else None
            r["workload"] = {
                "frames": a.frames,
                "feature_every": a.feature_every,
                "reseed_every": a.reseed_every,
                "feature_changes": wl.feature_changes,
                "reseeds": wl.reseeds,
                "blocks_steered": 4,
                "masks_moving": True,
                "scene_blend_moving": True,
                "theta_moving": True,
            }

        with self.phase("stages"):
            r["stages_ms"] = stage_split(engine, wl, a.frames, a.stage_reps)
            r["stages_ms"]["timing"] = (
                "eager, CUDA events (device time)" if cuda else "eager, wall clock"
            )

        from torch._dynamo.utils import counters

        with self.phase("compile"):
            engine._run = compiled
            graphs0 = counters["stats"]["unique_graphs"]
            t = time.perf_counter()
            engine.warmup()  # compile, then (CUDA graphs) record and replay once
            r["compile_s"] = round(time.perf_counter() - t, 2)
            r["compiled_graphs"] = counters["stats"]["unique_graphs"] - graphs0

        with self.phase("compiled"):
            graphs1 = counters["stats"]["unique_graphs"]
            reseed(a.seed)  # the eager frames again, from the same seed
            wl.reset()
            with sync_watch(cuda) as caught:
                _, compiled_frames = run_frames(engine, wl, reseed, 0, a.frames, frame, True)
            r["compiled_implicit_syncs"] = len(caught) if cuda else None
            if caught:
                r["implicit_sync_examples"] = sorted({str(w.message)[:200] for w in caught})[:5]
            r.update(compare(eager_frames, compiled_frames))
            del eager_frames, compiled_frames
            r["recompiles"] = counters["stats"]["unique_graphs"] - graphs1
            self.save()
            times, _ = run_frames(engine, wl, reseed, a.frames, a.timed_frames, frame)
            r["ms_compiled"] = summary_ms(times)
            r["fps_compiled"] = round(1e3 / r["ms_compiled"]["mean"], 3)
            r["recompiles"] = counters["stats"]["unique_graphs"] - graphs1
            r["workload"]["compiled_feature_changes"] = wl.feature_changes
            r["workload"]["compiled_reseeds"] = wl.reseeds
            r["workload"]["compiled_frames"] = a.frames + a.timed_frames
            r["inductor_counters"] = {
                k: v for k, v in counters["inductor"].items() if "cudagraph" in k
            }

        if cuda:
            r["sync_check"] = (
                "implicit syncs during frames: torch.cuda.set_sync_debug_mode('warn'); "
                "explicit: the profiler's count of " + ", ".join(SYNC_NAMES) + " per frame"
            )
            r["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
            r["peak_mem_reserved_gb"] = round(torch.cuda.max_memory_reserved(device) / 1e9, 3)
            r["meets_target_fps"] = r["fps_compiled"] >= a.target_fps
        else:
            import resource

            r["sync_check"] = (
                "skipped: CPU run (host syncs exist only with a CUDA device; there, "
                "set_sync_debug_mode('warn') and the profiler's CUDA runtime calls count them)"
            )
            r["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)
            r["peak_mem_note"] = "no GPU: peak_mem_gb is null; peak_rss_gb is the process's"
        self.verdict()  # before the profiler, in case it takes the process down

        if a.profile_frames > 0 and self.left() > 20:
            with self.phase("profile"):
                try:
                    start = a.frames + a.timed_frames
                    prof = profile_frames(engine, wl, reseed, start, a.profile_frames, self.out)
                    r["profile"] = prof
                    r["host_syncs_per_frame"] = prof.get("host_syncs_per_frame")
                    if "where_time_goes" in prof:
                        r["where_time_goes"] = prof["where_time_goes"]
                except Exception as exc:  # the profiler is a diagnostic, not a check
                    r["warnings"].append(f"profiler failed: {type(exc).__name__}: {exc}")

    def verdict(self, final: bool = False) -> None:
        """ok / errors from what has been measured so far (run failures included)."""
        r, errors = self.r, []
        cuda = r.get("device_type") == "cuda"
        if r["recompiles"] not in (0, None):
            errors.append(f"recompiles: {r['recompiles']} (expected 0)")
        if r.get("compiled_graphs") not in (1, None):
            errors.append(f"compiled graphs: {r['compiled_graphs']} (expected 1: fullgraph)")
        if r.get("mean_abs_diff") is not None and (
            r["mean_abs_diff"] > DIFF_MEAN_MAX or r["p99_abs_diff"] > DIFF_P99_MAX
        ):
            errors.append(
                f"compiled ≠ eager: mean {r['mean_abs_diff']}, p99 {r['p99_abs_diff']} levels"
            )
        if cuda:
            if r.get("compiled_implicit_syncs"):
                errors.append(
                    f"implicit host syncs in compiled frames: {r['compiled_implicit_syncs']}"
                )
            syncs = r["host_syncs_per_frame"]
            if syncs is None and final:
                r["warnings"].append("host syncs per frame were not counted (see profile)")
            elif syncs is not None and abs(syncs - 1) > 1e-9:
                errors.append(f"host syncs per frame: {syncs} (expected 1)")
            if r.get("inductor_counters", {}).get("cudagraph_skips"):
                errors.append("CUDA graphs were skipped (see stderr for inductor's reason)")
        r["errors"] = self.failures + errors
        r["ok"] = not r["errors"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fetch_wheels:
        return fetch_wheels(Path(args.wheels))
    check = Check(args)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(max(int(args.budget_s), 1))
    code = 0
    try:
        check.run()
    except BudgetExceeded:
        check.failures.append(
            f"budget of {args.budget_s:.0f} s ran out during phase {check.r['phase']!r}; "
            "the figures above it are complete"
        )
        code = 3
    except Exception as exc:
        check.failures.append(f"{type(exc).__name__}: {exc}")
        check.r["traceback"] = traceback.format_exc()[-4000:]
        code = 2
    finally:
        signal.alarm(0)
    check.verdict(final=True)
    check.r["phase"] = "done"
    check.save()
    r = check.r
    if code == 0 and not r["ok"]:
        code = 1
    print(
        f"\ngpu_check on {r['device']} at {r['size']}²: eager {r['fps_eager']} fps, compiled "
        f"{r['fps_compiled']} fps, recompiles {r['recompiles']}, max |Δ| {r['max_abs_diff']}, "
        f"syncs/frame {r['host_syncs_per_frame']}, peak {r['peak_mem_gb']} GB — "
        f"{'ok' if r['ok'] else 'NOT ok: ' + '; '.join(r['errors'])}",
        file=sys.stderr,
    )
    if r.get("where_time_goes"):
        print(f"where the time goes: {r['where_time_goes']}", file=sys.stderr)
    print(json.dumps(r, default=str), flush=True)
    if code == 3:  # inductor's compile workers may still be busy: do not wait for them
        sys.stdout.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
