"""Rasterise terminal cells into an image: Rich renderables (the creature's face and orbs)
and plain styled text, drawn on a character grid in a monospace font.

Glyphs are drawn once per (character, bold) into an alpha mask and cached; drawing a cell is
a numpy blend of its mask between the background and the foreground colour. Characters the
monospace font lacks come from DejaVu Sans (then the font's own box), scaled into the cell.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)
MONO = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
FALLBACK = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")

RGB = tuple[int, int, int]


def hex_rgb(color: str) -> RGB:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


def _find(name: str) -> Path | None:
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    try:  # matplotlib ships DejaVu; use it where the system has no fonts
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
        return path if path.is_file() else None
    except ImportError:
        return None


def _load(name: str, size: int) -> ImageFont.FreeTypeFont | None:
    path = _find(name)
    return ImageFont.truetype(str(path), size) if path else None


class CellFont:
    """A monospace font at ``size`` px; cells are ``cell_w × cell_h`` pixels."""

    def __init__(self, size: int) -> None:
        self.size = size
        regular, bold = (_load(n, size) for n in MONO)
        if regular is None:
            regular = ImageFont.load_default(size)
            self.note = "DejaVu Sans Mono not found (apt-get install fonts-dejavu-core)"
        else:
            self.note = ""
        self.fonts = {False: regular, True: bold or regular}
        fallback = [_load(n, size) for n in FALLBACK]
        self.fallback = {False: fallback[0], True: fallback[1] or fallback[0]}
        ascent, descent = regular.getmetrics()
        self.cell_w = max(1, round(regular.getlength("M")))
        self.cell_h = ascent + descent
        self._notdef = {bold: self._ink(f, "\U0010fffd") for bold, f in self.fonts.items()}

    def _ink(self, font, ch: str) -> bytes:
        img = Image.new("L", (self.cell_w * 2, self.cell_h), 0)
        ImageDraw.Draw(img).text((0, 0), ch, font=font, fill=255)
        return img.tobytes()

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one font per render, glyphs reused
    def mask(self, ch: str, bold: bool) -> np.ndarray:
        """uint8 [cell_h, cell_w × cells]: the glyph's coverage in its cells."""
        cells = max(1, cell_len(ch))
        w, h = self.cell_w * cells, self.cell_h
        font = self.fonts[bold]
        if (
            ch.strip()
            and self._ink(font, ch) == self._notdef[bold]
            and self.fallback[bold] is not None
        ):
            font = self.fallback[bold]
        img = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(img)
        width = font.getlength(ch)
        if width > w * 1.05:  # a wide fallback glyph: squeeze it into its cells
            big = Image.new("L", (int(width) + 2, h), 0)
            ImageDraw.Draw(big).text((0, 0), ch, font=font, fill=255)
            img = big.resize((w, h), Image.BILINEAR)
        else:
            draw.text(((w - width) / 2, 0), ch, font=font, fill=255)
        return np.asarray(img, np.uint8)


class CellCanvas:
    """An RGB image with a character grid at pixel offset ``origin``."""

    def __init__(
        self, width: int, height: int, font: CellFont, background: str, origin=(0, 0)
    ) -> None:
        self.font = font
        self.background = hex_rgb(background)
        self.pixels = np.empty((height, width, 3), np.uint8)
        self.pixels[:] = self.background
        self.origin = origin

    def cell_xy(self, col: int, row: int) -> tuple[int, int]:
        return self.origin[0] + col * self.font.cell_w, self.origin[1] + row * self.font.cell_h

    def fill_cells(self, col: int, row: int, cols: int, rows: int, color: RGB | None = None):
        x, y = self.cell_xy(col, row)
        w, h = cols * self.font.cell_w, rows * self.font.cell_h
        self.pixels[max(y, 0) : y + h, max(x, 0) : x + w] = color or self.background

    def text(self, col: int, row: int, text: str, fg: RGB, bg: RGB | None = None, bold=False):
        """Draw ``text`` from cell (col, row); returns the column after it."""
        for ch in text:
            col = self.glyph(col, row, ch, fg, bg, bold)
        return col

    def glyph(self, col: int, row: int, ch: str, fg: RGB, bg: RGB | None, bold: bool) -> int:
        cells = cell_len(ch)
        if cells == 0:
            return col
        x, y = self.cell_xy(col, row)
        mask = self.font.mask(ch, bold)
        h, w = mask.shape
        H, W = self.pixels.shape[:2]
        if x < 0 or y < 0 or x + w > W or y + h > H:
            return col + cells  # off the canvas: clipped
        region = self.pixels[y : y + h, x : x + w]
        if bg is not None:
            region[:] = bg
        if ch != " ":
            a = mask.astype(np.uint16)[..., None]
            blended = (region.astype(np.uint16) * (255 - a) + np.array(fg, np.uint16) * a) // 255
            region[:] = blended.astype(np.uint8)
        return col + cells

    def segments(self, col: int, row: int, lines: list[list[Segment]], default_fg: RGB):
        """Draw Rich segment lines (as ``Console.render_lines`` gives them) from (col, row)."""
        for dy, line in enumerate(lines):
            c = col
            for seg in line:
                if seg.control:
                    continue
                style = seg.style or Style()
                fg = _rgb(style.color) or default_fg
                bg = _rgb(style.bgcolor)
                c = self.text(c, row + dy, seg.text, fg, bg, bool(style.bold))

    def paste(self, x: int, y: int, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.pixels[y : y + h, x : x + w] = image


def _rgb(color) -> RGB | None:
    if color is None or color.is_default:
        return None
    t = color.get_truecolor()
    return (t.red, t.green, t.blue)


@functools.lru_cache(maxsize=1)
def _console() -> Console:
    return Console(
        width=200,
        color_system="truecolor",
        force_terminal=True,
        legacy_windows=False,
        file=open(__import__("os").devnull, "w"),  # noqa: SIM115 - never written
    )


def render_lines(renderable, width: int) -> list[list[Segment]]:
    """A Rich renderable as lines of segments ``width`` cells wide (as the TUI draws it)."""
    console = _console()
    options = console.options.update(width=width, no_wrap=True)
    return console.render_lines(renderable, options, pad=False)
