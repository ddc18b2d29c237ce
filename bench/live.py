"""Live (streaming) analysis benchmark: what the causal analyser costs.

    python bench/live.py [--minutes 3] [--realtime-seconds 60] [--rss-minutes 1 10]

Sections (each a function that adds figures to the result; ``main`` runs them in order):

- ``realtime``: CPU seconds per second of audio (percent of one core) when the demo song is
  pushed as a live input would push it: 512-sample blocks, and 20 ms blocks (882 samples).
- ``fast_pass``: :func:`hambajuba_tui.audio.stream.analyse_fast` over a ``--minutes`` song (the
  built-in demo, synthesised at 124 BPM, repeated to length): CPU seconds per minute of audio,
  and the tempo it found.
- ``memory``: for each ``--rss-minutes``, in a fresh child process: the tracemalloc peak of
  the fast pass beyond its input (numpy arrays included), the RSS before it (song loaded) and
  the peak RSS during it (Linux: the peak is reset after the song is synthesised), with the
  sizes of the input and output arrays (memory should grow only by the output).
- ``latency``: from a sound reaching the capture callback to the first frame that reflects
  it, through the real listener, worker and preview engine, with its parts (see
  ``bench/live_latency.py``, which also runs alone).

CPU is ``time.process_time()`` (the host is shared; wall clock would measure the neighbours).
Prints one JSON line (name, figures, machine), then a short table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hambajuba_tui.audio.demo_song import synthesize_demo  # noqa: E402
from hambajuba_tui.audio.stream import StreamingAnalyser, analyse_fast  # noqa: E402

SR = 44100


def demo_audio(seconds: float) -> np.ndarray:
    """The demo song's mono mix (float32), repeated or cut to ``seconds``."""
    mono = synthesize_demo(SR).mix.mean(axis=1).astype(np.float32)
    n = int(seconds * SR)
    reps = -(-n // len(mono))
    return np.tile(mono, reps)[:n]


def realtime(args: argparse.Namespace, result: dict) -> None:
    x = demo_audio(args.realtime_seconds)
    for label, block in (("512", 512), ("20ms", SR // 50)):
        an = StreamingAnalyser(SR)
        start = time.process_time()
        for s in range(0, len(x), block):
            an.push(x[s : s + block])
        cpu = time.process_time() - start
        per_push = cpu / (len(x) / block)
        result[f"realtime_cpu_pct_{label}"] = round(100 * cpu / (len(x) / SR), 2)
        result[f"realtime_us_per_push_{label}"] = round(1e6 * per_push, 1)


def fast_pass(args: argparse.Namespace, result: dict) -> None:
    x = demo_audio(60 * args.minutes)
    start = time.process_time()
    values, summary = analyse_fast(x, SR)
    cpu = time.process_time() - start
    result["fast_pass_minutes"] = args.minutes
    result["fast_pass_s_per_min"] = round(cpu / args.minutes, 3)
    result["fast_pass_bpm"] = round(summary.bpm, 2)
    result["fast_pass_beats"] = int(len(summary.beats))
    result["signals"] = int(values.shape[0])


def _vm(key: str) -> float | None:
    """A ``/proc/self/status`` figure in MB (Linux), e.g. ``VmHWM`` (peak RSS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _memory_child(minutes: float) -> None:
    """Run in a child: one fast pass; print its memory figures as JSON."""
    x = demo_audio(60 * minutes)
    import gc

    gc.collect()
    try:  # reset the peak RSS, so it is the fast pass's, not the song synthesis's
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    rss_before = _vm("VmRSS")
    tracemalloc.start()
    values, _ = analyse_fast(x, SR)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "minutes": minutes,
                "traced_peak_mb": round(peak / 2**20, 1),
                "output_mb": round(values.nbytes / 2**20, 1),
                "input_mb": round(x.nbytes / 2**20, 1),
                "rss_before_mb": rss_before,
                "peak_rss_mb": _vm("VmHWM") if reset else None,
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def memory(args: argparse.Namespace, result: dict) -> None:
    rows = []
    for minutes in args.rss_minutes:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(minutes)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    result["memory"] = rows


def latency(args: argparse.Namespace, result: dict) -> None:
    """Capture -> frame latency and its parts (``bench/live_latency.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from live_latency import measure

    os.environ.setdefault("HAMBAJUBA_AUDIO", "none")
    result["latency"] = measure(args.bursts, fps=30.0, size=256)


SECTIONS = [realtime, fast_pass, memory, latency]
"""Run in order by main()."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--realtime-seconds", type=float, default=60.0)
    ap.add_argument("--rss-minutes", type=float, nargs="*", default=[1.0, 10.0])
    ap.add_argument("--bursts", type=int, default=8, help="latency: sounds to time")
    ap.add_argument("--memory-child", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child is not None:
        _memory_child(args.memory_child)
        return

    result: dict = {"name": "live"}
    for section in SECTIONS:
        section(args, result)
    result["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_avg": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))
    print(f"{'push':>8}{'CPU % of a core':>17}{'µs / push':>11}")
    for label in ("512", "20ms"):
        print(
            f"{label:>8}{result[f'realtime_cpu_pct_{label}']:>17.1f}"
            f"{result[f'realtime_us_per_push_{label}']:>11.0f}"
        )
    print(
        f"fast pass: {result['fast_pass_s_per_min']:.3f} s CPU per minute of audio "
        f"({result['fast_pass_minutes']:g} min, {result['fast_pass_bpm']} BPM)"
    )
    print(
        f"{'minutes':>8}{'traced peak MB':>16}{'output MB':>11}{'RSS before':>12}"
        f"{'peak RSS MB':>13}"
    )
    for row in result["memory"]:
        print(
            f"{row['minutes']:>8g}{row['traced_peak_mb']:>16.1f}{row['output_mb']:>11.1f}"
            f"{row['rss_before_mb'] or 0:>12.1f}{row['peak_rss_mb'] or 0:>13.1f}"
        )
    lat = result["latency"]
    print(
        f"latency, capture callback -> frame: median {lat['latency_ms']['median']} ms, "
        f"p95 {lat['latency_ms']['p95']} ms ({lat['detected']}/{lat['bursts']} sounds)"
    )
    for part, ms in lat["parts_ms"].items():
        print(f"  {part:<52} {ms:8.3f} ms")


if __name__ == "__main__":
    main()
