"""Tendrils: glyph paths from each orb to the heart, in the stem's colour, brightening with
its activity; a bead travels along each active tendril with the beat.

:func:`tendril_paths` is pure (cells of each path, orb end first); the widget reads where
the orbs and the heart are on screen and draws the paths between them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from hambajuba_tui.tui.orbs import orb_color
from hambajuba_tui.tui.skin import Skin

H, V, DOWN_RIGHT, DOWN_LEFT, UP_RIGHT, UP_LEFT = range(6)
"""Indices into a skin's tendril glyphs "─│╭╮╰╯" (which sides each corner joins)."""
_MIRROR = {DOWN_RIGHT: DOWN_LEFT, DOWN_LEFT: DOWN_RIGHT, UP_RIGHT: UP_LEFT, UP_LEFT: UP_RIGHT}
BEAD_ACTIVITY = 0.3
"""A tendril carries a bead while its stem's activity is above this."""
BEAD_STEPS = 8
"""Bead positions per beat (the widget repaints at most this often per beat)."""

Cell = tuple[int, int, int]  # (x, y, glyph index)


def tendril_paths(
    width: int, height: int, ends: Sequence[tuple[int, int]], mirror: bool = False
) -> list[list[Cell]]:
    """Cells of each tendril in a ``width × height`` strip, from the orb to the heart.

    ``ends`` holds (orb row, heart row) per tendril. Without ``mirror`` the orbs are on the
    left edge and the heart on the right; with it, the other way round. Each path runs
    along the orb's row, turns down or up in the middle column and runs into the heart's row.
    Too narrow a strip (< 3 cells) has no tendrils.
    """
    if width < 3 or height < 1:
        return [[] for _ in ends]
    turn = width // 2
    paths = []
    for start, end in ends:
        r = min(max(start, 0), height - 1)
        e = min(max(end, 0), height - 1)
        cells: list[Cell] = []
        if r == e:
            cells = [(x, r, H) for x in range(width)]
        else:
            down = e > r
            step = 1 if down else -1
            cells += [(x, r, H) for x in range(turn)]
            cells.append((turn, r, DOWN_LEFT if down else UP_LEFT))
            cells += [(turn, y, V) for y in range(r + step, e, step)]
            cells.append((turn, e, UP_RIGHT if down else DOWN_RIGHT))
            cells += [(x, e, H) for x in range(turn + 1, width)]
        if mirror:
            cells = [(width - 1 - x, y, _MIRROR.get(g, g)) for x, y, g in cells]
        paths.append(cells)
    return paths


def bead_index(path_len: int, phase: float) -> int:
    """Where the bead is along a path of ``path_len`` cells at beat ``phase`` 0..1."""
    if path_len <= 0:
        return -1
    step = min(int(phase * BEAD_STEPS), BEAD_STEPS - 1)
    return min(path_len - 1, step * path_len // BEAD_STEPS)


class Tendrils(Widget):
    """The strip between one column of orbs and the heart."""

    DEFAULT_CSS = "Tendrils { width: 1fr; height: 1fr; min-width: 1; }"
    activity: reactive[tuple[float, ...]] = reactive(())
    phase: reactive[int] = reactive(0)
    """The bead's step in the beat (0..BEAD_STEPS-1)."""

    def __init__(
        self, skin: Skin, orbs: Sequence[Widget], heart_box: Widget, mirror: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.skin, self.orbs, self.heart_box, self.mirror = skin, list(orbs), heart_box, mirror
        self._geometry: tuple | None = None
        self.paths: list[list[Cell]] = []
        self._rows: list[dict[int, tuple[int, int]]] = []

    def ends(self) -> list[tuple[int, int]]:
        """(orb row, heart row) per orb, in this strip's rows: the middle line of each orb's
        glyphs, and rows spread over the heart's left or right edge."""
        top = self.region.y
        box = self.heart_box.region
        inner_top, inner_bottom = box.y + 1, box.bottom - 2
        n = len(self.orbs)
        out = []
        for k, orb in enumerate(self.orbs):
            orb_row = orb.region.y + (0 if getattr(orb, "compact", False) else 1)
            heart_row = inner_top + (k + 1) * (inner_bottom - inner_top) // (n + 1)
            out.append((orb_row - top, heart_row - top))
        return out

    def _layout(self) -> list[dict[int, tuple[int, int]]]:
        """Per screen row of this strip: x → (path index, glyph index); cached per geometry."""
        ends = self.ends()
        key = (self.size, tuple(ends))
        if key != self._geometry:
            self._geometry = key
            self.paths = tendril_paths(self.size.width, self.size.height, ends, self.mirror)
            rows: list[dict[int, tuple[int, int]]] = [{} for _ in range(self.size.height)]
            for k, path in enumerate(self.paths):
                for x, y, g in path:
                    rows[y][x] = (k, g)
            self._rows = rows
        return self._rows

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        bg = Style(bgcolor=self.skin.colors["background"])
        rows = self._layout()
        if not 0 <= y < len(rows) or not rows[y]:
            return Strip.blank(width, bg)
        glyphs, bead = self.skin.tendril_glyphs, self.skin.tendril_bead
        activity = self.activity
        beads = {}
        for k, path in enumerate(self.paths):
            level = activity[k] if k < len(activity) else 0.0
            i = bead_index(len(path), self.phase / BEAD_STEPS)
            if level > BEAD_ACTIVITY and i >= 0:
                beads[path[i][:2]] = k
        segments = []
        for x in range(width):
            cell = rows[y].get(x)
            if cell is None:
                segments.append(Segment(" ", bg))
                continue
            k, g = cell
            stem = self.orbs[k].stem if k < len(self.orbs) else ""
            level = activity[k] if k < len(activity) else 0.0
            style = Style(
                color=orb_color(self.skin, stem, level), bgcolor=bg.bgcolor, bold=level > 0.75
            )
            segments.append(Segment(bead if beads.get((x, y)) == k else glyphs[g], style))
        return Strip(segments, width).simplify()
