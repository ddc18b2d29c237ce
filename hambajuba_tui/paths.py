"""Where hambajuba keeps things: user config, cache and data directories (platformdirs).

``HAMBAJUBA_HOME`` overrides all three (tests and CI point it at a temp dir).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "hambajuba"


def _base(kind: str) -> Path:
    home = os.environ.get("HAMBAJUBA_HOME")
    path = Path(home) / kind if home else Path(getattr(platformdirs, f"user_{kind}_dir")(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    return _base("config")


def cache_dir() -> Path:
    return _base("cache")


def data_dir() -> Path:
    return _base("data")


def analysis_cache_dir() -> Path:
    """One sub-directory per song content hash."""
    path = cache_dir() / "analysis"
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_dir() -> Path:
    """Where the synthesised demo song and its true stems are written."""
    path = cache_dir() / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def performance_path(song_hash: str) -> Path:
    """The saved setup (Session as TOML) for one song."""
    return data_dir() / "performances" / f"{song_hash}.toml"


def crash_log_path() -> Path:
    """A new file for one crash's traceback (under the user state dir's ``logs/``)."""
    import time

    folder = _base("state") / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"crash-{stamp}-{os.getpid()}.log"
