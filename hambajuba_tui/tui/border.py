"""The heart's border: four thin edge widgets around the heart pane that swell on each beat.

It is not a CSS border on the pane's container: repainting a border repaints the
whole container, image cells included, and text painted over a sixel or half-block image
erases it. Four separate edges repaint only their own cells, so the beat can pulse the
border (colour and glyphs) several times a second while the image stays untouched.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from hambajuba_tui.tui.skin import Skin, blend

GLYPHS = {  # top-left, horizontal, top-right, vertical, bottom-left, bottom-right
    "round": "╭─╮│╰╯",
    "heavy": "┏━┓┃┗┛",
    "double": "╔═╗║╚╝",
    "solid": "┌─┐│└┘",
    "ascii": "+-+|++",
    "none": "      ",
}


def border_style(skin: Skin, pulse: float) -> tuple[str, str]:
    """(glyphs, colour) of the border at swell ``pulse`` 0..1: the skin's pulse border from
    half a swell up, the colour blended from the accent to the pulse colour."""
    border = skin.heart_pulse_border if pulse >= 0.5 else skin.heart_border
    if skin.heart_border == "none":
        border = "none"
    return GLYPHS[border], blend(skin.colors["accent"], skin.heart_pulse_color, pulse)


def edge_text(edge: str, width: int, height: int, glyphs: str, label: str = "") -> list[str]:
    """The lines of one edge: ``top``/``bottom`` are one line ``width`` wide with corners and
    a centred label; ``left``/``right`` are ``height`` lines of one vertical glyph."""
    tl, h, tr, v, bl, br = glyphs
    if edge in ("left", "right"):
        return [v] * height
    if width <= 0:
        return [""]
    if width < 2:
        return [h * width]
    inner = width - 2
    text = f" {label} " if label and inner >= 5 else ""
    if cell_len(text) > inner:
        text = _crop(text, inner - 1) + "…" if inner > 1 else ""
    pad = inner - cell_len(text)
    left = pad // 2
    line = h * left + text + h * (pad - left)
    return [(tl if edge == "top" else bl) + line + (tr if edge == "top" else br)]


def _crop(text: str, cells: int) -> str:
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > cells:
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (cells - used)


class HeartEdge(Widget):
    """One edge of the heart's border (``top``, ``bottom``, ``left`` or ``right``)."""

    DEFAULT_CSS = """
    HeartEdge { width: 1fr; height: 1; }
    HeartEdge.-side { width: 1; height: 1fr; }
    """
    pulse: reactive[float] = reactive(0.0)
    label: reactive[str] = reactive("")

    def __init__(self, skin: Skin, edge: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skin, self.edge = skin, edge
        self.set_class(edge in ("left", "right"), "-side")

    def render_line(self, y: int) -> Strip:
        glyphs, color = border_style(self.skin, self.pulse)
        lines = edge_text(self.edge, self.size.width, self.size.height, glyphs, self.label)
        text = lines[y] if 0 <= y < len(lines) else ""
        style = Style(color=color, bgcolor=self.skin.colors["background"], bold=self.pulse >= 0.5)
        return Strip([Segment(text, style)], cell_len(text)).adjust_cell_length(
            self.size.width, Style(bgcolor=self.skin.colors["background"])
        )
