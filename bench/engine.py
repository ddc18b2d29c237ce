"""Frames per second of each engine at several sizes.

    python bench/engine.py [--sizes 128 256 512] [--seconds 2] [--threads 1] [--engines preview]

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
    return ap.parse_args(argv)


def _make_preview(size: int) -> Any:
    from hambajuba_tui.engine.preview import PreviewEngine

    return PreviewEngine(width=size, height=size, seed=0)


ENGINES: dict[str, Callable[[int], Any]] = {"preview": _make_preview}
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


def time_engine(factory: Callable[[int], Any], size: int, seconds: float) -> dict[str, Any]:
    import numpy as np

    engine = factory(size)
    out = np.empty((size, size, 3), np.uint8)
    step = _workload()
    for i in range(5):  # warm-up: first directions, caches, BLAS init
        engine.generate(step(i), out)
    times = []
    i = 5
    start = time.perf_counter()
    while True:
        p = step(i)
        t0 = time.perf_counter()
        engine.generate(p, out)
        times.append(time.perf_counter() - t0)
        i += 1
        if time.perf_counter() - start >= seconds and len(times) >= 10:
            break
    ms = np.asarray(times) * 1e3
    mean = float(ms.mean())
    return {
        "size": size,
        "fps": round(1e3 / mean, 1),
        "ms_per_frame": round(mean, 4),
        "ms_p50": round(float(np.percentile(ms, 50)), 4),
        "ms_p95": round(float(np.percentile(ms, 95)), 4),
        "frames": len(times),
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
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported (below, lazily)
    if "numpy" in sys.modules:
        print("warning: numpy was imported before the thread limit was set", file=sys.stderr)

    machine = machine_info(args.threads)
    reports = []
    for name in args.engines:
        results = [time_engine(ENGINES[name], size, args.seconds) for size in args.sizes]
        report = {"name": "engine", "engine": name, "results": results, "machine": machine}
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
