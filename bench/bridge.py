"""Bridge benchmark: µs per conductor step with four routed blocks, on the demo song's analysis.

    python bench/bridge.py [--steps 20000]

Prints one JSON line (name, figures, machine) and a short table. The analysis is computed
once (cached under the user cache dir) so the figure is the conductor alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    args = ap.parse_args()

    from hambajuba_tui.audio.analysis import analyze
    from hambajuba_tui.audio.demo_song import write_demo_song
    from hambajuba_tui.bridge.conductor import Conductor
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.paths import demo_dir

    analysis = analyze(write_demo_song(demo_dir()))
    session = load_pack().session()
    conductor = Conductor(analysis, session)
    times = np.arange(args.steps) / 30.0 % analysis.duration
    for t in times[:300]:  # warm up
        conductor.step(float(t))
    conductor = Conductor(analysis, session)
    per_step = np.empty(args.steps)
    for i, t in enumerate(times):
        start = time.perf_counter()
        conductor.step(float(t))
        per_step[i] = time.perf_counter() - start
    us = per_step * 1e6
    result = {
        "name": "bridge",
        "blocks_routed": sum(b.source is not None for b in session.blocks),
        "stems_with_signals": len({k.split(".")[0] for k in analysis.signals}),
        "steps": args.steps,
        "us_mean": round(float(us.mean()), 2),
        "us_p50": round(float(np.percentile(us, 50)), 2),
        "us_p99": round(float(np.percentile(us, 99)), 2),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    print(json.dumps(result))
    print(f"{'blocks':>6}{'stems':>7}{'mean µs':>10}{'p50 µs':>9}{'p99 µs':>9}")
    print(
        f"{result['blocks_routed']:>6}{result['stems_with_signals']:>7}{result['us_mean']:>10.1f}"
        f"{result['us_p50']:>9.1f}{result['us_p99']:>9.1f}"
    )


if __name__ == "__main__":
    main()
