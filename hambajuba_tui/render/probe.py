"""Read a rendered video back through the same ffmpeg: its streams, frames and audio.

For tests and benchmarks (and anyone checking a render): :func:`probe` parses ffmpeg's
stream description, :func:`decode_frames` and :func:`decode_audio` decode through pipes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from hambajuba_tui.render.encoder import ffmpeg_exe

_VIDEO = re.compile(
    r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+).*?, (?P<pix>\w+)(?:\(.*?\))?, "
    r"(?P<w>\d+)x(?P<h>\d+).*?, (?P<fps>[\d.]+) fps"
)
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (?P<codec>\w+).*?, (?P<sr>\d+) Hz, (?P<ch>\w+)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def probe(path: Path) -> dict:
    """{'duration', 'video': {codec, pix_fmt, width, height, fps}, 'audio': {codec, sr,
    channels} or None} from ffmpeg's description of the file."""
    text = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    info: dict = {"duration": None, "video": None, "audio": None}
    if m := _DURATION.search(text):
        h, mi, s = m.groups()
        info["duration"] = int(h) * 3600 + int(mi) * 60 + float(s)
    if m := _VIDEO.search(text):
        info["video"] = {
            "codec": m["codec"],
            "pix_fmt": m["pix"],
            "width": int(m["w"]),
            "height": int(m["h"]),
            "fps": float(m["fps"]),
        }
    if m := _AUDIO.search(text):
        info["audio"] = {"codec": m["codec"], "sr": int(m["sr"]), "channels": m["ch"]}
    return info


def decode_frames(path: Path, width: int, height: int) -> np.ndarray:
    """uint8 [n, height, width, 3]: every frame of the file, as RGB."""
    raw = subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:v:0"]
        + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def decode_audio(path: Path, sr: int = 44100) -> np.ndarray:
    """float32 [n, 2]: the file's audio at ``sr`` Hz (empty when it has none)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0?"]
        + ["-f", "f32le", "-ac", "2", "-ar", str(sr), "-"],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(proc.stdout, np.float32).reshape(-1, 2)
