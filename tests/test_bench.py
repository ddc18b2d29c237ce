"""The benchmarks still run against the current code and print their JSON line.

(Smoke runs with tiny settings; the figures themselves are for people, not asserted.)
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "script, args, fields",
    [
        ("engine.py", ["--sizes", "64", "--seconds", "0.2"], ["results"]),
        ("bridge.py", ["--steps", "200"], ["us_mean", "blocks_routed"]),
        ("graphics.py", ["--sizes", "48", "--frames", "2", "--no-e2e"], ["encode"]),
        (
            "panels.py",
            ["--synthetic", "--edits", "2", "--concept-queries", "0"],
            ["keystroke_ms", "edit_to_frame_ms"],
        ),
        (
            "live.py",
            [
                "--minutes",
                "0.1",
                "--realtime-seconds",
                "2",
                "--rss-minutes",
                "0.1",
                "--bursts",
                "2",
            ],
            ["realtime_cpu_pct_512", "fast_pass_s_per_min", "memory", "latency"],
        ),
        ("render.py", ["--size", "64", "--seconds", "0.5"], ["results"]),
        (
            "remote.py",
            ["--engines", "preview", "--clients", "1", "--seconds", "1", "--size", "48"],
            ["results", "jpeg_256"],
        ),
    ],
)
@pytest.mark.slow
def test_bench_prints_a_json_line(script, args, fields):
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("{"))
    result = json.loads(line)
    assert all(f in result for f in fields) and "machine" in result
