"""The creature around the heart, for video: the TUI's pure renderables on a pixel canvas.

The face (:class:`FaceRenderable`), the orbs (:class:`OrbRenderable`), the heart's frame
(:func:`edge_text`, :func:`border_style`), the tendrils (:func:`tendril_paths`,
:func:`bead_index`, :func:`orb_color`) and the moment (:class:`CreatureClock`) are the ones
the TUI draws; here they are rasterised in the skin's colours with a monospace font. Each
part is redrawn only when what it shows changes; the heart's pixels are pasted every frame.

Two layouts: ``landscape`` (the creature as in the terminal: orbs left and right, about
16:9) and ``vertical`` (1080×1920 for phones: face on top, the heart full width, the four
orbs in a row below it).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.render.raster import CellCanvas, CellFont, hex_rgb, render_lines
from hambajuba_tui.tui.border import border_style, edge_text
from hambajuba_tui.tui.face import FaceRenderable, face_size
from hambajuba_tui.tui.moment import CreatureClock, Moment
from hambajuba_tui.tui.orbs import ORB_SIZE, OrbRenderable, orb_color
from hambajuba_tui.tui.skin import Skin
from hambajuba_tui.tui.status import clock_text
from hambajuba_tui.tui.tendrils import BEAD_ACTIVITY, BEAD_STEPS, V, bead_index, tendril_paths

VERTICAL_SIZE = (1080, 1920)
ORB_W, ORB_H = ORB_SIZE[0], 4
"""An orb's width as on screen; its four drawn lines, without the air the app leaves."""
TENDRIL_W = 8
ACTIVITY_STEP = 0.05
"""Orb and tendril activity is drawn in steps of this (the TUI: 0.01 and 0.1)."""
CACHE_PARTS = 512
"""Looks of parts (an orb at one activity, a tendril strip…) kept as pixels for reuse."""


def _even(x: float) -> int:
    return int(math.ceil(x / 2.0)) * 2


@dataclass
class Box:
    """A rectangle of cells: column, row, columns, rows."""

    col: int
    row: int
    cols: int
    rows: int


@dataclass
class Layout:
    width: int
    height: int
    font: CellFont
    origin: tuple[int, int]
    heart_px: tuple[int, int, int]
    """(x, y, side) of the heart image in pixels."""
    heart_box: Box
    """The heart's frame (inner cells + one on each side)."""
    face: Box
    status: Box
    orbs: list[Box]
    tendrils: list[tuple[Box, bool]]
    """Landscape: the strips between the orbs and the heart (box, mirrored)."""
    vertical: bool

    def pixel_box(self, box: Box) -> tuple[int, int, int, int]:
        """(x, y, w, h) of a cell box in pixels."""
        f = self.font
        return (
            self.origin[0] + box.col * f.cell_w,
            self.origin[1] + box.row * f.cell_h,
            box.cols * f.cell_w,
            box.rows * f.cell_h,
        )


