"""Remote engine benchmark, on loopback: `hambajuba serve` and --engine ws:// side by side with the
local worker, in the same run.

For each engine (preview; the tiny same-architecture sdxl model on the CPU) and 1, 2 and 4
clients:
- ``local``: that many Shows (worker process, ring, clock — what `hambajuba demo` runs), each
  with its own local engine: frames shown per second per client, A/V offset;
- ``remote``: the same Shows with ``--engine ws://127.0.0.1:PORT`` to one `hambajuba serve`
  process: frames shown per second per client, A/V offset, and from RemoteEngine clients in this
  process paced at the same fps: round trip p50 / p95 and bytes per frame.
Then a JPEG quality sweep on preview frames (bytes, encode / decode ms, PSNR): how the default
quality was chosen.

Prints one JSON line, then a short table.

    python bench/remote.py [--seconds 5] [--size 128] [--fps 30] [--clients 1 2 4]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(engine: str, size: int, env: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "hambajuba_tui.cli", "serve", "--engine", engine]
    cmd += ["--size", str(size), "--bind", f"127.0.0.1:{port}", "--report-every", "3600"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if " on ws://" in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
            return proc, f"ws://127.0.0.1:{port}"
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"hambajuba serve did not start: {line}")


def _shows(analysis, engine: str, k: int, size: int, fps: float, seconds: float) -> dict:
    """k Shows at once; per client: frames shown per second and A/V offset."""
    from hambajuba_tui.bridge.session import Session
    from hambajuba_tui.show import Show, ShowOptions
    from hambajuba_tui.vocab import SAMPLE_RATE

    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    opts = ShowOptions(engine=engine, width=size, height=size, fps=fps, sound=False)
    shows = [Show(analysis, silence, SAMPLE_RATE, Session(seed=i), opts) for i in range(k)]
    try:
        for s in shows:
            s.start(wait_ready_s=300)
        end = time.monotonic() + 300
        while any(s.waiting_for_engine for s in shows) and time.monotonic() < end:
            for s in shows:
                s.poll_worker()
            time.sleep(0.01)
        time.sleep(1.0)  # settle: the lookahead adapts to the measured round trip
        for s in shows:
            s.poll_worker()
            s.poll_frame()
        lags: list[list[float]] = [[] for _ in shows]
        names = [""] * k
        began = time.monotonic()
        next_tick = began
        while time.monotonic() - began < seconds:
            for i, s in enumerate(shows):
                s.poll_worker()
                info = s.poll_frame()
                if info is not None:
                    lags[i].append(1000 * (s.now - info.media_time))
            next_tick += 1 / (2 * fps)  # poll at twice the frame rate
            time.sleep(max(0.0, next_tick - time.monotonic()))
        elapsed = time.monotonic() - began
        names = [s.status.engine for s in shows]
    finally:
        for s in shows:
            s.close()
    all_lags = np.array([x for lag in lags for x in lag] or [np.nan])
    return {
        "engine": names[0],
        "fps_per_client": [round(len(lag) / elapsed, 1) for lag in lags],
        "av_offset_ms": {
            "mean": round(float(np.nanmean(all_lags)), 1),
            "p95": round(float(np.nanpercentile(all_lags, 95)), 1),
        },
    }


def _link(url: str, k: int, size: int, fps: float, seconds: float, raw: bool) -> dict:
    """k RemoteEngine clients in threads, each paced at fps: round trip and bytes per frame."""
    from hambajuba_tui.bridge.params import FrameParams
    from hambajuba_tui.engine.remote import RemoteEngine, round_trip_stats

    engines = [RemoteEngine(url, size, size, seed=i, raw=raw) for i in range(k)]
    start = time.monotonic()

    def drive(e):
        out = np.zeros((size, size, 3), np.uint8)
        p = FrameParams()
        i = 0
        while time.monotonic() - start < seconds:
            i += 1
            p.t = time.monotonic() - start + e.latency() + 1 / fps
            p.theta = 0.05 * i
            e.generate(p, out)
            time.sleep(max(0.0, start + i / fps - time.monotonic()))

    threads = [threading.Thread(target=drive, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rtts = [r for e in engines for r in e.rtts]
    received = sum(e.counts["received"] for e in engines)
    nbytes = sum(e.counts["bytes_in"] for e in engines)
    raw = engines[0].raw
    for e in engines:
        e.close()
    return {
        "rtt_ms": round_trip_stats(rtts),
        "bytes_per_frame": round(nbytes / max(received, 1)),
        "frames": "raw" if raw else "jpeg",
        "received_fps_per_client": round(received / k / seconds, 1),
    }


def _jpeg_sweep(size: int) -> list[dict]:
    from PIL import Image

    from hambajuba_tui.bridge.params import FrameParams
    from hambajuba_tui.engine.preview import PreviewEngine

    engine = PreviewEngine(size, size, seed=3)
    frames = []
    for i in range(8):
        p = FrameParams(theta=0.4 * i, scene_t=i / 8)
        p.strengths[:] = [4, -3, 5, 6]
        p.feature_ids[:] = [i, 2 * i, 3 * i, 5]
        out = np.zeros((size, size, 3), np.uint8)
        engine.generate(p, out)
        frames.append(out)
    rows = []
    for q in (60, 75, 85, 90, 95):
        nbytes, enc, dec, psnr = [], [], [], []
        for f in frames:
            t0 = time.perf_counter()
            buf = io.BytesIO()
            Image.fromarray(f).save(buf, "JPEG", quality=q)
            t1 = time.perf_counter()
            back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            t2 = time.perf_counter()
            mse = float(np.mean((back.astype(float) - f) ** 2))
            nbytes.append(buf.tell())
            enc.append(t1 - t0)
            dec.append(t2 - t1)
            psnr.append(10 * np.log10(255**2 / max(mse, 1e-9)))
        rows.append(
            {
                "quality": q,
                "bytes": int(np.mean(nbytes)),
                "encode_ms": round(1000 * float(np.median(enc)), 2),
                "decode_ms": round(1000 * float(np.median(dec)), 2),
                "psnr_db": round(float(np.mean(psnr)), 1),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=128, help="preview frame size (default 128)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--engines", nargs="+", default=["preview", "sdxl-tiny"])
    args = ap.parse_args()
    # one intra-op thread for torch everywhere (server, workers): on a small, loaded host two
    # OpenMP threads per process spin against each other (the tiny model: 33 ms vs 400+ ms)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from hambajuba_tui.audio.analysis import analyze
    from hambajuba_tui.audio.demo_song import write_demo_song

    with tempfile.TemporaryDirectory() as tmp:
        analysis = analyze(write_demo_song(Path(tmp)), stems_backend="dsp")
        env = {**os.environ, "HAMBAJUBA_AUDIO": "none"}
        results = []
        for name in args.engines:
            if name == "sdxl-tiny":
                import tiny_sdxl

                tiny_sdxl.install(Path(tmp) / "hf" / "hub")
                os.environ.update(HF_HOME=str(Path(tmp) / "hf"), HF_HUB_OFFLINE="1")
                env.update(HF_HOME=str(Path(tmp) / "hf"), HF_HUB_OFFLINE="1")
                engine, size = "sdxl-turbo", 64
            else:
                engine, size = "preview", args.size
            server, url = _serve(engine, size, env)
            try:
                for k in args.clients:
                    row = {"engine": name, "size": size, "clients": k}
                    row["local"] = _shows(analysis, engine, k, size, args.fps, args.seconds)
                    row["remote"] = _shows(analysis, url, k, size, args.fps, args.seconds)
                    link_s = min(args.seconds, 3)
                    row["remote"].update(_link(url, k, size, args.fps, link_s, raw=True))
                    row["remote_jpeg"] = _link(url, k, size, args.fps, link_s, raw=False)
                    results.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
            finally:
                server.kill()
                server.wait()
        jpeg = _jpeg_sweep(256)
    report = {
        "name": "remote",
        "fps": args.fps,
        "results": results,
        "jpeg_256": jpeg,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load": [round(x, 2) for x in os.getloadavg()],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }
    print(json.dumps(report))
    print(
        f"\n{'engine':<10} {'k':>2} {'local fps/client':>18} {'remote fps/client':>20} "
        f"{'A/V local':>10} {'A/V remote':>11} {'rtt p50/p95':>13} {'B/frame':>8}"
    )
    for r in results:
        lo, re_ = r["local"], r["remote"]
        print(
            f"{r['engine']:<10} {r['clients']:>2} "
            f"{'/'.join(f'{x:.0f}' for x in lo['fps_per_client']):>18} "
            f"{'/'.join(f'{x:.0f}' for x in re_['fps_per_client']):>20} "
            f"{lo['av_offset_ms']['mean']:>8.0f}ms {re_['av_offset_ms']['mean']:>9.0f}ms "
            f"{re_['rtt_ms']['p50']:>6.0f}/{re_['rtt_ms']['p95']:<5.0f} "
            f"{re_['bytes_per_frame']:>8}"
        )
    print("\nJPEG frames instead of raw (what a real network gets): rtt p50/p95, bytes/frame")
    for r in results:
        j = r["remote_jpeg"]
        print(
            f"  {r['engine']:<10} {r['clients']:>2}  {j['rtt_ms']['p50']:>6.1f}/"
            f"{j['rtt_ms']['p95']:<6.1f} {j['bytes_per_frame']:>7}  "
            f"{j['received_fps_per_client']:.0f} fps/client"
        )
    print("\nJPEG at 256²: quality, bytes, encode ms, decode ms, PSNR dB")
    for j in jpeg:
        print(
            f"  q{j['quality']:<3} {j['bytes']:>7} {j['encode_ms']:>6} {j['decode_ms']:>6} "
            f"{j['psnr_db']:>6}"
        )


if __name__ == "__main__":
    main()
