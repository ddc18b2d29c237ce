"""Offline analysis: decode, stems, signals, rhythm -> Analysis (cached on disk).

Importing this package is cheap; the heavy modules (librosa) load on first use of
:func:`analyze`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hambajuba_tui.audio.analysis import Analysis, analyze
    from hambajuba_tui.audio.cache import load_cached
    from hambajuba_tui.audio.decode import Audio, AudioError, load_audio

__all__ = ["Analysis", "Audio", "AudioError", "analyze", "load_audio", "load_cached"]

_HOMES = {
    "Analysis": "hambajuba_tui.audio.analysis",
    "analyze": "hambajuba_tui.audio.analysis",
    "load_cached": "hambajuba_tui.audio.cache",
    "Audio": "hambajuba_tui.audio.decode",
    "AudioError": "hambajuba_tui.audio.decode",
    "load_audio": "hambajuba_tui.audio.decode",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