def landscape_layout(skin: Skin, side: int, n_orbs: int) -> Layout:
    """The terminal's arrangement around a ``side``-pixel heart, about 16:9."""
    font = CellFont(max(10, round(side / 26)))
    cw, ch = font.cell_w, font.cell_h
    hc, hr = math.ceil(side / cw), math.ceil(side / ch)
    face_w, face_h = face_size(skin, False)
    box_col = 2 + ORB_W + TENDRIL_W
    box_row = 2 + face_h
    cols = 2 * (2 + ORB_W + TENDRIL_W) + hc + 2
    rows = box_row + hr + 2 + 1
    grid_w, grid_h = cols * cw, rows * ch
    height = _even(grid_h + ch)
    width = _even(max(grid_w + 2 * cw, height * 16 / 9))
    origin = ((width - grid_w) // 2, (height - grid_h) // 2)
    heart_box = Box(box_col, box_row, hc + 2, hr + 2)
    x0 = origin[0] + (box_col + 1) * cw + (hc * cw - side) // 2
    y0 = origin[1] + (box_row + 1) * ch + (hr * ch - side) // 2
    half = (n_orbs + 1) // 2
    orbs, tendrils = [], []
    right_col = box_col + hc + 2 + TENDRIL_W
    for k in range(n_orbs):
        left = k < half
        j, n = (k, half) if left else (k - half, n_orbs - half)
        mid = box_row + 1 + (2 * j + 1) * hr // (2 * n)
        orbs.append(Box(2 if left else right_col, mid - 1, ORB_W, ORB_H))
    strip_rows = hr + 2
    tendrils.append((Box(2 + ORB_W, box_row, TENDRIL_W, strip_rows), False))
    tendrils.append((Box(box_col + hc + 2, box_row, TENDRIL_W, strip_rows), True))
    return Layout(
        width=width,
        height=height,
        font=font,
        origin=origin,
        heart_px=(x0, y0, side),
        heart_box=heart_box,
        face=Box(box_col + (hc + 2 - face_w) // 2, 1 + 0, face_w, face_h),
        status=Box(2, 0, cols - 4, 1),
        orbs=orbs,
        tendrils=tendrils,
        vertical=False,
    )


def vertical_layout(skin: Skin, n_orbs: int) -> Layout:
    """1080×1920: status, face, the heart full width, tendrils down to a row of orbs."""
    width, height = VERTICAL_SIZE
    font = CellFont(30)
    cw, ch = font.cell_w, font.cell_h
    cols, rows = width // cw, height // ch
    hc = cols - 4
    side = (hc * cw) // 2 * 2
    hr = math.ceil(side / ch)
    face_w, face_h = face_size(skin, False)
    tendril_h = 5
    used = 2 + face_h + 1 + hr + 2 + tendril_h + ORB_H
    top = max(0, (rows - used) // 2)
    box_row = top + 2 + face_h + 1
    box_col = 1
    origin = ((width - cols * cw) // 2, (height - rows * ch) // 2)
    x0 = origin[0] + (box_col + 1) * cw + (hc * cw - side) // 2
    y0 = origin[1] + (box_row + 1) * ch + (hr * ch - side) // 2
    orb_row = box_row + hr + 2 + tendril_h
    orbs = []
    for k in range(n_orbs):
        center = box_col + (2 * k + 1) * (hc + 2) // (2 * max(n_orbs, 1))
        orbs.append(Box(center - ORB_W // 2, orb_row, ORB_W, ORB_H))
    return Layout(
        width=width,
        height=height,
        font=font,
        origin=origin,
        heart_px=(x0, y0, side),
        heart_box=Box(box_col, box_row, hc + 2, hr + 2),
        face=Box(box_col + (hc + 2 - face_w) // 2, top + 2, face_w, face_h),
        status=Box(2, top, cols - 4, 1),
        orbs=orbs,
        tendrils=[],
        vertical=True,
    )


def status_text(t: float, analysis: Analysis, key: str, engine: str) -> str:
    """The video's small status line: time / duration, BPM, key, engine."""
    parts = [f"▶ {clock_text(t)} / {clock_text(analysis.duration)}", f"{analysis.bpm:.1f} BPM"]
    if key:
        parts.append(key)
    parts.append(engine)
    return "  ·  ".join(parts)


class CreatureCanvas:
    """Draws the creature for media time ``t`` around a heart frame; one canvas, reused."""

    def __init__(
        self,
        analysis: Analysis,
        skin: Skin,
        sources: list[str],
        heart_size: int,
        engine: str,
        title: str = "",
        vertical: bool = False,
        creature: bool = True,
    ) -> None:
        self.analysis, self.skin, self.sources = analysis, skin, list(sources)
        self.engine, self.title, self.creature = engine, title, creature
        n = len(self.sources)
        self.layout = (
            vertical_layout(skin, n) if vertical else landscape_layout(skin, heart_size, n)
        )
        lay = self.layout
        self.canvas = CellCanvas(
            lay.width, lay.height, lay.font, skin.colors["background"], lay.origin
        )
        self.clock = CreatureClock(analysis, skin.heart_pulse_s)
        self.heart_size = heart_size
        self._keys: dict[str, object] = {}
        self._cache: collections.OrderedDict[tuple, list[np.ndarray]] = collections.OrderedDict()
        self.text_rgb = hex_rgb(skin.colors["text"])
        self.dim_rgb = hex_rgb(skin.colors["dim"])

    @property
    def size(self) -> tuple[int, int]:
        return self.layout.width, self.layout.height

    def moment(self, t: float) -> Moment:
        return self.clock.at(t, True, self.sources)

    def draw(self, t: float, heart: np.ndarray) -> np.ndarray:
        """The whole frame at ``t`` with ``heart`` (uint8 [S, S, 3]) in the heart pane."""
        if self.creature:
            self._draw_creature(self.moment(t), t)
        x, y, side = self.layout.heart_px
        if heart.shape[0] != side or heart.shape[1] != side:
            heart = np.asarray(Image.fromarray(heart).resize((side, side), Image.BICUBIC))
        self.canvas.paste(x, y, heart)
        return self.canvas.pixels

    def face_pixels(self, expression) -> np.ndarray:
        """uint8 [h, w, 3]: the face box as drawn for ``expression`` (on a scratch canvas)."""
        lay = self.layout
        scratch = CellCanvas(lay.width, lay.height, lay.font, self.skin.colors["background"])
        b = lay.face
        lines = render_lines(FaceRenderable(self.skin, expression), b.cols)
        scratch.segments(0, 0, lines, self.text_rgb)
        return scratch.pixels[: b.rows * lay.font.cell_h, : b.cols * lay.font.cell_w].copy()

    # -- parts, each redrawn only when its key changes -------------------------------------
    def _part(self, name: str, key, boxes: list[Box], draw, cache: bool = True) -> None:
        """Redraw part ``name`` when ``key`` changed: from the cache of its pixels when this
        look was drawn before, else by ``draw()`` into its cleared ``boxes``."""
        if self._keys.get(name) == key:
            return
        self._keys[name] = key
        rects = [self.layout.pixel_box(b) for b in boxes]
        px = self.canvas.pixels
        blocks = self._cache.get((name, key)) if cache else None
        if blocks is not None:
            self._cache.move_to_end((name, key))
            for (x, y, w, h), block in zip(rects, blocks):
                px[y : y + h, x : x + w] = block
            return
        for b in boxes:
            self.canvas.fill_cells(b.col, b.row, b.cols, b.rows)
        draw()
        if cache:
            self._cache[(name, key)] = [px[y : y + h, x : x + w].copy() for x, y, w, h in rects]
            if len(self._cache) > CACHE_PARTS:
                self._cache.popitem(last=False)

    def _draw_creature(self, m: Moment, t: float) -> None:
        lay, cv, skin = self.layout, self.canvas, self.skin
        text = status_text(t, self.analysis, m.key, self.engine)
        b = lay.status
        self._part(
            "status", text, [b], lambda: cv.text(b.col, b.row, text[: b.cols], self.dim_rgb), False
        )

        def face() -> None:
            lines = render_lines(FaceRenderable(skin, m.expression), lay.face.cols)
            cv.segments(lay.face.col, lay.face.row, lines, self.text_rgb)

        self._part("face", m.expression, [lay.face], face)
        levels = [round(a / ACTIVITY_STEP) * ACTIVITY_STEP for a in m.activity]
        for k, box in enumerate(lay.orbs):
            stem, flutter = self.sources[k], m.flutter[k]

            def orb(box=box, stem=stem, level=levels[k], flutter=flutter) -> None:
                lines = render_lines(OrbRenderable(skin, stem, level, flutter), box.cols)
                cv.segments(box.col, box.row, lines, self.text_rgb)

            self._part(f"orb{k}", (stem, levels[k], flutter), [box], orb)
        hb = lay.heart_box
        edges = [
            Box(hb.col, hb.row, hb.cols, 1),
            Box(hb.col, hb.row + hb.rows - 1, hb.cols, 1),
            Box(hb.col, hb.row + 1, 1, hb.rows - 2),
            Box(hb.col + hb.cols - 1, hb.row + 1, 1, hb.rows - 2),
        ]
        self._part("frame", m.pulse, edges, lambda: self._draw_frame(m.pulse))
        step = min(int(m.beat_phase * BEAD_STEPS), BEAD_STEPS - 1)
        if lay.vertical:
            self._vertical_tendrils(levels, step)
        else:
            self._tendrils(levels, step)

    def _draw_frame(self, pulse: float) -> None:
        lay, cv, skin = self.layout, self.canvas, self.skin
        b = lay.heart_box
        glyphs, color = border_style(skin, pulse)
        fg, bold = hex_rgb(color), pulse >= 0.5
        top = f"♥ {self.title}" if self.title else "♥"
        bottom = edge_text("bottom", b.cols, 1, glyphs, self.engine)[0]
        cv.text(b.col, b.row, edge_text("top", b.cols, 1, glyphs, top)[0], fg, None, bold)
        cv.text(b.col, b.row + b.rows - 1, bottom, fg, None, bold)
        for side, col in (("left", b.col), ("right", b.col + b.cols - 1)):
            for dy, ch in enumerate(edge_text(side, 1, b.rows - 2, glyphs)):
                cv.text(col, b.row + 1 + dy, ch, fg, None, bold)

    def _tendrils(self, levels: list[float], step: int) -> None:
        lay = self.layout
        half = (len(lay.orbs) + 1) // 2
        box_top, hr = lay.heart_box.row, lay.heart_box.rows - 2
        for s, ((strip, mirror), orbs) in enumerate(
            zip(lay.tendrils, (range(half), range(half, len(lay.orbs))))
        ):
            orbs = list(orbs)
            n = len(orbs)
            ends = [
                (
                    lay.orbs[k].row + 1 - strip.row,
                    box_top + 1 + (j + 1) * (hr - 1) // (n + 1) - strip.row,
                )
                for j, k in enumerate(orbs)
            ]

            def draw(strip=strip, ends=ends, mirror=mirror, orbs=orbs) -> None:
                paths = tendril_paths(strip.cols, strip.rows, ends, mirror)
                for k, path in zip(orbs, paths):
                    self._draw_path(strip, path, k, levels[k], step)

            key = (
                tuple(levels[k] for k in orbs),
                step if any(levels[k] > BEAD_ACTIVITY for k in orbs) else -1,
            )
            self._part(f"tendrils{s}", key, [strip], draw)

    def _vertical_tendrils(self, levels: list[float], step: int) -> None:
        lay = self.layout
        top = lay.heart_box.row + lay.heart_box.rows
        for k, orb in enumerate(lay.orbs):
            col = orb.col + orb.cols // 2
            strip = Box(col, top, 1, orb.row - top)
            path = [(0, y, V) for y in range(strip.rows - 1, -1, -1)]  # orb end first

            def draw(strip=strip, path=path, k=k) -> None:
                self._draw_path(strip, path, k, levels[k], step)

            key = (levels[k], step if levels[k] > BEAD_ACTIVITY else -1)
            self._part(f"tendril{k}", key, [strip], draw)

    def _draw_path(self, strip: Box, path, k: int, level: float, step: int) -> None:
        skin, cv = self.skin, self.canvas
        fg = hex_rgb(orb_color(skin, self.sources[k], level))
        bead = bead_index(len(path), step / BEAD_STEPS) if level > BEAD_ACTIVITY else -1
        for i, (x, y, g) in enumerate(path):
            glyph = skin.tendril_bead if i == bead else skin.tendril_glyphs[g]
            cv.text(strip.col + x, strip.row + y, glyph, fg, None, level > 0.75)
