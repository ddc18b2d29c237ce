"""Real-terminal screenshots of the creature in every built-in skin, for the README.

Runs ``hambajuba demo`` in xterm (sixel) under Xvfb, once per skin, and saves the terminal
window as ``docs/skin-<name>.png``; then once per panel in :data:`PANELS` (default skin, the
panel's key typed once the heart dances) as ``docs/panel-<name>.png``. Needs xvfb, xterm,
imagemagick and xdotool (Debian).

    .venv/bin/python docs/screenshots.py [--cols 100] [--rows 34] [--at 20] [--panels ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from terminals import VirtualScreen, missing_tools, terminal_command, terminal_env  # noqa: E402

SKINS = ("default", "neon", "kawaii", "mono")
PANELS = {"blocks": "b", "browser": "f", "masks": "m"}
"""Panels shown in the README, by the key that opens each."""


def shoot(
    screen: VirtualScreen,
    skin: str,
    home: Path,
    out: Path,
    cols: int,
    rows: int,
    at: float,
    key: str = "",
    name: str = "",
) -> Path:
    """Screenshot the demo in ``skin``; with ``key``, after typing it (saved as ``name``)."""
    rec = home / f"rec-{skin}-{name or 'main'}"
    argv = [
        sys.executable,
        "-m",
        "hambajuba_tui.cli",
        "demo",
        "--no-sound",
        "--stems",
        "dsp",
        "--graphics",
        "sixel",
        "--skin",
        skin,
        "--start",
        str(at),
        "--size",
        "256",
    ]
    env = terminal_env(screen, "xterm", HAMBAJUBA_HOME=str(home), HAMBAJUBA_RECORD_HEART=str(rec))
    proc = subprocess.Popen(
        terminal_command("xterm", argv, cols, rows),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600  # the first run analyses the demo song
        info = None
        while time.monotonic() < deadline:
            try:
                info = json.loads((rec / "heart.json").read_text())
            except (OSError, ValueError):
                info = None
            if info and info["frames_drawn"] >= 40:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"xterm exited while showing skin {skin}")
            time.sleep(0.3)
        else:
            raise RuntimeError(f"no frames drawn with skin {skin}")
        if key:
            screen.key(key)
        time.sleep(8.0)  # let notifications fade
        from PIL import Image

        cw, ch = info["cell_px"]
        # A grab can catch the terminal mid-update: keep the one whose heart frame (the
        # columns either side of the image) is most complete.
        edges = [(info["col"] - 1) * cw + cw // 2, (info["col"] + info["cols"]) * cw + cw // 2]
        rows_px = slice(info["row"] * ch, (info["row"] + info["rows"]) * ch)
        best, best_score = None, -1
        for _ in range(10):
            shot = screen.grab()[: rows * ch, : cols * cw]
            score = int(
                sum(
                    (shot[rows_px, x - 2 : x + 3].max(axis=1) > 60).any(axis=1).sum() for x in edges
                )
            )
            if score > best_score:
                best, best_score = shot, score
            time.sleep(0.3)
        shot = best
        path = out / (f"panel-{name}.png" if key else f"skin-{skin}.png")
        Image.fromarray(shot).save(path, optimize=True)
        if key:
            screen.key("Escape")  # close the panel: its fields would take the q
            time.sleep(0.5)
        screen.key("q")
        proc.wait(20)
        return path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cols", type=int, default=100)
    parser.add_argument("--rows", type=int, default=34)
    parser.add_argument("--at", type=float, default=20.0, help="start the demo here (s)")
    parser.add_argument("--skins", nargs="*", default=list(SKINS))
    parser.add_argument("--panels", nargs="*", default=list(PANELS), choices=list(PANELS))
    parser.add_argument(
        "--labels",
        type=Path,
        default=ROOT.parent / "shared" / "labels",
        help="label tables to import first (features show by id without)",
    )
    args = parser.parse_args()
    missing = missing_tools("xterm")
    if missing:
        print(f"needs {', '.join(missing)}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    screen = VirtualScreen()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.labels.is_dir():
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "hambajuba_tui.cli",
                        "features",
                        "import",
                        *map(str, sorted(args.labels.glob("*.json"))),
                    ],
                    env={**os.environ, "HAMBAJUBA_HOME": tmp},
                    check=True,
                )
            for skin in args.skins:
                path = shoot(screen, skin, Path(tmp), ROOT / "docs", args.cols, args.rows, args.at)
                print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
            for name in args.panels:
                path = shoot(
                    screen,
                    "default",
                    Path(tmp),
                    ROOT / "docs",
                    args.cols,
                    args.rows,
                    args.at,
                    key=PANELS[name],
                    name=name,
                )
                print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
    finally:
        screen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
