"""Graphics benchmark: encode time and bytes per frame per protocol, and frames shown per
second end to end in real terminals (xterm with sixel, kitty) under Xvfb.

Frames are the preview engine's (what the heart really shows), pre-rendered. Encoding is
timed on this thread; the end-to-end part runs, inside each terminal, the heart's encoder
thread and escapes, at most two frames ahead of the terminal's acknowledgements (a DA1
reply after each image), and counts frames per second after a one-second warm-up.

    python bench/graphics.py [--sizes 256 512] [--frames 30] [--e2e-seconds 6] [--no-e2e]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def preview_frames(size: int, n: int) -> list[np.ndarray]:
    from conftest import make_analysis  # the tests' hand-made analysis: a steady beat

    from hambajuba_tui.bridge.conductor import Conductor
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.engine.preview import PreviewEngine

    conductor = Conductor(make_analysis(duration=max(4.0, n / 30 + 1)), load_pack().session())
    engine = PreviewEngine(size, size, seed=0)
    frames = []
    for i in range(n):
        frame = np.empty((size, size, 3), np.uint8)
        engine.generate(conductor.step(0.5 + i / 30.0), frame)
        frames.append(frame)
    return frames


def encoders():
    from hambajuba_tui.graphics.halfblock import HalfblockEncoder
    from hambajuba_tui.graphics.kitty import KittyEncoder
    from hambajuba_tui.graphics.sixel import SixelEncoder

    return {
        "kitty shm": lambda: KittyEncoder(shm=True),
        "kitty direct": lambda: KittyEncoder(shm=False),
        "sixel fixed": lambda: SixelEncoder("fixed"),
        "sixel adaptive": lambda: SixelEncoder("adaptive"),
        "half-blocks 80x40": HalfblockEncoder,
    }


def time_encode(name: str, make, frames: list[np.ndarray]) -> dict:
    from hambajuba_tui.graphics.layout import fit

    size = frames[0].shape[0]
    if name.startswith("half-blocks"):
        place = fit(size, size, 0, 0, 80, 40, 8, 16, (1, 2))
    else:  # a pane that holds the frame at its own size
        place = fit(size, size, 0, 0, -(-size // 8), -(-size // 16), 8, 16)
    enc = make()
    enc.encode(frames[0], place)  # warm caches (tables, resamplers)
    times, cpu, sizes = [], [], []
    for frame in frames:
        began, began_cpu = time.perf_counter(), time.process_time()
        out = enc.encode(frame, place)
        cpu.append(1000 * (time.process_time() - began_cpu))
        times.append(1000 * (time.perf_counter() - began))
        sizes.append(len(out.encode()))
    enc.clear()
    # CPU time says what the encoder costs when the machine is shared; wall time what it took
    return {
        "protocol": name,
        "size": size,
        "encode_ms_median": round(float(np.median(times)), 3),
        "encode_ms_p95": round(float(np.percentile(times, 95)), 3),
        "cpu_ms_median": round(float(np.median(cpu)), 3),
        "bytes_mean": int(np.mean(sizes)),
    }


# -- end to end ---------------------------------------------------------------------------
IN_FLIGHT = 2
"""Frames written ahead of the terminal's acknowledgement (the app itself never waits)."""


