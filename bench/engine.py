"""Frames per second of each engine at several sizes.

    python bench/engine.py [--sizes 128 256 512] [--seconds 2] [--threads 1] [--engines preview]
    python bench/engine.py --engines sdxl-tiny sdxl-tiny-compiled --sizes 512
    python bench/engine.py --engines sdxl-full --sizes 512 --min-frames 1 --warmup 1   # CPU
    python bench/engine.py --engines sdxl-full sdxl-full-compiled --sizes 512          # GPU

sdxl engines: ``sdxl-tiny`` is the same architecture as SDXL-Turbo scaled down (the test
models, written to a temp Hugging Face cache and loaded through the real loading code);
``sdxl-full`` is the full SDXL-Turbo architecture (UNet 2.57 B parameters, TAESDXL, SAEs
1280 × 5120) with RANDOM weights, built from configs (fp16 on CUDA, float32 on CPU): the cost
per frame does not depend on the weights. ``-compiled`` runs the step through torch.compile
(fullgraph; reduce-overhead = CUDA graph on CUDA). All four blocks are steered, masks on.

Each engine is timed on a moving workload (θ walking, strengths pulsing every frame, a feature
changing now and then, masks and scene blend drifting), like a song would drive it. Prints one
JSON line per engine — ``{"name": "engine", "engine": ..., "results": [{"size", "fps",
"ms_per_frame", ...}], "machine": {...}}`` — then a short human table.

BLAS/OpenMP threads are pinned (default 1, i.e. one core) before numpy is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per engine and size")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    ap.add_argument("--engines", nargs="+", default=["preview"], choices=sorted(ENGINES))
    ap.add_argument("--warmup", type=int, default=5, help="untimed frames first (default 5)")
    ap.add_argument("--min-frames", type=int, default=10, help="timed frames at least (10)")
    ap.add_argument(
        "--text-layers",
        type=int,
        default=None,
        help="sdxl-full: text encoder layers (default: the real 12 / 32; they run "
        "once per scene, not per frame, so fewer saves memory on small hosts)",
    )
    return ap.parse_args(argv)


def _make_preview(size: int) -> Any:
    from hambajuba_tui.engine.preview import PreviewEngine

    return PreviewEngine(width=size, height=size, seed=0)


def _make_sdxl_tiny(size: int, compiled: bool = False) -> Any:
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import tiny_sdxl

    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    home = Path(tempfile.mkdtemp(prefix="hambajuba-bench-hf-"))
    tiny_sdxl.install(home / "hub")
    os.environ["HF_HOME"], os.environ["HF_HUB_OFFLINE"] = str(home), "1"
    return SdxlTurboEngine.load(width=size, height=size, seed=0, compile=compiled)


def _make_sdxl_full(size: int, compiled: bool = False, text_layers: int | None = None) -> Any:
    """The full SDXL-Turbo architecture with random weights (stated in the report)."""
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import tiny_sdxl

    from hambajuba_tui.engine.models import pick_device
    from hambajuba_tui.engine.sdxl import SdxlTurboEngine

    device = pick_device()
    dtype = torch.float16 if device.type in ("cuda", "mps") else torch.float32
    torch.manual_seed(0)
    models, saes = tiny_sdxl.build_full(device, dtype, text_layers)
    params = sum(p.numel() for p in models.unet.parameters())
    print(
        f"sdxl-full: UNet {params / 1e9:.2f} B parameters, random weights, {dtype} on {device}",
        file=sys.stderr,
    )
    return SdxlTurboEngine(models, saes, width=size, height=size, seed=0, compile=compiled)


ENGINES: dict[str, Callable[[int], Any]] = {
    "preview": _make_preview,
    "sdxl-tiny": _make_sdxl_tiny,
    "sdxl-tiny-compiled": lambda size: _make_sdxl_tiny(size, compiled=True),
    "sdxl-full": _make_sdxl_full,
    "sdxl-full-compiled": lambda size: _make_sdxl_full(size, compiled=True),
}
"""Engine name → factory(size). Engines with extra modes (eager / compiled) add entries."""


def _workload(seed: int = 0) -> Callable[[int], Any]:
    """A per-frame params updater, mutating one FrameParams in place like the conductor."""
    import numpy as np

    from hambajuba_tui.bridge.params import FrameParams

    rng = np.random.default_rng(seed)
    p = FrameParams()
    p.feature_ids[:] = rng.integers(0, 5120, len(p.feature_ids))
    p.masks[:] = 1.0
    phases = rng.uniform(0, 2 * np.pi, len(p.strengths))

    def step(i: int) -> FrameParams:
        t = i / 30.0
        p.t = t
        p.theta = 0.15 * i
        p.scene_t = 0.5 + 0.5 * np.sin(0.3 * t)
        p.strengths[:] = 10.0 * np.sin(2.0 * t + phases)
        if i % 60 == 59:  # a feature change every ~2 s of a 30 fps show
            p.feature_ids[i // 60 % len(p.feature_ids)] = rng.integers(0, 5120)
        if i % 15 == 0:
            p.masks[0, :, : i % 16] = 0.0
            p.masks[0, :, i % 16 :] = 1.0
        return p

    return step


def time_engine(
    factory: Callable[[int], Any], size: int, seconds: float, warmup: int = 5, min_frames: int = 10
) -> dict[str, Any]:
    import numpy as np

    built = time.perf_counter()
    engine = factory(size)
    build_s = time.perf_counter() - built
    out = np.empty((size, size, 3), np.uint8)
    step = _workload()
    warm = time.perf_counter()
    for i in range(warmup):  # warm-up: first directions, caches, BLAS init, compilation
        engine.generate(step(i), out)
    warmup_s = time.perf_counter() - warm
    times = []
    i = warmup
    start = time.perf_counter()
    while True:
        p = step(i)
        t0 = time.perf_counter()
        engine.generate(p, out)
        times.append(time.perf_counter() - t0)
        i += 1
        if time.perf_counter() - start >= seconds and len(times) >= min_frames:
            break
    ms = np.asarray(times) * 1e3
    mean = float(ms.mean())
    return {
        "size": size,
        "fps": round(1e3 / mean, 3),
        "ms_per_frame": round(mean, 4),
        "ms_p50": round(float(np.percentile(ms, 50)), 4),
        "ms_p95": round(float(np.percentile(ms, 95)), 4),
        "frames": len(times),
        "build_s": round(build_s, 2),
        "warmup_s": round(warmup_s, 2),
        "warmup_frames": warmup,
        "image_std": round(float(out.std()), 2),
    }


def machine_info(threads: int) -> dict[str, Any]:
    import numpy as np

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "blas_threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        **_torch_info(),
    }


def _torch_info() -> dict[str, Any]:
    if "torch" not in sys.modules:
        return {}
    import torch

    info = {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    else:
        info["device"] = "cpu (no GPU)"
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported (below, lazily)
    if "numpy" in sys.modules:
        print("warning: numpy was imported before the thread limit was set", file=sys.stderr)

    if args.text_layers:
        ENGINES["sdxl-full"] = lambda size: _make_sdxl_full(size, text_layers=args.text_layers)
        ENGINES["sdxl-full-compiled"] = lambda size: _make_sdxl_full(
            size, compiled=True, text_layers=args.text_layers
        )
    reports = []
    for name in args.engines:
        results = [
            time_engine(ENGINES[name], size, args.seconds, args.warmup, args.min_frames)
            for size in args.sizes
        ]
        weights = {
            "sdxl-full": "random (full SDXL-Turbo architecture)",
            "sdxl-tiny": "random (tiny same-architecture test model)",
        }
        report = {
            "name": "engine",
            "engine": name,
            "results": results,
            "weights": next((w for k, w in weights.items() if name.startswith(k)), None),
            "compiled": name.endswith("-compiled"),
            "machine": machine_info(args.threads),
        }
        print(json.dumps(report), flush=True)
        reports.append(report)

    print()
    print(f"engine    size    fps      ms/frame  p95 ms   ({args.threads} BLAS thread(s))")
    for report in reports:
        for r in report["results"]:
            print(
                f"{report['engine']:<9} {r['size']:>4}  {r['fps']:>8.1f}  "
                f"{r['ms_per_frame']:>8.3f}  {r['ms_p95']:>7.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
