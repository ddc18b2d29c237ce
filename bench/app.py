"""End-to-end benchmark: frames shown per second and A/V offset of a headless demo run.

Runs the real CLI (`hambajuba demo --headless`) so it measures the same processes a user gets:
analysis (cached after the first run), the spawned engine worker, the frame ring, the clock.
Prints one JSON line, then a short table.

    python bench/app.py [--seconds 10] [--size 256] [--fps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "hambajuba_tui.cli",
            "demo",
            "--headless",
            "--seconds",
            str(args.seconds),
            "--size",
            str(args.size),
            "--fps",
            str(args.fps),
            "--frames-out",
            out,
            "--frames-every",
            "1000000",
        ]
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
        summary = json.loads((Path(out) / "summary.json").read_text())
    result = {
        "name": "app",
        "engine": summary["engine"],
        "size": args.size,
        "target_fps": args.fps,
        "shown_fps": summary["mean_fps"],
        "frames_generated": summary["frames_generated"],
        "frames_shown": summary["frames_shown"],
        "frames_dropped": summary["frames_dropped"],
        "gen_ms": summary["gen_ms"],
        "av_offset_ms": summary["av_offset_ms"],
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    print(json.dumps(result))
    print(
        f"{'engine':<10}{'size':>6}{'shown fps':>11}{'dropped':>9}{'gen ms':>8}"
        f"{'A/V mean ms':>13}{'A/V p95 ms':>12}"
    )
    print(
        f"{result['engine']:<10}{args.size:>6}{result['shown_fps']:>11.1f}"
        f"{result['frames_dropped']:>9}{result['gen_ms']:>8.2f}"
        f"{result['av_offset_ms']['mean']:>13.1f}{result['av_offset_ms']['p95']:>12.1f}"
    )


if __name__ == "__main__":
    main()
