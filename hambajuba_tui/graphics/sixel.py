"""Sixel output: a numpy encoder, fast enough for video (libraries are 2–20× too slow).

A frame is resampled to the pane's pixels, mapped to a palette — the fixed 6×6×6 cube
(one table lookup) or an adaptive palette of up to 256 colours (Pillow's fast octree) —
then written band by band: for each colour in a 6-pixel band, one run-length-coded row of
sixel characters. Everything is whole-array numpy: no Python loop touches pixels or runs.
The image is opaque and drawn over the previous one, so the pane is never blanked.
"""

from __future__ import annotations

import numpy as np

from hambajuba_tui.graphics.halfblock import Resampler
from hambajuba_tui.graphics.layout import Placement

PALETTES = ("fixed", "adaptive")
_ITEM = 6  # widest output item: "!2048?" (run of up to 4 digits), "#255" headers


def _cube_palette() -> np.ndarray:
    levels = np.array([0, 51, 102, 153, 204, 255], np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)


CUBE = _cube_palette()
_LEVEL = ((np.arange(256) * 5 + 127) // 255).astype(np.uint8)  # 0..255 → 0..5
_CUBE_R = (_LEVEL * 36).astype(np.uint8)
_CUBE_G = (_LEVEL * 6).astype(np.uint8)


def palette_defs(palette: np.ndarray) -> str:
    """``#i;2;r;g;b`` definitions (sixel colours are percentages)."""
    pct = (palette.astype(np.int32) * 100 + 127) // 255
    return "".join(f"#{i};2;{r};{g};{b}" for i, (r, g, b) in enumerate(pct.tolist()))


_CUBE_DEFS = palette_defs(CUBE)


def _run_table(max_run: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pre-rendered run codes: runs of 1–3 repeat the character, longer ones are ``!<n>``
    followed by it. Returns (codes with 0 where the character goes, 1 there, the codes for
    runs of empty sixels ``?``, code lengths)."""
    table = np.zeros((max_run + 1, _ITEM), np.uint8)
    length = np.zeros(max_run + 1, np.int64)
    for n in range(1, max_run + 1):
        code = b"\0" * n if n <= 3 else b"!%d\0" % n
        table[n, : len(code)] = np.frombuffer(code, np.uint8)
        length[n] = len(code)
    mark = ((table == 0) & (np.arange(_ITEM)[None, :] < length[:, None])).astype(np.uint8)
    return table, mark, table + mark * ord("?"), length


def _header_table(n_colors: int) -> tuple[np.ndarray, np.ndarray]:
    table = np.zeros((n_colors, _ITEM), np.uint8)
    length = np.zeros(n_colors, np.int64)
    for c in range(n_colors):
        code = b"#%d" % c
        table[c, : len(code)] = np.frombuffer(code, np.uint8)
        length[c] = len(code)
    return table, length


_HEADERS = _header_table(256)
_RUNS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def quantize_cube(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 [H, W] indices into CUBE for uint8 [H, W, 3] pixels (nearest level per channel)."""
    idx = np.take(_CUBE_R, pixels[..., 0], out=out)
    idx += _CUBE_G[pixels[..., 1]]
    idx += _LEVEL[pixels[..., 2]]
    return idx


def quantize_adaptive(pixels: np.ndarray, colors: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(indices uint8 [H, W], palette uint8 [n, 3]) from Pillow's fast octree, no dither."""
    from PIL import Image

    img = Image.fromarray(pixels, "RGB").quantize(
        colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    n = len(img.getpalette() or []) // 3
    pal = np.asarray(img.getpalette()[: 3 * n], np.uint8).reshape(-1, 3)
    return np.asarray(img), pal


def sixel_body(idx: np.ndarray, n_colors: int) -> bytes:
    """The sixel data (bands, colour selections, run-length codes) for palette indices.

    For band b and colour c present in it, one row of characters: bit r of column x is set
    when pixel (6b + r, x) has colour c. Work is sparse — proportional to the pixels, not
    to colours × width: each 6-pixel column yields one cell per distinct colour in it, cells
    are ordered by (band, colour) with a stable radix sort, gaps between cells become
    ``!n?`` runs, equal neighbours become ``!n<char>`` runs, and empty tails are dropped.
    """
    h, w = idx.shape
    n_bands = -(-h // 6)
    pad = n_colors  # index of the padding below the last row
    padded = np.full((n_bands * 6, w), pad, np.int16)
    padded[:h] = idx
    col = np.ascontiguousarray(padded.reshape(n_bands, 6, w).transpose(1, 0, 2))  # [r, band, x]
    # per pixel: the bits of all pixels of its column with its colour, and whether it is
    # the first of them (that one stands for the cell)
    val = np.zeros((6, n_bands, w), np.uint8)
    first = np.ones((6, n_bands, w), bool)
    for r in range(6):
        for q in range(6):
            same = col[r] == col[q]
            val[r] += same.astype(np.uint8) << q
            if q < r:
                first[r] &= ~same
    first &= col != pad
    # cells in x-major order, so a stable sort by (band, colour) leaves x ascending
    order_first = first.transpose(2, 1, 0)  # [x, band, r]
    sel = np.flatnonzero(order_first)
    cx = sel // (n_bands * 6)
    cband = (sel // 6) % n_bands
    cr = sel % 6
    ccol = col[cr, cband, cx]
    cval = val[cr, cband, cx]
    key = cband * (n_colors + 1) + ccol
    # int16 keys sort by radix (linear time) when they fit
    key_type = np.int16 if n_bands * (n_colors + 1) < 32768 else np.int32
    order = np.argsort(key.astype(key_type), kind="stable")
    key, cx, cval = key[order], cx[order], cval[order]

    # rows: one per distinct (band, colour) key
    new_row = np.ones(len(key), bool)
    new_row[1:] = key[1:] != key[:-1]
    row_first = np.flatnonzero(new_row)
    row_key = key[row_first]
    row_band, row_color = row_key // (n_colors + 1), row_key % (n_colors + 1)
    k = len(row_first)
    row_of = np.cumsum(new_row) - 1

    # gaps before each cell (from x = 0 at a row's start)
    prev_x = np.empty_like(cx)
    prev_x[0] = -1
    prev_x[1:] = cx[:-1]
    prev_x[new_row] = -1
    gap = cx - prev_x - 1
    # a run starts at a row start, after a gap, or where the value changes
    start = new_row | (gap > 0)
    start[1:] |= cval[1:] != cval[:-1]
    run_at = np.flatnonzero(start)
    run_len = np.diff(np.append(run_at, len(cx)))
    run_char = cval[run_at] + 63
    run_gap = gap[run_at]
    run_row = row_of[run_at]

    if w not in _RUNS:
        _RUNS[w] = _run_table(w)
    run_table, run_mark, gap_table, run_size = _RUNS[w]
    items_run = run_table[run_len] + run_mark[run_len] * run_char[:, None].astype(np.uint8)
    size_run = run_size[run_len]
    items_gap = gap_table[run_gap]
    size_gap = run_size[run_gap]

    head_table, head_size = _HEADERS
    size_head = head_size[row_color]
    last_in_band = np.ones(k, bool)
    last_in_band[:-1] = row_band[1:] != row_band[:-1]
    size_tail = 1 + last_in_band.astype(np.int64)  # "$" or "$-"
    items_tail = np.zeros((k, _ITEM), np.uint8)
    items_tail[:, 0] = ord("$")
    items_tail[last_in_band, 1] = ord("-")

    # offsets: each row is its header, then (gap, run) pairs, then its tail
    pair_size = size_gap + size_run
    run_total = np.bincount(run_row, weights=pair_size, minlength=k).astype(np.int64)
    row_size = size_head + run_total + size_tail
    row_start = np.zeros(k, np.int64)
    np.cumsum(row_size[:-1], out=row_start[1:])
    pair_cum = np.zeros(len(pair_size), np.int64)
    np.cumsum(pair_size[:-1], out=pair_cum[1:])
    first_pair = np.searchsorted(run_row, np.arange(k))
    off_gap = row_start[run_row] + size_head[run_row] + pair_cum - pair_cum[first_pair][run_row]
    off_run = off_gap + size_gap
    off_tail = row_start + size_head + run_total

    offsets = np.concatenate([row_start, off_gap, off_run, off_tail])
    sizes = np.concatenate([size_head, size_gap, size_run, size_tail])
    items = np.concatenate([head_table[row_color], items_gap, items_run, items_tail])
    out = np.empty(int(row_size.sum()), np.uint8)
    for j in range(_ITEM):  # byte j of every item at least j + 1 long
        has = sizes > j
        out[offsets[has] + j] = items[has, j]
    return out.tobytes()


class SixelEncoder:
    """Frames → sixel escapes for one pane, at the pane's pixel size."""

    protocol = "sixel"

    def __init__(self, palette: str = "adaptive", colors: int = 256) -> None:
        if palette not in PALETTES:
            raise ValueError(f"sixel palette must be one of {', '.join(PALETTES)}")
        self.palette = palette
        self.colors = max(2, min(256, colors))
        self._resampler: Resampler | None = None

    def pixels(self, frame: np.ndarray, place: Placement) -> np.ndarray:
        fh, fw = frame.shape[:2]
        key = (fw, fh, place.width, place.height)
        if self._resampler is None or self._resampler.key != key:
            self._resampler = Resampler(fw, fh, place.width, place.height)
        return self._resampler(frame)

    def encode_image(self, pixels: np.ndarray) -> str:
        """A complete sixel image (DCS … ST) for uint8 [H, W, 3] pixels."""
        h, w = pixels.shape[:2]
        if self.palette == "fixed":
            idx, defs, n = quantize_cube(pixels), _CUBE_DEFS, len(CUBE)
        else:
            idx, pal = quantize_adaptive(pixels, self.colors)
            defs, n = palette_defs(pal), len(pal)
        body = sixel_body(idx, n).decode("ascii")
        # P2=1: pixels not painted keep what is there (nothing is left unpainted anyway)
        return f'\x1bP0;1;0q"1;1;{w};{h}{defs}{body}\x1b\\'

    def encode(self, frame: np.ndarray, place: Placement) -> str:
        """Escapes that draw ``frame`` at ``place`` (cursor saved and restored)."""
        image = self.encode_image(self.pixels(frame, place))
        return f"\x1b7\x1b[{place.row + 1};{place.col + 1}H{image}\x1b8"

    def clear(self) -> str:
        return ""
