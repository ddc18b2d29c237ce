"""The video encoder: raw RGB frames and float PCM through pipes into the ffmpeg that the
``imageio-ffmpeg`` wheel ships; H.264 (yuv420p, ``+faststart``) and AAC in an MP4.

Frames go to ffmpeg's stdin, the audio to a second pipe (``pipe:3``) fed by a thread, so
nothing but the finished video touches the disk. ffmpeg writes to a temporary name next to
the output; :meth:`Encoder.finish` renames it into place, :meth:`Encoder.abort` removes it.
ffmpeg runs in its own session, so a Ctrl-C reaches this process only, which then stops it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np


class RenderError(Exception):
    """A render that cannot go on; ``str(err)`` is one line meant for the user."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary of the ``imageio-ffmpeg`` wheel (``IMAGEIO_FFMPEG_EXE`` overrides)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RenderError(
            "no video encoder: the imageio-ffmpeg package is missing (pip install imageio-ffmpeg)"
        ) from None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise RenderError(f"no video encoder: imageio-ffmpeg found no ffmpeg ({exc})") from None
    if not os.access(exe, os.X_OK):
        raise RenderError(f"no video encoder: {exe} is not an executable ffmpeg")
    return exe


def fps_fraction(fps: float) -> Fraction:
    """``fps`` as the exact rational ffmpeg is given (29.97 → 30000/1001)."""
    return Fraction(fps).limit_denominator(1001)


def temp_path(out: Path) -> Path:
    """Where ffmpeg writes until the video is finished (same folder: the rename is atomic)."""
    return out.with_name(f".{out.name}.{os.getpid()}.part")


def check_writable(out: Path) -> None:
    """Refuse an output that cannot be written before any slow work (folder, permissions)."""
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise RenderError(f"{out} is a folder; give a file name such as {out / 'out.mp4'}")
    if not folder.is_dir():
        raise RenderError(f"cannot write {out}: the folder {folder} does not exist")
    probe = temp_path(out)
    try:
        with open(probe, "wb"):
            pass
    except OSError as exc:
        raise RenderError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


_DISK_FULL = ("No space left on device", "ENOSPC")
_PERMISSION = ("Permission denied", "Read-only file system")


def _explain(stderr: str, out: Path) -> str:
    """A one-line reason from ffmpeg's stderr."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if any(k in stderr for k in _DISK_FULL):
        return f"the disk is full: could not finish {out} (nothing was left behind)"
    if any(k in stderr for k in _PERMISSION):
        return f"cannot write {out}: permission denied"
    if "Unknown encoder" in stderr or "Encoder not found" in stderr:
        return "the ffmpeg of imageio-ffmpeg has no libx264/aac encoder: " + (lines[-1] or "")
    return "ffmpeg failed: " + (lines[-1] if lines else "no message")


class Encoder:
    """An ffmpeg process taking ``width × height`` RGB frames at ``fps`` and optional audio.

    ``audio``: float32 [n, channels] at ``sr`` Hz, already trimmed to the clip.
    """

    def __init__(
        self,
        out: Path,
        width: int,
        height: int,
        fps: float,
        audio: np.ndarray | None = None,
        sr: int = 44100,
        crf: int = 18,
        preset: str = "superfast",
    ) -> None:
        if width % 2 or height % 2:
            raise RenderError(f"H.264 in yuv420p needs an even size, got {width}×{height}")
        self.out = Path(out)
        self.tmp = temp_path(self.out)
        self.width, self.height = width, height
        self._frame_bytes = width * height * 3
        rate = fps_fraction(fps)
        cmd = [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-framerate",
            f"{rate.numerator}/{rate.denominator}",
            "-i",
            "pipe:0",
        ]
        audio_r = audio_w = None
        if audio is not None and len(audio):
            audio = np.ascontiguousarray(audio, dtype="<f4")
            channels = 1 if audio.ndim == 1 else audio.shape[1]
            audio_r, audio_w = os.pipe()
            cmd += ["-f", "f32le", "-ar", str(sr), "-ac", str(channels)]
            cmd += ["-i", f"pipe:{audio_r}"]
        cmd += ["-map", "0:v"] + (["-map", "1:a"] if audio_r is not None else [])
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf)]
        # BT.709, limited range, and said so in the file: browsers and phones show the colours
        # as rendered (an untagged stream is guessed at, often as BT.601).
        cmd += ["-vf", "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic"]
        cmd += ["-pix_fmt", "yuv420p", "-profile:v", "high"]
        cmd += ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
        cmd += ["-color_range", "tv"]
        if audio_r is not None:
            cmd += ["-c:a", "aac", "-b:a", "192k"]
        # The audio arrives all at once and the video at the engine's pace: let the muxer hold
        # a long song's encoded audio while it waits (an hour of AAC is ~90 MB).
        cmd += ["-max_muxing_queue_size", "1000000", "-muxing_queue_data_threshold", "256M"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(self.tmp)]
        self.cmd = cmd
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(audio_r,) if audio_r is not None else (),
                start_new_session=True,  # Ctrl-C is ours to handle: we stop ffmpeg
            )
        except OSError as exc:
            for fd in (audio_r, audio_w):
                if fd is not None:
                    os.close(fd)
            raise RenderError(f"cannot start ffmpeg: {exc}") from None
        self._stderr: list[bytes] = []
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_thread.start()
        self._audio_thread = None
        if audio_r is not None:
            os.close(audio_r)
            self._audio_thread = threading.Thread(
                target=self._feed_audio, args=(audio_w, audio), daemon=True
            )
            self._audio_thread.start()
        self._done = False

    def _read_stderr(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read(4096), b""):
            self._stderr.append(chunk)

    @staticmethod
    def _feed_audio(fd: int, audio: np.ndarray) -> None:
        view = memoryview(audio.reshape(-1).view(np.uint8))
        try:
            with open(fd, "wb", buffering=0) as pipe:
                for start in range(0, len(view), 1 << 16):
                    pipe.write(view[start : start + (1 << 16)])
        except (BrokenPipeError, OSError):
            pass  # ffmpeg went away: the video side reports why

    def stderr_text(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def write(self, frame: np.ndarray) -> None:
        """One uint8 [height, width, 3] frame."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(self.height, self.width, 3)}")
        try:
            self.proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, OSError):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)  # ffmpeg stopped reading: let it finish saying why
            self.abort()
            self._err_thread.join(5)
            raise RenderError(_explain(self.stderr_text(), self.out)) from None

    def finish(self) -> Path:
        """Close the input, wait for ffmpeg, rename the file into place; returns the path."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.close()
        code = self.proc.wait()
        self._err_thread.join(5)
        if self._audio_thread is not None:
            self._audio_thread.join(5)
        if code != 0 or not self.tmp.exists():
            self.abort()
            raise RenderError(_explain(self.stderr_text(), self.out))
        try:
            os.replace(self.tmp, self.out)
        except OSError as exc:
            self.abort()
            raise RenderError(f"cannot write {self.out}: {exc.strerror or exc}") from None
        self._done = True
        return self.out

    def abort(self) -> None:
        """Stop ffmpeg and remove the unfinished file (safe to call twice)."""
        if self._done:
            return
        self._done = True
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.tmp.unlink()
