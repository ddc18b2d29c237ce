"""A render running in the background for the TUI: ``hambajuba render … --progress-json`` in
a child process (the TUI process never imports torch), its progress read from stdout.

Pure asyncio + json: nothing here imports numpy, the engine or the encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def renders_dir() -> Path:
    """Where videos rendered from the TUI go: the user's Videos folder, else the data dir."""
    import platformdirs

    from hambajuba_tui.paths import data_dir

    if not os.environ.get("HAMBAJUBA_HOME"):
        videos = Path(platformdirs.user_videos_dir())
        if videos.is_dir() and os.access(videos, os.W_OK):
            return videos
    path = data_dir() / "renders"
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_path(title: str, folder: Path | None = None) -> Path:
    """A new file name for a render of ``title``: ``<title>-hambajuba-<time>.mp4``."""
    safe = re.sub(r"[^\w.-]+", "-", title).strip("-._") or "song"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (folder or renders_dir()) / f"{safe}-hambajuba-{stamp}.mp4"


@dataclass
class RenderState:
    frame: int = 0
    frames: int = 0
    fps: float = 0.0
    eta_s: float | None = None
    done: str | None = None
    """The video's path once it is finished."""
    error: str | None = None
    finished: bool = False
    """The child has exited (done or error set)."""

    def text(self) -> str:
        """What the status line shows while the render runs."""
        if not self.frames:
            return "rendering video: starting"
        pct = 100 * self.frame / self.frames
        eta = ""
        if self.eta_s is not None:
            s = int(round(self.eta_s))
            eta = f", ETA {s // 60}:{s % 60:02d}"
        return f"rendering video {pct:.0f}% ({self.fps:.0f} fps{eta})"


class RenderJob:
    """One background render: :meth:`run` it (a coroutine); :meth:`cancel` stops it and the
    child removes its unfinished file."""

    def __init__(self, command: list[str], output: Path, cleanup: list[Path] | None = None):
        self.command = command
        self.output = output
        self.cleanup = list(cleanup or [])
        self.state = RenderState()
        self.proc: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def run(self, on_update: Callable[[RenderState], None] | None = None) -> RenderState:
        state = self.state
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # the terminal's keys are the TUI's, not the child's
            )
            errors = asyncio.ensure_future(self.proc.stderr.read())
            async for raw in self.proc.stdout:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if "done" in msg:
                    state.done = msg["done"]
                else:
                    state.frame, state.frames = msg.get("frame", 0), msg.get("frames", 0)
                    state.fps, state.eta_s = msg.get("fps", 0.0), msg.get("eta_s")
                if on_update is not None:
                    on_update(state)
            code = await self.proc.wait()
            self.returncode = code
            err = (await errors).decode("utf-8", "replace").strip().splitlines()
            if code != 0 or state.done is None:
                lines = [ln.removeprefix("hambajuba: ") for ln in err if ln.strip()]
                state.error = lines[-1] if lines else f"render stopped (exit code {code})"
                state.done = None
        except OSError as exc:
            state.error = f"could not start the render: {exc}"
        finally:
            if self.running:
                self.cancel()
            for path in self.cleanup:
                with contextlib.suppress(OSError):
                    path.unlink()
            state.finished = True
        return state

    def cancel(self) -> None:
        """Ask the child to stop (SIGTERM: it stops ffmpeg and removes the partial file)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)


def render_command(
    song: Path,
    output: Path,
    session,
    engine: str,
    size: int,
    skin: str | None,
    stems: str = "auto",
    fps: float = 30.0,
) -> tuple[list[str], list[Path]]:
    """The child's command line for the TUI's current setup, and temp files to remove after.

    The session being played (maybe not saved yet) goes to the child as a performance file.
    """
    from hambajuba_tui.bridge.session import save

    fd, name = tempfile.mkstemp(prefix="hambajuba-performance-", suffix=".toml")
    os.close(fd)
    perf = Path(name)
    save(session, perf)
    size = max(16, size // 2 * 2)
    cmd = [sys.executable, "-m", "hambajuba_tui.cli", "render", str(song), "-o", str(output)]
    cmd += ["--performance", str(perf), "--engine", engine, "--size", str(size)]
    cmd += ["--fps", f"{fps:g}", "--creature", "--progress-json", "--stems", stems]
    if skin:
        cmd += ["--skin", skin]
    return cmd, [perf]
