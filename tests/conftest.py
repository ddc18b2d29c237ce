"""Shared fixtures. Every test runs with HAMBAJUBA_HOME in a temp dir and no sound device."""

from __future__ import annotations

import numpy as np
import pytest

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path_factory.getbasetemp() / "home"))
    monkeypatch.setenv("HAMBAJUBA_AUDIO", "none")
    # Model caches (demucs weights, Hugging Face): empty, so `auto` behaves the same everywhere.
    models = tmp_path_factory.getbasetemp() / "models"
    for var, sub in (("HF_HOME", "hf"), ("TORCH_HOME", "torch"), ("XDG_CACHE_HOME", "xdg")):
        monkeypatch.setenv(var, str(models / sub))


def make_analysis(duration: float = 12.0, bpm: float = 120.0) -> Analysis:
    """A small hand-made Analysis: drums hit on every beat, bass swells per bar, others hum.

    Built without librosa so bridge, worker and app tests stay fast and their truth is known.
    """
    n = int(duration * GRID_RATE)
    t = np.arange(n) / GRID_RATE
    period = 60.0 / bpm
    beats = np.arange(0.0, duration, period)
    since = t - beats[np.clip(np.searchsorted(beats, t, side="right") - 1, 0, None)]
    pulse = np.exp(-since / 0.04).astype(np.float32)
    signals: dict[str, np.ndarray] = {}
    shapes = {
        "drums": 0.3 + 0.7 * np.exp(-since / 0.15),
        "bass": 0.5 + 0.5 * np.sin(2 * np.pi * t / (4 * period)) ** 2,
        "vocals": np.clip(np.sin(2 * np.pi * t / 5.0), 0, 1),
        "other": np.full(n, 0.4),
    }
    for stem in PHYSICAL_STEMS:
        env = shapes[stem].astype(np.float32)
        signals[f"{stem}.envelope"] = env
        signals[f"{stem}.energy_smooth"] = env
        signals[f"{stem}.flash"] = env
        signals[f"{stem}.sustain"] = env
        signals[f"{stem}.transient"] = pulse if stem == "drums" else np.zeros(n, np.float32)
    mix = np.mean([signals[f"{s}.energy_smooth"] for s in PHYSICAL_STEMS], axis=0)
    for name in ("envelope", "energy_smooth", "flash", "sustain"):
        signals[f"global.{name}"] = mix.astype(np.float32)
    signals["global.transient"] = pulse
    return Analysis(
        song_hash="synthetic",
        duration=duration,
        bpm=bpm,
        beats=beats,
        downbeats=beats[::4],
        stems_backend="synthetic",
        signals=signals,
        title="synthetic",
    )


@pytest.fixture
def analysis() -> Analysis:
    return make_analysis()


@pytest.fixture
def make_app(analysis):
    """Builds the real app on a silent Show of the synthetic song (``tests/pilot.py``); call it
    inside the scenario: ``make_app()``, ``make_app(graphics=...)``, ``make_app(size=64)``."""
    from pilot import app_for  # here, not at the top: only the app tests pay for Textual

    return lambda **kwargs: app_for(analysis, **kwargs)