def pane_app(protocol: str, seconds: float, size: int, out: Path) -> None:
    """Runs inside the terminal: the heart's encoder thread and escapes, flat out.

    Each frame's escapes are followed by a DA1 query; at most IN_FLIGHT frames are written
    ahead of the terminal's answers (an answer means it parsed the whole image), while the
    encoder thread encodes the next. Frames per second = frames the terminal took in.
    """
    import queue
    import select
    import termios
    import tty

    from hambajuba_tui.graphics.layout import fit
    from hambajuba_tui.graphics.painter import Painter, make_encoder
    from hambajuba_tui.graphics.probe import DA1, detect

    mode = detect(protocol)
    frames = preview_frames(size, 24)
    cw, ch = mode.cell_px
    place = fit(size, size, 0, 0, -(-size // cw), -(-size // ch), cw, ch)
    ready: queue.Queue[str] = queue.Queue(maxsize=1)
    painter = Painter(make_encoder(mode), lambda payload, _place, _serial: ready.put(payload))
    fd, tty_out = sys.stdin.fileno(), sys.stdout.buffer
    old = termios.tcgetattr(fd)
    shown, began = 0, time.monotonic()
    marks: list[tuple[float, int]] = []
    try:
        tty.setraw(fd)
        tty_out.write(b"\x1b[?1049h\x1b[2J\x1b[?25l")
        painter.submit(frames[0], place)
        pending = 0  # frames written, not yet acknowledged
        while time.monotonic() - began < seconds:
            payload = ready.get(timeout=30)
            painter.submit(frames[(shown + pending + 1) % len(frames)], place)
            tty_out.write((payload + DA1).encode())
            tty_out.flush()
            pending += 1
            while pending >= IN_FLIGHT:  # like the app, keep the terminal busy
                if not select.select([fd], [], [], 30)[0]:
                    raise TimeoutError("the terminal stopped answering")
                acks = os.read(fd, 1024).count(b"c")
                pending -= acks
                shown += acks
                marks.append((time.monotonic(), shown))
    finally:
        painter.close()
        tty_out.write((painter.encoder.clear() + "\x1b[?25h\x1b[?1049l").encode())
        tty_out.flush()
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)
    warm = [m for m in marks if m[0] - began >= 1.0] or marks
    fps = (warm[-1][1] - warm[0][1]) / max(warm[-1][0] - warm[0][0], 1e-6)
    out.write_text(
        json.dumps(
            {
                "protocol": mode.label(),
                "fps": round(fps, 1),
                "cell_px": list(mode.cell_px),
                "frames": shown,
                "encode_ms": round(painter.encode_ms, 2),
            }
        )
    )


def run_e2e(terminal: str, protocol: str, seconds: float, size: int) -> dict:
    from terminals import VirtualScreen, missing_tools, terminal_command, terminal_env

    missing = missing_tools(terminal)
    if missing:
        return {"terminal": terminal, "skipped": f"needs {', '.join(missing)}"}
    screen = VirtualScreen()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            argv = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--pane-app",
                protocol,
                "--e2e-seconds",
                str(seconds),
                "--pane-size",
                str(size),
                "--out",
                str(out),
            ]
            proc = subprocess.run(
                terminal_command(terminal, argv, cols=120, rows=50),
                env=terminal_env(screen, terminal),
                timeout=seconds + 120,
                capture_output=True,
            )
            if not out.exists():
                return {"terminal": terminal, "failed": proc.stderr.decode()[-500:]}
            return {"terminal": terminal, "size": size, **json.loads(out.read_text())}
    finally:
        screen.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--e2e-seconds", type=float, default=6.0)
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--pane-app", help=argparse.SUPPRESS)
    ap.add_argument("--pane-size", type=int, default=512, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pane_app:
        pane_app(args.pane_app, args.e2e_seconds, args.pane_size, args.out)
        return

    results = []
    for size in args.sizes:
        frames = preview_frames(size, args.frames)
        for name, make in encoders().items():
            results.append(time_encode(name, make, frames))
    e2e = (
        []
        if args.no_e2e
        else [
            run_e2e("xterm", "sixel", args.e2e_seconds, 512),
            run_e2e("kitty", "kitty", args.e2e_seconds, 512),
        ]
    )
    print(
        json.dumps(
            {
                "name": "graphics",
                "encode": results,
                "end_to_end": e2e,
                "machine": {
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_1min": round(os.getloadavg()[0], 2),
                },
            }
        )
    )
    print(f"{'protocol':<20}{'size':>6}{'encode ms':>11}{'p95 ms':>9}{'CPU ms':>9}{'bytes':>11}")
    for r in results:
        print(
            f"{r['protocol']:<20}{r['size']:>6}{r['encode_ms_median']:>11.2f}"
            f"{r['encode_ms_p95']:>9.2f}{r['cpu_ms_median']:>9.2f}{r['bytes_mean']:>11,}"
        )
    for r in e2e:
        if "fps" in r:
            print(
                f"end to end in {r['terminal']:<6} ({r['protocol']}, {r['size']}²): "
                f"{r['fps']:.1f} frames/s"
            )
        else:
            print(f"end to end in {r['terminal']}: {r.get('skipped') or r.get('failed')}")


if __name__ == "__main__":
    main()
