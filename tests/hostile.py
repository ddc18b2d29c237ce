"""Helpers for the hostile-input tests (issue 15): a short song whose analysis is already
cached, the CLI in a subprocess with its own HAMBAJUBA_HOME, deep nesting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import make_analysis

from hambajuba_tui.audio import cache
from hambajuba_tui.audio.decode import content_hash

DEEP = 3000


def deep(n: int = DEEP) -> str:
    return "[" * n + "]" * n


def cli(*args: str, home: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "HAMBAJUBA_AUDIO": "none", "HAMBAJUBA_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )


def seeded_song(tmp_path: Path, home: Path, seconds: float = 6.0) -> Path:
    """A short WAV whose analysis is already in the cache (a hand-made one: no librosa)."""
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    mix = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    path = tmp_path / "song.wav"
    sf.write(path, mix, sr)
    a = make_analysis(duration=seconds)
    a.song_hash = content_hash(path)
    a.stems_backend = "dsp"
    cache.save(a, home / "cache" / "analysis")
    return path


def performance_file(home: Path, path: Path) -> Path:
    out = home / "data" / "performances" / f"{content_hash(path)}.toml"
    out.parent.mkdir(parents=True, exist_ok=True)
    return out
