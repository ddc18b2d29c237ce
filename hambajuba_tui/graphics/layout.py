"""Where an image goes in a pane: the cells it covers and its size in pixels.

All encoders share this so the image keeps the frame's aspect ratio (cells are not square)
and is centred in the pane, whatever the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    col: int  # screen column of the image's top-left cell (0-based)
    row: int  # screen row of the image's top-left cell (0-based)
    cols: int  # cells covered across
    rows: int  # cells covered down
    width: int  # pixels across the image is drawn at (sixel, half-blocks)
    height: int  # pixels down

    @property
    def empty(self) -> bool:
        return self.cols <= 0 or self.rows <= 0 or self.width <= 0 or self.height <= 0


def fit(
    frame_w: int,
    frame_h: int,
    x: int,
    y: int,
    cols: int,
    rows: int,
    cell_w: int,
    cell_h: int,
    px_per_cell: tuple[int, int] | None = None,
) -> Placement:
    """Largest placement of a ``frame_w × frame_h`` image inside the pane at (x, y) of
    ``cols × rows`` cells of ``cell_w × cell_h`` pixels, centred, aspect kept.

    ``px_per_cell`` (half-blocks: (1, 2)) sets how many image pixels one cell holds
    instead of the cell's real pixels; the aspect still follows the real cell shape.
    """
    if min(frame_w, frame_h, cols, rows, cell_w, cell_h) <= 0:
        return Placement(x, y, 0, 0, 0, 0)
    scale = min(cols * cell_w / frame_w, rows * cell_h / frame_h)
    shown_w, shown_h = frame_w * scale, frame_h * scale  # in screen pixels
    use_cols = max(1, min(cols, round(shown_w / cell_w)))
    use_rows = max(1, min(rows, round(shown_h / cell_h)))
    if px_per_cell is None:
        width = max(1, min(int(shown_w), use_cols * cell_w))
        height = max(1, min(int(shown_h), use_rows * cell_h))
    else:
        width, height = use_cols * px_per_cell[0], use_rows * px_per_cell[1]
    return Placement(
        x + (cols - use_cols) // 2, y + (rows - use_rows) // 2, use_cols, use_rows, width, height
    )
