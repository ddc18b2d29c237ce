import os

import numpy as np
import pytest

from hambajuba_tui import shm
from hambajuba_tui.engine.ring import FrameRing


def _write(ring: FrameRing, value: int, t: float, epoch: int = 0, size=(8, 6)) -> None:
    slot, view = ring.begin_write(*size)
    view[:] = value
    ring.end_write(slot, t, epoch)


def test_newest_due_frame_is_read_and_later_ones_wait():
    ring = FrameRing.create(8, 8, n_slots=4)
    reader = FrameRing.attach(ring.name)
    out = np.zeros((8, 8, 3), np.uint8)
    try:
        for i, t in enumerate([0.1, 0.2, 0.3, 0.4]):
            _write(ring, i + 1, t)
        info = reader.read_newest_due(0.25, 0, out)
        assert info is not None and info.media_time == pytest.approx(0.2)
        assert (info.width, info.height) == (8, 6)
        assert (out[:6, :8] == 2).all()
        # Nothing newer than frame 2 is due yet at t=0.25.
        assert reader.read_newest_due(0.25, 0, out, after_frame=info.frame_no) is None
        # At t=1 the newest (frame 4) is taken; frame 3 was never shown: dropped.
        info = reader.read_newest_due(1.0, 0, out, after_frame=info.frame_no)
        assert info.frame_no == 4 and (out[:6, :8] == 4).all()
        assert ring.written == 4
    finally:
        reader.close()
        ring.close()


def test_other_epoch_and_half_written_slots_are_never_shown():
    ring = FrameRing.create(4, 4, n_slots=3)
    out = np.zeros((4, 4, 3), np.uint8)
    try:
        _write(ring, 9, 0.1, epoch=0, size=(4, 4))
        assert ring.read_newest_due(1.0, epoch=1, out=out) is None
        slot, view = ring.begin_write(4, 4)  # the worker is mid-frame: sequence is odd
        view[:] = 7
        assert ring.read_newest_due(1.0, epoch=1, out=out) is None
        ring.end_write(slot, 0.5, epoch=1)
        info = ring.read_newest_due(1.0, epoch=1, out=out)
        assert info is not None and (out == 7).all()
    finally:
        ring.close()


def test_oversized_frames_are_refused():
    ring = FrameRing.create(4, 4)
    try:
        with pytest.raises(ValueError, match="exceeds"):
            ring.begin_write(5, 4)
    finally:
        ring.close()


def test_close_unlinks_and_stale_segments_of_dead_owners_are_removed(tmp_path):
    ring = FrameRing.create(4, 4)
    path = f"/dev/shm/{ring.name}"
    assert os.path.exists(path)
    ring.close()
    assert not os.path.exists(path)

    # A segment named after a process that no longer exists (pid far beyond pid_max)...
    dead = f"{shm.PREFIX}4194999-0-ring"
    alive = f"{shm.PREFIX}{os.getpid()}-99-ring"
    for name in (dead, alive):
        (tmp_path / name).write_bytes(b"x")
    removed = shm.remove_stale(tmp_path)
    assert removed == [dead]
    assert not (tmp_path / dead).exists() and (tmp_path / alive).exists()
