"""The heart pane: the engine's frames, drawn with half-blocks.

The pane itself has no border or padding (so Textual never crops the image); the border and
the engine label live on the container around it.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from hambajuba_tui.graphics.halfblock import Resampler, fit_size, halfblock_strips


class Heart(Widget):
    DEFAULT_CSS = "Heart { width: 1fr; height: 1fr; padding: 0; border: none; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._frame: np.ndarray | None = None
        self._resampler: Resampler | None = None
        self._strips: list[Strip] = []
        self._strips_for: tuple | None = None
        self.frames_drawn = 0

    def show_frame(self, frame: np.ndarray) -> None:
        """Take a new frame (uint8 [H, W, 3]); it is drawn on the next refresh."""
        self._frame = frame
        self._strips_for = None
        self.refresh()

    def _build(self) -> None:
        cols, rows = self.size
        key = (cols, rows)
        if self._frame is None or self._strips_for == key:
            return
        fh, fw = self._frame.shape[:2]
        w, h = fit_size(fw, fh, cols, rows)
        if w == 0 or h == 0:
            self._strips, self._strips_for = [], key
            return
        if self._resampler is None or self._resampler.key != (fw, fh, w, h):
            self._resampler = Resampler(fw, fh, w, h)
        pixels = self._resampler(self._frame)
        pad = self._pad_style()
        strips = halfblock_strips(pixels, pad_left=(cols - w) // 2, total_width=cols,
                                  pad_style=pad)
        top = (rows - len(strips)) // 2
        blank = Strip.blank(cols, pad)
        self._strips = [blank] * top + strips + [blank] * (rows - top - len(strips))
        self._strips_for = key
        self.frames_drawn += 1

    def _pad_style(self) -> Style:
        """The background around the image: whatever is behind the pane."""
        return Style(bgcolor=self.rich_style.bgcolor)

    def render_line(self, y: int) -> Strip:
        self._build()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self._pad_style())
