"""The one Engine protocol: what the worker knows about an engine, and nothing more.

Every engine (preview, sdxl-turbo, remote) offers: ``name``, its size (``width``, ``height``),
scenes (``set_scenes``), ``generate(params, out)`` into the caller's buffer, ``reseed`` in place
(new noise copied into the buffers the step already reads: no rebuild, no recompile) and
``close``. A new kind of engine is a new class, never a new branch in the worker.

Three small hooks have defaults here, so a local engine that subclasses :class:`Engine` needs
nothing for them: ``latency()`` (seconds a frame takes beyond the ``generate`` call itself —
a remote engine's round trip), ``link()`` (what the status line shows about a remote link) and
``news()`` (lines to tell the user, e.g. "server lost, running the preview").

This module is imported by the TUI process: no torch, no numpy-heavy work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from hambajuba_tui.bridge.params import FrameParams


@dataclass(frozen=True)
class Link:
    """A remote engine's link, for the status line."""

    host: str
    rtt_ms: float
    in_flight: int
    connected: bool = True


@runtime_checkable
class Engine(Protocol):
    """Turns FrameParams into pixels. ``name``, ``width`` and ``height`` are attributes."""

    name: str
    width: int
    height: int

    def set_scenes(self, prompt_a: str | None = None, prompt_b: str | None = None) -> None:
        """Scenes A and B from their prompts; None keeps the engine's default."""
        ...

    def generate(self, params: FrameParams, out: np.ndarray) -> float | None:
        """Write a frame into ``out`` (uint8 [height, width, 3], C-contiguous, in place).

        Returns the media time of the frame now in ``out`` — ``params.t`` for a local engine; a
        remote engine may write the newest frame that arrived (an earlier request's time) — or
        None when nothing was written (``out`` untouched)."""
        ...

    def reseed(self, seed: int) -> None:
        """New seed noise, copied in place into the buffers the step reads."""
        ...

    def close(self) -> None:
        """Free what the engine holds (connections, threads); idempotent."""
        return None

    def latency(self) -> float:
        """Seconds between a ``generate`` call and its frame beyond the call itself."""
        return 0.0

    def link(self) -> Link | None:
        """The remote link, or None for a local engine."""
        return None

    def news(self) -> list[str]:
        """Lines for the user since the last call (drained)."""
        return []


__all__ = ["Engine", "Link"]
