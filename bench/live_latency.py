"""Live latency: from a sound reaching the capture callback to the first frame that shows it.

    python bench/live_latency.py [--bursts 8] [--fps 30] [--size 256]

The real processes run (listener with the streaming analyser, engine worker with the preview
engine, frame ring) with a replay source in place of the sound card, so the time every sample
is "captured" is known. The input is silence with isolated noise bursts: in silence every frame
is the same picture, so the first frame that differs from it after a burst is the first frame
that reflects the burst. That frame's arrival in the frame ring, minus the moment the burst's
block reached the capture callback, is the latency. The parts are measured alone: one capture
block, the analyser's time per block, a conductor step, the engine's frame, and the worker's
and display's cadence (half a frame interval each, on average).

Prints one JSON line and a short table. Also used by ``bench/live.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SR = 44_100
BLOCK = 512


def burst_signal(n_bursts: int, gap_s: float = 1.5, lead_s: float = 3.0) -> tuple[np.ndarray, list]:
    """Silence with ``n_bursts`` loud noise bursts; returns (mono float32, onset samples)."""
    rng = np.random.default_rng(7)
    n = int((lead_s + n_bursts * gap_s + 1.0) * SR)
    x = np.zeros(n, np.float32)
    onsets = []
    for i in range(n_bursts):
        start = int((lead_s + i * gap_s) * SR)
        length = int(0.25 * SR)
        x[start : start + length] = (
            0.7 * rng.standard_normal(length) * np.exp(-np.arange(length) / (0.08 * SR))
        )
        onsets.append(start)
    return x, onsets


def measure(n_bursts: int = 8, fps: float = 30.0, size: int = 256) -> dict:
    from hambajuba_tui.audio.listen import Listener
    from hambajuba_tui.audio.replay import ReplaySource
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.show import Show, ShowOptions

    x, onsets = burst_signal(n_bursts)
    session = load_pack().session()
    listener = Listener("bursts", fake=ReplaySource(x, block=BLOCK))
    show = Show(
        listener.analysis,
        None,
        0,
        session,
        ShowOptions(width=size, height=size, fps=fps),
        listener=listener,
    )
    frames: list[tuple[float, float, np.ndarray]] = []  # (arrival wall, media t, picture)
    try:
        show.start(play=True, wait_ready_s=60)
        deadline = time.monotonic() + 60
        while not show.playing and time.monotonic() < deadline:
            show.poll_worker()
            show.player.tick()
            time.sleep(0.002)
        end = time.monotonic() + len(x) / SR
        while time.monotonic() < end:
            show.poll_worker()
            info = show.poll_frame()
            if info is not None:
                frames.append((time.monotonic(), info.media_time, show.frame.copy()))
            time.sleep(0.001)
        t0 = listener.t0
        gen_ms = show.status.gen_ms
    finally:
        show.close()
    latencies, from_sound = [], []
    for onset in onsets:
        at_callback = t0 + (onset // BLOCK + 1) * BLOCK / SR  # the block with the onset arrives
        at_sound = t0 + onset / SR
        before = [f for f in frames if f[0] < at_sound]
        if not before:
            continue
        still = before[-1][2]
        for arrival, _, pic in frames:
            if arrival >= at_callback and np.abs(pic.astype(np.int16) - still).mean() > 0.5:
                latencies.append(1000 * (arrival - at_callback))
                from_sound.append(1000 * (arrival - at_sound))
                break
    parts = measure_parts(fps, size)
    parts["engine_frame_ms (in the worker)"] = round(gen_ms, 3)
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "bursts": len(onsets),
        "detected": len(latencies),
        "latency_ms": {
            "median": round(float(np.median(lat)), 1),
            "p95": round(float(np.percentile(lat, 95)), 1),
            "max": round(float(np.max(lat)), 1),
        },
        "from_sound_onset_ms_median": round(float(np.median(from_sound or [np.nan])), 1),
        "parts_ms": parts,
        "fps": fps,
        "size": size,
    }


def measure_parts(fps: float, size: int) -> dict:
    """Each part of the path alone (ms)."""
    from hambajuba_tui.audio.store import StreamAnalysis
    from hambajuba_tui.audio.stream import StreamingAnalyser, stream_signal_names
    from hambajuba_tui.bridge.conductor import Conductor
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.engine.preview import PreviewEngine

    x, _ = burst_signal(4)
    analyser = StreamingAnalyser(SR)
    cpu = time.process_time()
    pushes = 0
    for i in range(0, len(x) - BLOCK, BLOCK):
        analyser.push(x[i : i + BLOCK])
        pushes += 1
    analysis_ms = 1000 * (time.process_time() - cpu) / pushes
    store = StreamAnalysis.create(stream_signal_names(), title="parts")
    try:
        a2 = StreamingAnalyser(SR)
        update = a2.push(x[: 5 * SR])
        store.store.put(update)
        conductor = Conductor(store, load_pack().session())
        for t in np.arange(0, 2, 1 / fps):
            conductor.step(float(t))
        start = time.perf_counter()
        n = 2000
        for i in range(n):
            conductor.step(2.0 + i / 1000)
        conductor_ms = 1000 * (time.perf_counter() - start) / n
        engine = PreviewEngine(width=size, height=size, seed=1)
        out = np.zeros((size, size, 3), np.uint8)
        params = conductor.step(4.0)
        for _ in range(10):
            engine.generate(params, out)
        start = time.perf_counter()
        for _ in range(100):
            engine.generate(params, out)
        engine_ms = 1000 * (time.perf_counter() - start) / 100
    finally:
        store.close()
    return {
        "capture_block": round(1000 * BLOCK / SR, 2),
        "analysis_per_block (cpu)": round(analysis_ms, 3),
        "conductor_step": round(conductor_ms, 3),
        "engine_frame": round(engine_ms, 3),
        "worker_cadence_mean": round(1000 / fps / 2, 2),
        "display_tick_mean (TUI, not in the measured latency)": round(1000 / fps / 2, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bursts", type=int, default=8)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    os.environ.setdefault("HAMBAJUBA_AUDIO", "none")
    figures = measure(args.bursts, args.fps, args.size)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
    }
    print(json.dumps({"name": "live_latency", **figures, "machine": machine}))
    lat = figures["latency_ms"]
    print(
        f"capture callback → frame in the ring: median {lat['median']} ms, p95 {lat['p95']} ms "
        f"({figures['detected']}/{figures['bursts']} bursts)"
    )
    for part, ms in figures["parts_ms"].items():
        print(f"  {part:<52} {ms:8.3f} ms")


if __name__ == "__main__":
    main()
