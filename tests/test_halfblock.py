import numpy as np

from hambajuba_tui.graphics.halfblock import UPPER_HALF, Resampler, fit_size, halfblock_strips
from hambajuba_tui.tui.status import StatusInfo, clock_text


def test_fit_keeps_square_frames_square_in_half_block_cells():
    assert fit_size(256, 256, 80, 20) == (40, 40)  # 40 cells wide, 20 rows of 2 pixels
    assert fit_size(256, 256, 30, 40) == (30, 30)
    assert fit_size(256, 256, 0, 10) == (0, 0)


def test_strips_carry_the_upper_and_lower_pixel_colours():
    px = np.zeros((4, 3, 3), np.uint8)
    px[0, :, 0] = 255  # row 0 red (upper half of cell row 0)
    px[1, :, 2] = 255  # row 1 blue (lower half)
    px[2:, 1] = 128
    strips = halfblock_strips(px, pad_left=2, total_width=8)
    assert len(strips) == 2 and all(s.cell_length == 8 for s in strips)
    cells = [seg for seg in strips[0] if UPPER_HALF in seg.text]
    assert [seg.text for seg in cells] == [UPPER_HALF * 3]  # one run of three equal cells
    assert cells[0].style.color.get_truecolor() == (255, 0, 0)
    assert cells[0].style.bgcolor.get_truecolor() == (0, 0, 255)
    row1 = [seg for seg in strips[1] if UPPER_HALF in seg.text]
    assert [len(seg.text) for seg in row1] == [1, 1, 1]
    assert abs(row1[1].style.color.get_truecolor()[0] - 128) <= 8  # 5-bit quantisation
    assert row1[0].style.color.get_truecolor() == (0, 0, 0)


def test_resampler_picks_evenly_spaced_pixels():
    frame = np.arange(16 * 16 * 3, dtype=np.uint32).reshape(16, 16, 3).astype(np.uint8)
    small = Resampler(16, 16, 4, 4)(frame)
    assert small.shape == (4, 4, 3)
    np.testing.assert_array_equal(small[0, 0], frame[2, 2])


def test_status_line_says_what_runs():
    info = StatusInfo(True, 65.2, 130.0, 124.0, "preview", 29.7, 3, "half-blocks", "silent")
    text = info.text()
    for part in ("1:05 / 2:10", "124.0 BPM", "engine preview", "30 fps", "dropped 3",
                 "half-blocks", "silent"):
        assert part in text
    assert clock_text(-3) == "0:00"
