"""Flower orbs, one per routed stem: a bud that blooms with its stem's activity and flutters
on transients. Pure renderable plus a widget with reactive state.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from hambajuba_tui.tui.skin import Skin, blend


def bloom_stage(activity: float, n_stages: int) -> int:
    """Stage index 0 (bud) .. n_stages-1 (full bloom) for activity 0..1."""
    a = min(max(activity, 0.0), 1.0)
    return min(int(a * n_stages), n_stages - 1)


ORB_SIZE = (11, 5)
"""An orb's cells, columns × rows: three lines of glyphs and the stem's name, with air."""
ORB_COMPACT_SIZE = (7, 1)
"""A compact orb: the middle line of glyphs only."""


def orb_size(compact: bool) -> tuple[int, int]:
    """Columns × rows of one orb (the layout sizes orbs from this; the CSS does not)."""
    return ORB_COMPACT_SIZE if compact else ORB_SIZE


QUIET = 0.45
"""How much of its colour a silent stem keeps (the rest is the background's)."""


def orb_color(skin: Skin, stem: str, activity: float) -> str:
    """The stem's colour, fading into the background when the stem is quiet (also used for
    its tendril)."""
    return blend(
        skin.colors["background"],
        skin.stem_color(stem),
        QUIET + (1.0 - QUIET) * min(max(activity, 0.0), 1.0),
    )


class OrbRenderable:
    """Three lines of glyphs and the stem's name; ``compact`` keeps the middle line only."""

    def __init__(
        self, skin: Skin, stem: str, activity: float, flutter: bool, compact: bool = False
    ) -> None:
        self.skin, self.stem, self.activity, self.flutter = skin, stem, activity, flutter
        self.compact = compact

    def glyph_lines(self) -> tuple[str, ...]:
        stages = self.skin.orb_stages
        stage = bloom_stage(self.activity, len(stages))
        if self.flutter and stage >= len(stages) // 2:
            return self.skin.orb_flutter
        return stages[stage]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        style = Style(
            color=orb_color(self.skin, self.stem, self.activity), bold=self.activity > 0.75
        )
        lines = self.glyph_lines()
        for line in lines[1:2] if self.compact else lines:
            yield Text(line, style=style, justify="center", no_wrap=True, overflow="crop")
        if not self.compact:
            yield Text(
                self.stem or "—",
                style=Style(color=self.skin.colors.get("dim")),
                justify="center",
                no_wrap=True,
                overflow="ellipsis",
            )


class Orb(Widget):
    activity: reactive[float] = reactive(0.0)
    flutter: reactive[bool] = reactive(False)
    stem: reactive[str] = reactive("")
    compact: reactive[bool] = reactive(False)

    def __init__(self, skin: Skin, stem: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skin = skin
        self.stem = stem

    def render(self) -> OrbRenderable:
        return OrbRenderable(self.skin, self.stem, self.activity, self.flutter, self.compact)
