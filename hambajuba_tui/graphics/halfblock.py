"""Half-block output: each cell shows two pixels, the upper as the ▀ glyph's colour, the lower
as the background. Works in any truecolor terminal; the fallback when kitty and sixel are absent.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

UPPER_HALF = "\u2580"


def fit_size(frame_w: int, frame_h: int, cols: int, rows: int) -> tuple[int, int]:
    """Largest (cols, pixel rows) that keeps the frame's aspect in ``cols × rows`` cells.

    A half-block cell holds two square-ish pixels stacked, so pixel rows = 2 × cell rows.
    """
    if cols <= 0 or rows <= 0:
        return 0, 0
    scale = min(cols / frame_w, 2 * rows / frame_h)
    w = max(1, int(frame_w * scale))
    h = max(2, int(frame_h * scale) // 2 * 2)
    return min(w, cols), min(h, 2 * rows)


class Resampler:
    """Nearest-neighbour index maps from a frame size to a cell grid, built once per size."""

    def __init__(self, frame_w: int, frame_h: int, out_w: int, out_h: int) -> None:
        self.key = (frame_w, frame_h, out_w, out_h)
        self.ys = ((np.arange(out_h) + 0.5) * frame_h / out_h).astype(np.intp)
        self.xs = ((np.arange(out_w) + 0.5) * frame_w / out_w).astype(np.intp)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """uint8 [out_h, out_w, 3] from uint8 [frame_h, frame_w, 3]."""
        return frame[self.ys[:, None], self.xs[None, :]]


_COLORS: list[Color | None] = [None] * 32768
"""One Color per 15-bit colour, made on first use (bounded: 32k small objects at most)."""
_STYLE_CACHE: dict[int, Style] = {}
_STYLE_CACHE_MAX = 200_000


def _color(c: int) -> Color:
    color = _COLORS[c]
    if color is None:
        r, g, b = (c >> 10) & 31, (c >> 5) & 31, c & 31
        color = _COLORS[c] = Color.from_rgb(r * 255 // 31, g * 255 // 31, b * 255 // 31)
    return color


def _style_for(key: int) -> Style:
    """Style of a quantised (fg, bg) pair packed as two 15-bit colours."""
    style = _STYLE_CACHE.get(key)
    if style is None:
        if len(_STYLE_CACHE) >= _STYLE_CACHE_MAX:
            _STYLE_CACHE.clear()
        style = _STYLE_CACHE[key] = Style.from_color(_color(key >> 15), _color(key & 0x7FFF))
    return style


def style_keys(pixels: np.ndarray) -> np.ndarray:
    """int64 [n, w] keys of (upper, lower) pixel pairs, colours quantised to 5 bits a channel.

    Quantising lets the few thousand distinct pairs of a frame share cached Style objects;
    32 levels a channel is below what half-block cells can show.
    """
    q = (pixels >> 3).astype(np.int64)
    packed = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    return (packed[0::2] << 15) | packed[1::2]


def halfblock_strips(pixels: np.ndarray, pad_left: int = 0, total_width: int = 0,
                     pad_style: Style | None = None) -> list[Strip]:
    """One Strip per pair of pixel rows of ``pixels`` (uint8 [2n, w, 3]).

    Each strip is padded to ``total_width`` cells (in ``pad_style``) so Textual never crops
    or wraps it.
    """
    w = pixels.shape[1]
    total = max(total_width, w + pad_left)
    pad_right = total - w - pad_left
    left = [Segment(" " * pad_left, pad_style)] if pad_left else []
    right = [Segment(" " * pad_right, pad_style)] if pad_right else []
    keys = style_keys(pixels)
    # Neighbouring cells often share a quantised colour pair: one segment per run.
    starts = np.ones(keys.shape, bool)
    starts[:, 1:] = keys[:, 1:] != keys[:, :-1]
    strips = []
    for row, row_starts in zip(keys.tolist(), starts.tolist()):
        cells = []
        run = 0
        for x in range(w - 1, -1, -1):
            run += 1
            if row_starts[x]:
                cells.append(Segment(UPPER_HALF * run, _style_for(row[x])))
                run = 0
        cells.reverse()
        strips.append(Strip(left + cells + right, total))
    return strips
