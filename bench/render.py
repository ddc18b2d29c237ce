"""Render benchmark: frames per second of ``render`` + encode (H.264 + AAC through the ffmpeg
of imageio-ffmpeg), with and without ``--creature``, and where the time goes per frame.

The song is the tests' hand-made Analysis (a steady beat, four stems) with a quiet stereo
tone for the audio track, so no analysis time is counted; the pipeline is the real one
(conductor stepped at 1 / fps, engine in-process, frames piped to ffmpeg).

    python bench/render.py [--engine preview] [--size 512] [--seconds 20] [--fps 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def parts_ms(analysis, session, opts, n: int) -> dict:
    """Median ms per frame of the conductor + engine, and of drawing the creature."""
    from hambajuba_tui.render.render import Renderer, one_blas_thread

    renderer = Renderer(analysis, session, opts)
    limit = one_blas_thread()
    limit.__enter__()
    engine_ms, draw_ms = [], []
    for i in range(n):
        t = renderer.time_of(i)
        a = time.perf_counter()
        renderer.engine.generate(renderer.conductor.step(t), renderer.heart)
        b = time.perf_counter()
        if renderer.canvas is not None:
            renderer.canvas.draw(t, renderer.heart)
        c = time.perf_counter()
        engine_ms.append(1000 * (b - a))
        draw_ms.append(1000 * (c - b))
    limit.__exit__(None, None, None)
    return {
        "engine_ms": round(float(np.median(engine_ms)), 2),
        "creature_ms": round(float(np.median(draw_ms)), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="preview", choices=["preview", "sdxl-turbo"])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--preset", default=None, help="x264 preset (default: render's)")
    args = ap.parse_args()

    from conftest import make_analysis

    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.render.render import RenderOptions, render

    analysis = make_analysis(duration=args.seconds + 1.0)
    session = load_pack().session()
    sr = 44100
    t = np.arange(int((args.seconds + 1.0) * sr)) / sr
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    samples = np.stack([tone, tone], axis=1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for creature in (False, True):
            opts = RenderOptions(
                engine=args.engine,
                size=args.size,
                fps=args.fps,
                end=args.seconds,
                creature=creature,
                title="bench",
            )
            if args.preset:
                opts = dataclasses.replace(opts, preset=args.preset)
            out = Path(tmp) / f"bench-{int(creature)}.mp4"
            began = time.perf_counter()
            render(analysis, samples, sr, session, out, opts)
            took = time.perf_counter() - began
            frames = round(args.seconds * args.fps)
            fps = frames / took
            results.append(
                {
                    "creature": creature,
                    "frames": frames,
                    "seconds": round(took, 2),
                    "fps": round(fps, 2),
                    "realtime": round(fps / args.fps, 2),
                    "bytes": out.stat().st_size,
                    **parts_ms(analysis, session, opts, min(frames, 60)),
                }
            )
    print(
        json.dumps(
            {
                "name": "render",
                "engine": args.engine,
                "size": args.size,
                "fps_target": args.fps,
                "results": results,
                "machine": {
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_1min": round(os.getloadavg()[0], 2),
                },
            }
        )
    )
    print(f"render + encode, {args.engine} at {args.size}², {args.fps:g} fps video:")
    for r in results:
        label = "with --creature" if r["creature"] else "heart only     "
        print(
            f"  {label}  {r['fps']:6.1f} frames/s  ({r['realtime']:.2f}× real time; "
            f"engine {r['engine_ms']:.1f} ms, creature {r['creature_ms']:.1f} ms per frame)"
        )


if __name__ == "__main__":
    main()
