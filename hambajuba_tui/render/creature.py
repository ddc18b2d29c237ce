"""The creature around the heart, for video: the TUI's pure renderables on a pixel canvas.

The face (:class:`FaceRenderable`), the orbs (:class:`OrbRenderable`), the heart's frame
(:func:`edge_text`, :func:`frame_style`), the tendrils (:func:`tendril_paths`,
:func:`bead_index`, :func:`orb_color`) and the moment (:class:`CreatureClock`) are the ones
the TUI draws; here they are rasterised in the skin's colours with a monospace font. Each
part is redrawn only when what it shows changes; the heart's pixels are pasted every frame.

Two layouts: ``landscape`` (the creature as in the terminal: orbs left and right, about
16:9) and ``vertical`` (1080×1920 for phones: face on top, the heart full width, the four
orbs in a row below it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.render.raster import CellCanvas, CellFont, hex_rgb, render_lines
from hambajuba_tui.tui.face import FaceRenderable, face_size
from hambajuba_tui.tui.frame import edge_text, frame_style
from hambajuba_tui.tui.moment import CreatureClock, Moment
from hambajuba_tui.tui.orbs import OrbRenderable, orb_color
from hambajuba_tui.tui.skin import Skin
from hambajuba_tui.tui.status import clock_text
from hambajuba_tui.tui.tendrils import BEAD_ACTIVITY, BEAD_STEPS, V, bead_index, tendril_paths

VERTICAL_SIZE = (1080, 1920)
ORB_W, ORB_H = 11, 4
TENDRIL_W = 8
ACTIVITY_STEP = 0.05
"""Orb and tendril activity is drawn in steps of this (the TUI: 0.01 and 0.1)."""


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
    def _changed(self, part: str, key) -> bool:
        if self._keys.get(part) == key:
            return False
        self._keys[part] = key
        return True

    def _draw_creature(self, m: Moment, t: float) -> None:
        lay, cv, skin = self.layout, self.canvas, self.skin
        text = status_text(t, self.analysis, m.key, self.engine)
        if self._changed("status", text):
            b = lay.status
            cv.fill_cells(b.col, b.row, b.cols, b.rows)
            cv.text(b.col, b.row, text[: b.cols], self.dim_rgb)
        if self._changed("face", m.expression):
            b = lay.face
            cv.fill_cells(b.col, b.row, b.cols, b.rows)
            lines = render_lines(FaceRenderable(skin, m.expression), b.cols)
            cv.segments(b.col, b.row, lines, self.text_rgb)
        levels = [round(a / ACTIVITY_STEP) * ACTIVITY_STEP for a in m.activity]
        for k, box in enumerate(lay.orbs):
            stem = self.sources[k]
            key = (stem, levels[k], m.flutter[k])
            if self._changed(f"orb{k}", key):
                cv.fill_cells(box.col, box.row, box.cols, box.rows)
                orb = OrbRenderable(skin, stem, levels[k], m.flutter[k])
                cv.segments(box.col, box.row, render_lines(orb, box.cols), self.text_rgb)
        if self._changed("frame", m.pulse):
            self._draw_frame(m.pulse)
        step = min(int(m.beat_phase * BEAD_STEPS), BEAD_STEPS - 1)
        if self._changed("tendrils", (tuple(levels), step)):
            if lay.vertical:
                self._draw_vertical_tendrils(levels, step)
            else:
                self._draw_tendrils(levels, step)

    def _draw_frame(self, pulse: float) -> None:
        lay, cv, skin = self.layout, self.canvas, self.skin
        b = lay.heart_box
        glyphs, color = frame_style(skin, pulse)
        fg, bold = hex_rgb(color), pulse >= 0.5
        top = f"♥ {self.title}" if self.title else "♥"
        inner_rows = b.rows - 2
        bottom = edge_text("bottom", b.cols, 1, glyphs, self.engine)[0]
        cv.fill_cells(b.col, b.row + b.rows - 1, b.cols, 1)
        cv.fill_cells(b.col, b.row, b.cols, 1)
        cv.text(b.col, b.row, edge_text("top", b.cols, 1, glyphs, top)[0], fg, None, bold)
        cv.text(b.col, b.row + b.rows - 1, bottom, fg, None, bold)
        for side, col in (("left", b.col), ("right", b.col + b.cols - 1)):
            cv.fill_cells(col, b.row + 1, 1, inner_rows)
            for dy, ch in enumerate(edge_text(side, 1, inner_rows, glyphs)):
                cv.text(col, b.row + 1 + dy, ch, fg, None, bold)

    def _draw_tendrils(self, levels: list[float], step: int) -> None:
        lay, cv = self.layout, self.canvas
        half = (len(lay.orbs) + 1) // 2
        box_top, hr = lay.heart_box.row, lay.heart_box.rows - 2
        for (strip, mirror), orbs in zip(lay.tendrils, (range(half), range(half, len(lay.orbs)))):
            cv.fill_cells(strip.col, strip.row, strip.cols, strip.rows)
            orbs = list(orbs)
            n = len(orbs)
            ends = [
                (lay.orbs[k].row + 1 - strip.row, box_top + 1 + (j + 1) * (hr - 1) // (n + 1))
                for j, k in enumerate(orbs)
            ]
            ends = [(a, b - strip.row) for a, b in ends]
            paths = tendril_paths(strip.cols, strip.rows, ends, mirror)
            for k, path in zip(orbs, paths):
                self._draw_path(strip, path, k, levels[k], step)

    def _draw_path(self, strip: Box, path, k: int, level: float, step: int) -> None:
        skin, cv = self.skin, self.canvas
        fg = hex_rgb(orb_color(skin, self.sources[k], level))
        bead = bead_index(len(path), step / BEAD_STEPS) if level > BEAD_ACTIVITY else -1
        for i, (x, y, g) in enumerate(path):
            glyph = skin.tendril_bead if i == bead else skin.tendril_glyphs[g]
            cv.text(strip.col + x, strip.row + y, glyph, fg, None, level > 0.75)

    def _draw_vertical_tendrils(self, levels: list[float], step: int) -> None:
        lay = self.layout
        top = lay.heart_box.row + lay.heart_box.rows
        for k, orb in enumerate(lay.orbs):
            col = orb.col + orb.cols // 2
            rows = orb.row - top
            strip = Box(col, top, 1, rows)
            self.canvas.fill_cells(col, top, 1, rows)
            path = [(0, y, V) for y in range(rows - 1, -1, -1)]  # orb end first
            self._draw_path(strip, path, k, levels[k], step)
