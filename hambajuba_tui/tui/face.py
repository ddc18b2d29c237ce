"""The creature's face: a pure renderable (testable alone) and a widget holding its state.

Eyes blink just after each beat, widen on a drop (a sudden jump in energy), sleep when paused;
the mouth opens with the vocals.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from hambajuba_tui.tui.skin import Skin

BLINK_S = 0.12
"""Eyes stay closed this long after a beat."""


@dataclass(frozen=True)
class Expression:
    eyes: str = "open"  # open | closed | wide | asleep
    mouth: str = "rest"  # rest | open | wide | asleep


def expression_at(since_beat: float, drop: float, vocals: float, playing: bool) -> Expression:
    """Pick the face for this moment: ``since_beat`` s after the last beat, ``drop`` 0..1."""
    if not playing:
        return Expression("asleep", "asleep")
    if drop > 0.5:
        return Expression("wide", "wide")
    eyes = "closed" if 0.0 <= since_beat < BLINK_S else "open"
    return Expression(eyes, "open" if vocals > 0.45 else "rest")


class FaceRenderable:
    """The face's lines; ``compact`` draws the skin's one-line face (small windows)."""

    def __init__(self, skin: Skin, expression: Expression, compact: bool = False) -> None:
        self.skin, self.expression, self.compact = skin, expression, compact

    def lines(self) -> list[str]:
        skin, e = self.skin, self.expression
        eye = skin.eyes.get(e.eyes, "O")
        mouth = skin.mouths.get(e.mouth, "~")
        frame = (skin.face_mini,) if self.compact else skin.face_frame
        lines = [ln.replace("{l}", eye).replace("{r}", eye).replace("{m}", mouth) for ln in frame]
        width = max(cell_len(ln) for ln in lines)
        return [_center(ln, width) for ln in lines]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        style = Style(color=self.skin.colors.get("text"), bold=self.expression.eyes == "wide")
        for line in self.lines():
            yield Text(line, style=style, justify="center", no_wrap=True, overflow="crop")


def _center(line: str, width: int) -> str:
    pad = width - cell_len(line)
    return " " * (pad // 2) + line + " " * (pad - pad // 2)


def face_size(skin: Skin, compact: bool) -> tuple[int, int]:
    """(cells across, lines) the face needs with its widest eyes and mouth."""
    lines = FaceRenderable(skin, Expression("wide", "wide"), compact).lines()
    return max(cell_len(ln) for ln in lines), len(lines)


class Face(Widget):
    expression: reactive[Expression] = reactive(Expression())
    compact: reactive[bool] = reactive(False, layout=True)

    def __init__(self, skin: Skin, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skin = skin

    def render(self) -> FaceRenderable:
        return FaceRenderable(self.skin, self.expression, self.compact)
