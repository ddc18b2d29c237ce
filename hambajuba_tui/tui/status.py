"""The status line: time / duration, BPM, key, engine, fps, dropped frames, graphics, sound."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True)
class StatusInfo:
    playing: bool
    now: float
    duration: float
    bpm: float
    engine: str
    fps: float
    dropped: int
    graphics: str
    sound: str
    worker: str = "running"
    key: str = ""
    link: str = ""
    """A remote engine's round trip and frames in flight (``link_text``), or empty."""
    analysing: str = ""
    """The background analysis, e.g. ``analysing 42%`` (empty when there is none)."""
    source: str = ""
    """Live input: the source listened to (empty for a song)."""
    input: str = ""
    """Live input: the level (``in -18 dB``), ``listening…`` in silence, or what is wrong."""

    def text(self) -> str:
        state = "▶" if self.playing else "❚❚"
        engine = self.engine if self.worker == "running" else f"{self.engine} ({self.worker})"
        if self.source:
            where = f"{state} live {self.source}  ·  {self.input}"
        else:
            where = f"{state} {clock_text(self.now)} / {clock_text(self.duration)}"
        bpm = f"{self.bpm:.1f} BPM" if self.bpm > 0 else "– BPM"
        return "  ·  ".join(
            [
                where,
                bpm + (f"  ·  {self.key}" if self.key else ""),
                *([self.analysing] if self.analysing else []),
                f"engine {engine}" + (f"  ·  {self.link}" if self.link else ""),
                f"{self.fps:.0f} fps",
                f"dropped {self.dropped}",
                self.graphics,
                *([] if self.source else [self.sound]),
            ]
        )


def link_text(link) -> str:
    """``rtt 42 ms · 2 in flight`` for a connected remote engine (a protocol ``Link``)."""
    if link is None or not link.connected:
        return ""
    return f"rtt {link.rtt_ms:.0f} ms  ·  {link.in_flight} in flight"


def input_text(state: str, level_db: float, message: str = "") -> str:
    """The live input's few words: its level, ``listening…`` while silent, or the problem."""
    if state in ("waiting", "stopped"):
        return message or "no input"
    if state in ("listening", "starting") or not level_db > -120:
        return "listening…"
    return f"in {level_db:.0f} dB"


class StatusLine(Widget):
    """One line of text; a repaint only when the text changes, never a layout pass."""

    DEFAULT_CSS = "StatusLine { height: 1; padding: 0 1; }"
    text: reactive[str] = reactive("", layout=False)

    def render(self) -> Text:
        text = self.text
        if len(text) > self.content_size.width:  # narrow window: tighter separators
            text = text.replace("  ·  ", " · ")
        return Text(text, no_wrap=True, overflow="ellipsis")
