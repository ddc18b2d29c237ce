"""Half-block output: each cell shows two pixels, the upper as the ▀ glyph's colour, the lower
as the background. Works in any truecolor terminal; the fallback when kitty and sixel are absent.

The live pane writes :class:`HalfblockEncoder`'s escapes straight to the terminal: every cell is
a fixed-width ``ESC[38;2;RRR;GGG;BBB;48;2;RRR;GGG;BBBm▀`` whose digits come from a pre-rendered
table, so a frame is a handful of numpy copies.
"""

from __future__ import annotations

import numpy as np

from hambajuba_tui.graphics.layout import Placement

UPPER_HALF = "\u2580"


class Resampler:
    """Nearest-neighbour index maps from a frame size to a cell grid, built once per size."""

    def __init__(self, frame_w: int, frame_h: int, out_w: int, out_h: int) -> None:
        self.key = (frame_w, frame_h, out_w, out_h)
        self.ys = ((np.arange(out_h) + 0.5) * frame_h / out_h).astype(np.intp)
        self.xs = ((np.arange(out_w) + 0.5) * frame_w / out_w).astype(np.intp)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """uint8 [out_h, out_w, 3] from uint8 [frame_h, frame_w, 3]."""
        return frame[self.ys[:, None], self.xs[None, :]]


_DIGITS = np.array([list(b"%03d" % v) for v in range(256)], np.uint8)
"""Pre-rendered zero-padded decimals: SGR parameters may carry leading zeros."""
_CELL = "\x1b[38;2;000;000;000;48;2;000;000;000m\u2580".encode()
_FG, _BG = (7, 11, 15), (24, 28, 32)  # offsets of the six 3-digit fields in _CELL
_MOVE = len(b"\x1b[000;000H")
_RESET = b"\x1b[0m"


class HalfblockEncoder:
    """Frames → half-block escapes for one pane (cursor saved and restored)."""

    protocol = "halfblock"

    def __init__(self) -> None:
        self._resampler: Resampler | None = None
        self._template: np.ndarray | None = None
        self._template_for: tuple | None = None

    def _rows(self, place: Placement) -> np.ndarray:
        """uint8 [rows, bytes per row] template for ``place``; digits are filled per frame."""
        key = (place.col, place.row, place.cols, place.rows)
        if self._template_for != key:
            line = bytearray()
            row_bytes = _MOVE + len(_CELL) * place.cols + len(_RESET)
            tmpl = np.empty((place.rows, row_bytes), np.uint8)
            for r in range(place.rows):
                line = b"\x1b[%03d;%03dH" % (place.row + r + 1, place.col + 1)
                line += _CELL * place.cols + _RESET
                tmpl[r] = np.frombuffer(line, np.uint8)
            self._template, self._template_for = tmpl, key
        return self._template

    def pixels(self, frame: np.ndarray, place: Placement) -> np.ndarray:
        fh, fw = frame.shape[:2]
        key = (fw, fh, place.cols, 2 * place.rows)
        if self._resampler is None or self._resampler.key != key:
            self._resampler = Resampler(fw, fh, place.cols, 2 * place.rows)
        return self._resampler(frame)

    def encode(self, frame: np.ndarray, place: Placement) -> str:
        if place.row + place.rows > 999 or place.col + place.cols > 999:
            raise ValueError("half-block panes end before row and column 1000")
        px = self.pixels(frame, place)
        tmpl = self._rows(place)
        cells = tmpl[:, _MOVE : _MOVE + len(_CELL) * place.cols].reshape(
            place.rows, place.cols, len(_CELL)
        )
        for half, offsets in ((px[0::2], _FG), (px[1::2], _BG)):
            for ch, at in enumerate(offsets):
                cells[:, :, at : at + 3] = _DIGITS[half[:, :, ch]]
        return "\x1b7" + tmpl.tobytes().decode() + "\x1b8"

    def clear(self) -> str:
        return ""
