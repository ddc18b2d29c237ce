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


def _run_table(max_run: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre-rendered run codes: runs of 1–3 repeat the character (marker 0), longer ones
    are ``!<n>`` followed by it."""
    table = np.zeros((max_run + 1, _ITEM), np.uint8)
    length = np.zeros(max_run + 1, np.int64)
    for n in range(1, max_run + 1):
        code = b"\0" * n if n <= 3 else b"!%d\0" % n
        table[n, : len(code)] = np.frombuffer(code, np.uint8)
        length[n] = len(code)
    return table, length


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
        colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    n = len(img.getpalette() or []) // 3
    pal = np.asarray(img.getpalette()[: 3 * n], np.uint8).reshape(-1, 3)
    return np.asarray(img), pal


def sixel_body(idx: np.ndarray, n_colors: int) -> bytes:
    """The sixel data (bands, colour selections, run-length codes) for palette indices.

    For band b and colour c present in it, one row of W characters: bit r of column x is
    set when pixel (6b + r, x) has colour c. Trailing empty characters are dropped, runs
    of four or more become ``!n``.
    """
    h, w = idx.shape
    n_bands = -(-h // 6)
    p = n_colors + 1  # index n_colors pads the last band
    bands = np.full((n_bands * 6, w), n_colors, np.int64)
    bands[:h] = idx
    bands = bands.reshape(n_bands, 6, w)
    key = bands + (np.arange(n_bands, dtype=np.int64) * p)[:, None, None]
    present = np.zeros(n_bands * p, bool)
    present[key.ravel()] = True
    pad_keys = np.arange(n_bands) * p + n_colors
    present[pad_keys] = False
    slot_of = np.cumsum(present) - 1
    rows_key = np.flatnonzero(present)
    k = len(rows_key)
    row_band, row_color = rows_key // p, rows_key % p

    # bits[k, x]: one slot per (band, colour); each pixel sets its row's bit
    bits = np.zeros(k * w + 1, np.uint8)  # the extra cell swallows padding pixels
    cols = np.arange(w, dtype=np.int64)
    for r in range(6):
        band_r = bands[:, r, :]
        flat = slot_of[key[:, r, :]] * w + cols
        if h < n_bands * 6:
            flat[band_r == n_colors] = k * w
        bits[flat.ravel()] += np.uint8(1 << r)
    bits = bits[: k * w].reshape(k, w)

    # row lengths without trailing empties (every row has a set bit somewhere)
    nz = bits != 0
    length = w - np.argmax(nz[:, ::-1], axis=1)
    flat = bits.ravel()
    starts_mask = np.ones(k * w, bool)
    starts_mask[1:] = flat[1:] != flat[:-1]
    starts_mask[::w] = True
    starts = np.flatnonzero(starts_mask)
    run_len = np.diff(np.append(starts, k * w))
    run_row = starts // w
    keep = (starts % w) < length[run_row]
    starts, run_len, run_row = starts[keep], run_len[keep], run_row[keep]
    run_char = flat[starts] + 63

    if w not in _RUNS:
        _RUNS[w] = _run_table(w)
    run_table, run_size = _RUNS[w]
    items_run = run_table[run_len]
    items_run = np.where(items_run == 0, run_char[:, None].astype(np.uint8), items_run)
    size_run = run_size[run_len]
    items_run[np.arange(_ITEM)[None, :] >= size_run[:, None]] = 0

    head_table, head_size = _HEADERS
    size_head = head_size[row_color]
    last_in_band = np.ones(k, bool)
    last_in_band[:-1] = row_band[1:] != row_band[:-1]
    size_tail = 1 + last_in_band.astype(np.int64)  # "$" or "$-"
    items_tail = np.zeros((k, _ITEM), np.uint8)
    items_tail[:, 0] = ord("$")
    items_tail[last_in_band, 1] = ord("-")

    # offsets: each row is header, its runs, tail
    run_total = np.bincount(run_row, weights=size_run, minlength=k).astype(np.int64)
    row_size = size_head + run_total + size_tail
    row_start = np.zeros(k, np.int64)
    np.cumsum(row_size[:-1], out=row_start[1:])
    run_cum = np.zeros(len(size_run), np.int64)
    np.cumsum(size_run[:-1], out=run_cum[1:])
    first_run = np.searchsorted(run_row, np.arange(k))
    run_base = run_cum[np.minimum(first_run, max(len(run_cum) - 1, 0))]
    off_run = row_start[run_row] + size_head[run_row] + run_cum - run_base[run_row]
    off_head = row_start
    off_tail = row_start + size_head + run_total

    offsets = np.concatenate([off_head, off_run, off_tail])
    sizes = np.concatenate([size_head, size_run, size_tail])
    items = np.concatenate([head_table[row_color], items_run, items_tail])
    total = int(row_size.sum())
    item_of = np.repeat(np.arange(len(sizes)), sizes)
    item_start = np.zeros(len(sizes), np.int64)
    np.cumsum(sizes[:-1], out=item_start[1:])
    within = np.arange(total) - item_start[item_of]
    out = np.empty(total, np.uint8)
    out[offsets[item_of] + within] = items[item_of, within]
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
