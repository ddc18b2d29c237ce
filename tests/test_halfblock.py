import re

import numpy as np

from hambajuba_tui.graphics.halfblock import UPPER_HALF, HalfblockEncoder, Resampler
from hambajuba_tui.graphics.layout import fit
from hambajuba_tui.tui.status import StatusInfo, clock_text

_CELL = re.compile("\x1b\\[38;2;(\\d+);(\\d+);(\\d+);48;2;(\\d+);(\\d+);(\\d+)m" + UPPER_HALF)
_MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")


def decode_halfblocks(text: str) -> dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]]:
    """(row, col) → (upper rgb, lower rgb) of every cell the escapes draw (1-based)."""
    cells = {}
    for line in text.split("\x1b[0m"):
        move = _MOVE.search(line)
        if not move:
            continue
        row, col = int(move.group(1)), int(move.group(2))
        for i, m in enumerate(_CELL.finditer(line, move.end())):
            v = tuple(int(x) for x in m.groups())
            cells[(row, col + i)] = (v[:3], v[3:])
    return cells


def test_fit_keeps_the_aspect_in_half_block_cells_and_centres():
    # square frame, cells twice as tall as wide: 40 cells × 20 rows hold 40 × 40 pixels
    p = fit(256, 256, 10, 5, 80, 20, 8, 16, (1, 2))
    assert (p.cols, p.rows, p.width, p.height) == (40, 20, 40, 40)
    assert (p.col, p.row) == (10 + 20, 5)
    wide = fit(512, 256, 0, 0, 30, 40, 8, 16, (1, 2))
    assert (wide.cols, wide.rows) == (30, 8)  # 2:1 frame: 30 cells wide, 15 px rows → 8 rows
    assert fit(256, 256, 0, 0, 0, 10, 8, 16).empty


def test_escapes_carry_the_upper_and_lower_pixel_colours_at_the_right_cells():
    px = np.zeros((4, 3, 3), np.uint8)
    px[0, :, 0] = 255  # row 0 red (upper half of cell row 0)
    px[1, :, 2] = 255  # row 1 blue (lower half)
    px[2:, 1] = 128
    place = fit(3, 4, 5, 2, 3, 2, 1, 2, (1, 2))
    assert (place.cols, place.rows, place.col, place.row) == (3, 2, 5, 2)
    out = HalfblockEncoder().encode(px, place)
    assert out.startswith("\x1b7") and out.endswith("\x1b8")  # cursor saved and restored
    cells = decode_halfblocks(out)
    assert sorted(cells) == [(r, c) for r in (3, 4) for c in (6, 7, 8)]
    assert cells[(3, 6)] == ((255, 0, 0), (0, 0, 255))
    assert cells[(4, 7)] == ((128, 128, 128), (128, 128, 128))  # exact, no quantisation
    assert cells[(4, 6)] == ((0, 0, 0), (0, 0, 0))


def test_encoder_resamples_a_frame_to_the_cells_and_reuses_its_tables():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    enc = HalfblockEncoder()
    place = fit(96, 96, 0, 0, 24, 12, 8, 16, (1, 2))
    cells = decode_halfblocks(enc.encode(frame, place))
    small = Resampler(96, 96, place.cols, 2 * place.rows)(frame)
    assert len(cells) == place.cols * place.rows
    for (row, col), (up, lo) in list(cells.items())[::37]:
        r, c = row - 1 - place.row, col - 1 - place.col
        assert up == tuple(small[2 * r, c]) and lo == tuple(small[2 * r + 1, c])
    template = enc._template
    enc.encode(frame[::-1].copy(), place)
    assert enc._template is template  # same placement: the template is reused


def test_resampler_picks_evenly_spaced_pixels():
    frame = np.arange(16 * 16 * 3, dtype=np.uint32).reshape(16, 16, 3).astype(np.uint8)
    small = Resampler(16, 16, 4, 4)(frame)
    assert small.shape == (4, 4, 3)
    np.testing.assert_array_equal(small[0, 0], frame[2, 2])


def test_status_line_says_what_runs():
    info = StatusInfo(True, 65.2, 130.0, 124.0, "preview", 29.7, 3, "sixel", "silent")
    text = info.text()
    for part in (
        "1:05 / 2:10",
        "124.0 BPM",
        "engine preview",
        "30 fps",
        "dropped 3",
        "sixel",
        "silent",
    ):
        assert part in text
    assert clock_text(-3) == "0:00"
