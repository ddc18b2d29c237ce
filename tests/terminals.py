"""Real terminals under Xvfb for end-to-end tests and bench/graphics.py.

xterm (sixel, VT340 mode, 256 colour registers) and kitty (software GL) run a command in a
window at the top-left of a virtual screen with no window manager and no padding, so
terminal cell (col, row) starts at pixel (col·cell_w, row·cell_h) of a root screenshot.
"""

from __future__ import annotations

import io
import os
import select
import shutil
import subprocess
import time

import numpy as np

SCREEN = (1280, 900)
XTERM_FONT = ("DejaVu Sans Mono", 10)


def missing_tools(terminal: str) -> list[str]:
    return [t for t in ("Xvfb", "import", "xdotool", terminal) if shutil.which(t) is None]


class VirtualScreen:
    """An Xvfb server on a free display number, which Xvfb picks itself (``-displayfd``): two
    test processes starting a screen at once never race for the same number."""

    def __init__(self, timeout: float = 30.0) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    f"{SCREEN[0]}x{SCREEN[1]}x24",
                    "-nolisten",
                    "tcp",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,),
            )
        finally:
            os.close(write_fd)
        # Xvfb writes the number once it accepts connections; EOF means it exited.
        answer = b""
        deadline = time.monotonic() + timeout
        try:
            while not answer.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                    self.close()
                    raise RuntimeError(f"Xvfb gave no display number in {timeout:.0f} s")
                chunk = os.read(read_fd, 64)
                if not chunk:
                    self.close()
                    raise RuntimeError(f"Xvfb exited ({self.proc.poll()}) before it was ready")
                answer += chunk
        finally:
            os.close(read_fd)
        self.display = f":{int(answer)}"

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display, **extra}

    def grab(self, tries: int = 3) -> np.ndarray:
        """uint8 [H, W, 3] screenshot of the whole screen (retried: import can fail under load)."""
        from PIL import Image

        err = ""
        for _ in range(tries):
            out = subprocess.run(
                ["import", "-silent", "-window", "root", "png:-"],
                capture_output=True,
                env=self.env(),
                timeout=30,
            )
            if out.returncode == 0 and out.stdout:
                return np.asarray(Image.open(io.BytesIO(out.stdout)).convert("RGB"))
            err = out.stderr.decode(errors="replace")[-300:]
            time.sleep(0.3)
        raise RuntimeError(f"screenshot failed: {err}")

    def key(self, key: str) -> None:
        subprocess.run(["xdotool", "key", key], env=self.env(), timeout=10, check=False)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def terminal_command(terminal: str, argv: list[str], cols: int = 100, rows: int = 34) -> list[str]:
    """The command that opens ``terminal`` at the screen's top-left running ``argv``."""
    if terminal == "xterm":
        font, size = XTERM_FONT
        return [
            "xterm",
            "-ti",
            "vt340",
            "-xrm",
            "XTerm*decGraphicsID: vt340",
            "-xrm",
            "XTerm*numColorRegisters: 256",
            "-xrm",
            "XTerm*maxGraphicSize: 4096x4096",
            "-tn",
            "xterm-256color",
            "-fa",
            font,
            "-fs",
            str(size),
            "-b",
            "0",
            "-bw",
            "0",
            "-geometry",
            f"{cols}x{rows}+0+0",
            "-e",
            *argv,
        ]
    if terminal == "kitty":
        return [
            "kitty",
            "--config",
            "NONE",
            "-o",
            "font_size=10",
            "-o",
            "window_padding_width=0",
            "-o",
            "placement_strategy=top-left",
            "-o",
            "remember_window_size=no",
            "-o",
            f"initial_window_width={cols}c",
            "-o",
            f"initial_window_height={rows}c",
            *argv,
        ]
    raise ValueError(terminal)


def terminal_env(screen: VirtualScreen, terminal: str, **extra: str) -> dict[str, str]:
    env = screen.env(**{"COLORTERM": "truecolor", "HAMBAJUBA_AUDIO": "none", **extra})
    if terminal == "kitty":
        env["LIBGL_ALWAYS_SOFTWARE"] = "1"
    for var in ("TMUX", "KITTY_WINDOW_ID", "TERM_PROGRAM", "SSH_CONNECTION", "SSH_TTY"):
        env.pop(var, None)
    return env


def pane_crop(shot: np.ndarray, info: dict) -> np.ndarray:
    """The screenshot pixels of the cells the heart's image covers."""
    cw, ch = info["cell_px"]
    x, y = info["col"] * cw, info["row"] * ch
    return shot[y : y + info["rows"] * ch, x : x + info["cols"] * cw]


def image_region(crop: np.ndarray, info: dict) -> np.ndarray:
    """Where the image lies within its cells: sixel is drawn at its own pixel size from the
    top-left cell; kitty stretches the frame over all the cells."""
    if info["protocol"] == "sixel":
        return crop[: info["height"], : info["width"]]
    return crop


def compare(shown: np.ndarray, frame: np.ndarray) -> tuple[float, float]:
    """(mean absolute difference 0–255, correlation of luminance) of a screenshot region
    and the frame sent, the frame resized to the region."""
    from PIL import Image

    h, w = shown.shape[:2]
    expected = np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BILINEAR))
    a, b = shown.astype(np.float32), expected.astype(np.float32)
    mad = float(np.abs(a - b).mean())
    la, lb = a @ [0.299, 0.587, 0.114], b @ [0.299, 0.587, 0.114]
    corr = float(np.corrcoef(la.ravel(), lb.ravel())[0, 1])
    return mad, corr


def flat_share(region: np.ndarray) -> float:
    """Share of pixels in the region's most common colour (to 4 bits a channel): near 1 for
    a blank pane (background, perhaps a notification's text over it), small for a frame."""
    q = (region >> 4).astype(np.int32)
    keys = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    return float(np.bincount(keys.ravel(), minlength=4096).max() / keys.size)
