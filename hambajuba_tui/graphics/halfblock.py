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


_STYLE_CACHE: dict[int, Style] = {}
_STYLE_CACHE_MAX = 100_000


def _style_for(key: int) -> Style:
    """Style of a quantised (fg, bg) pair packed as two 15-bit colours."""
    style = _STYLE_CACHE.get(key)
    if style is None:
        if len(_STYLE_CACHE) >= _STYLE_CACHE_MAX:
            _STYLE_CACHE.clear()
        fg, bg = key >> 15, key & 0x7FFF
        style = Style(color=Color.from_rgb(*_unpack(fg)), bgcolor=Color.from_rgb(*_unpack(bg)))
        _STYLE_CACHE[key] = style
    return style


def _unpack(c: int) -> tuple[int, int, int]:
    return ((c >> 10) & 31) * 255 // 31, ((c >> 5) & 31) * 255 // 31, (c & 31) * 255 // 31


def style_keys(pixels: np.ndarray) -> np.ndarray:
    """int64 [n, w] keys of (upper, lower) pixel pairs, colours quantised to 5 bits a channel.

    Quantising lets the few thousand distinct pairs of a frame share cached Style objects;
    32 levels a channel is below what half-block cells can show.
    """
    q = (pixels >> 3).astype(np.int64)
    packed = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    return (packed[0::2] << 15) | packed[1::2]


def halfblock_strips(pixels: np.ndarray, pad_left: int = 0, total_width: int = 0) -> list[Strip]:
    """One Strip per pair of pixel rows of ``pixels`` (uint8 [2n, w, 3]).

    Each strip is padded to ``total_width`` cells so Textual never crops or wraps it.
    """
    w = pixels.shape[1]
    total = max(total_width, w + pad_left)
    pad_right = total - w - pad_left
    left = [Segment(" " * pad_left)] if pad_left else []
    right = [Segment(" " * pad_right)] if pad_right else []
    strips = []
    for row in style_keys(pixels).tolist():
        cells = [Segment(UPPER_HALF, _style_for(k)) for k in row]
        strips.append(Strip(left + cells + right, total))
    return strips
