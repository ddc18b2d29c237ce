"""The mask painter: a 16×16 grid of where on the image the block's steering lands.

Arrows move the cursor, space paints the brush value (or rubs it out when the cell already has
it), + / − change the brush; the mouse paints by clicking or dragging. Presets (fill, clear,
floor, ceiling, centre) and the pitch-aligned mode are a key each. Row 0 is the top of the image.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from hambajuba_tui.bridge import masks
from hambajuba_tui.tui.panels.base import Panel
from hambajuba_tui.tui.panels.widgets import Choice
from hambajuba_tui.vocab import BLOCKS, MASK_SIZE

SHADES = " ░▒▓█"
BRUSHES = (0.25, 0.5, 0.75, 1.0)


def shade(value: float) -> str:
    return SHADES[min(int(round(float(value) * (len(SHADES) - 1))), len(SHADES) - 1)]


def as_rows(grid: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """The Session's form of a grid (rounded, so a saved performance stays readable)."""
    return tuple(tuple(round(float(v), 3) for v in row) for row in grid)


class MaskGrid(Widget, can_focus=True):
    """16×16 cells, two columns each; the cursor cell is drawn reversed."""

    DEFAULT_CSS = """
    MaskGrid { width: 34; height: 18; border: round $accent; }
    MaskGrid:focus { border: round $success; }
    """
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("space", "paint", "Paint"),
        Binding("plus,equals_sign", "brush(1)", "Brush +"),
        Binding("minus", "brush(-1)", "Brush −"),
    ]

    class Painted(Message):
        def __init__(self, grid: MaskGrid) -> None:
            super().__init__()
            self.grid = grid

    class Moved(Message):
        """The cursor or the brush changed (nothing painted)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cells = np.ones((MASK_SIZE, MASK_SIZE), np.float32)
        self.cursor = (0, 0)
        self.brush = 1.0
        self.dim = False
        """Shown dimmed: the grid is a preview (pitch mode), not what is painted."""
        self._dragging = False

    def show(self, cells: np.ndarray, dim: bool = False) -> None:
        self.cells = np.array(cells, np.float32)
        self.dim = dim
        self.refresh()

    def render(self) -> Text:
        text = Text()
        base = Style(dim=self.dim)
        for r in range(MASK_SIZE):
            for c in range(MASK_SIZE):
                cell = shade(self.cells[r, c]) * 2
                style = base + Style(reverse=True) if (r, c) == self.cursor else base
                text.append(
                    cell if cell.strip() else "··" if (r, c) == self.cursor else cell, style
                )
            if r < MASK_SIZE - 1:
                text.append("\n")
        return text

    def paint(self, r: int, c: int, toggle: bool) -> None:
        old = float(self.cells[r, c])
        self.cells[r, c] = 0.0 if toggle and abs(old - self.brush) < 1e-3 else self.brush
        self.dim = False
        self.refresh()
        self.post_message(self.Painted(self))

    def action_move(self, dr: int, dc: int) -> None:
        r, c = self.cursor
        self.cursor = ((r + int(dr)) % MASK_SIZE, (c + int(dc)) % MASK_SIZE)
        self.refresh()
        self.post_message(self.Moved())

    def action_paint(self) -> None:
        self.paint(*self.cursor, toggle=True)

    def action_brush(self, step: int) -> None:
        i = BRUSHES.index(self.brush) if self.brush in BRUSHES else len(BRUSHES) - 1
        self.brush = BRUSHES[min(max(i + int(step), 0), len(BRUSHES) - 1)]
        self.post_message(self.Moved())

    def _cell_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        at = event.get_content_offset(self)
        if at is None:
            return None
        r, c = at.y, at.x // 2
        return (r, c) if 0 <= r < MASK_SIZE and 0 <= c < MASK_SIZE else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.focus()
        cell = self._cell_at(event)
        if cell is not None:
            self.cursor = cell
            self.capture_mouse()
            self._dragging = True
            self.paint(*cell, toggle=False)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        cell = self._cell_at(event)
        if self._dragging and cell is not None and cell != self.cursor:
            self.cursor = cell
            self.paint(*cell, toggle=False)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            self._dragging = False
            self.release_mouse()


class MaskPainter(Panel):
    TITLE = "Mask"
    NAME = "masks"
    BINDINGS = [
        Binding("f", "preset('fill')", "Fill"),
        Binding("x", "preset('clear')", "Clear"),
        Binding("b", "preset('floor')", "Floor"),
        Binding("t", "preset('ceiling')", "Ceiling"),
        Binding("o", "preset('center')", "Centre"),
        Binding("p", "pitch", "Pitch mode"),
        Binding("pageup", "block(-1)", "Prev block", show=False),
        Binding("pagedown", "block(1)", "Next block", show=False),
    ]
    DEFAULT_CSS = "MaskPainter #mask-state { height: auto; }"

    def body(self):
        yield Choice("block", BLOCKS, self.block, id="block")
        yield MaskGrid(id="grid")
        yield Static("", id="mask-state", markup=False)

    def first_focus(self):
        return self.query_one(MaskGrid)

    @property
    def grid(self) -> MaskGrid:
        return self.query_one(MaskGrid)

    def sync(self) -> None:
        b = self.session.block(self.block)
        self.query_one("#block", Choice).set(self.block)
        if b.mask == "painted":
            self.grid.show(np.array(b.painted, np.float32))
        elif b.mask == "pitch":
            self.grid.show(masks.pitch_aligned(0.5), dim=True)
        else:
            self.grid.show(masks.preset(b.mask))
        self._state()

    def _state(self) -> None:
        b = self.session.block(self.block)
        mode = {
            "pitch": "pitch-aligned (a band follows the stem's pitch; paint to leave it)",
            "painted": "painted",
        }.get(b.mask, f"preset {b.mask} (paint to edit it)")
        r, c = self.grid.cursor
        self.query_one("#mask-state", Static).update(
            f"mode: {mode}\nbrush {self.grid.brush:.2f} · cell row {r} col {c} = "
            f"{self.grid.cells[r, c]:.2f}"
        )

    def on_mask_grid_painted(self, event: MaskGrid.Painted) -> None:
        event.stop()
        self.edit_block(mask="painted", painted=as_rows(event.grid.cells))

    def on_mask_grid_moved(self, event: MaskGrid.Moved) -> None:
        event.stop()
        self._state()

    def on_choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        self.choose_block(event.value)

    def action_preset(self, name: str) -> None:
        self.edit_block(mask=name)

    def action_pitch(self) -> None:
        b = self.session.block(self.block)
        if b.mask == "pitch":
            self.edit_block(mask="painted" if b.painted else "fill")
        else:
            self.edit_block(mask="pitch")
