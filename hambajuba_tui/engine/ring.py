"""The frame ring: a few shared-memory slots that the worker writes and the TUI reads.

Layout: a 64-byte ring header, then per slot a 64-byte header and ``max_h × max_w × 3`` bytes.
Slot header: sequence number (odd while being written, even when complete), media time,
width, height, frame number, epoch. The worker renders straight into a slot (no copy); the
reader takes the newest complete slot whose media time is due, so stale frames are dropped,
never queued. ``epoch`` changes on every seek: frames of an older epoch are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hambajuba_tui import shm

_RING_DTYPE = np.dtype(
    [
        ("magic", "<u4"),
        ("n_slots", "<u4"),
        ("max_w", "<u4"),
        ("max_h", "<u4"),
        ("written", "<u8"),
        ("pad", "V40"),
    ]
)
_SLOT_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("media_time", "<f8"),
        ("width", "<u4"),
        ("height", "<u4"),
        ("frame_no", "<u8"),
        ("epoch", "<u8"),
        ("pad", "V24"),
    ]
)
_MAGIC = 0x484A4252  # "HJBR"
assert _RING_DTYPE.itemsize == 64 and _SLOT_DTYPE.itemsize == 64


@dataclass(frozen=True)
class FrameInfo:
    frame_no: int
    media_time: float
    width: int
    height: int


class FrameRing:
    """Create with :meth:`create` (owner, TUI side) or :meth:`attach` (worker side)."""

    def __init__(self, segment, owner: bool) -> None:
        self._shm = segment
        self.owner = owner
        buf = segment.buf
        self._head = np.ndarray((), _RING_DTYPE, buffer=buf, offset=0)
        if int(self._head["magic"]) != _MAGIC:
            raise ValueError(f"shared memory {segment.name!r} is not a hambajuba frame ring")
        self.n_slots = int(self._head["n_slots"])
        self.max_w = int(self._head["max_w"])
        self.max_h = int(self._head["max_h"])
        frame_bytes = self.max_w * self.max_h * 3
        stride = 64 + frame_bytes
        self._slots = [
            np.ndarray((), _SLOT_DTYPE, buffer=buf, offset=64 + i * stride)
            for i in range(self.n_slots)
        ]
        self._pixels = [
            np.ndarray(
                (self.max_h, self.max_w, 3), np.uint8, buffer=buf, offset=64 + i * stride + 64
            )
            for i in range(self.n_slots)
        ]
        self._next_slot = 0

    @classmethod
    def create(cls, max_w: int, max_h: int, n_slots: int = 4) -> FrameRing:
        size = 64 + n_slots * (64 + max_w * max_h * 3)
        segment = shm.create("ring", size)
        head = np.ndarray((), _RING_DTYPE, buffer=segment.buf, offset=0)
        head["magic"], head["n_slots"], head["max_w"], head["max_h"] = _MAGIC, n_slots, max_w, max_h
        head["written"] = 0
        del head
        return cls(segment, owner=True)

    @classmethod
    def attach(cls, name: str) -> FrameRing:
        return cls(shm.attach(name), owner=False)

    @property
    def name(self) -> str:
        return self._shm.name

    @property
    def written(self) -> int:
        """Frames completed since the ring was created."""
        return int(self._head["written"])

    # -- writer (worker) ---------------------------------------------------------------------
    def begin_write(self, width: int, height: int) -> tuple[int, np.ndarray]:
        """Claim the oldest slot; returns (slot, uint8 [height, width, 3] view to render into)."""
        if width > self.max_w or height > self.max_h:
            raise ValueError(f"frame {width}×{height} exceeds ring {self.max_w}×{self.max_h}")
        slot = self._next_slot
        self._next_slot = (slot + 1) % self.n_slots
        head = self._slots[slot]
        self._prev_size = (int(head["width"]), int(head["height"]))
        head["seq"] += 1  # odd: being written
        head["width"], head["height"] = width, height
        return slot, self._pixels[slot][:height, :width]

    def abort_write(self, slot: int) -> None:
        """Give back a slot claimed by ``begin_write`` and left untouched (nothing to write):
        it is complete again with its previous frame, and is the next slot claimed."""
        head = self._slots[slot]
        head["width"], head["height"] = self._prev_size
        head["seq"] += 1  # back to even: the old frame, whole
        self._next_slot = slot

    def end_write(self, slot: int, media_time: float, epoch: int) -> None:
        head = self._slots[slot]
        head["media_time"] = media_time
        head["frame_no"] = self._head["written"] + 1
        head["epoch"] = epoch
        self._head["written"] += 1
        head["seq"] += 1  # even: complete

    # -- reader (TUI) --------------------------------------------------------------------------
    def read_newest_due(
        self, now: float, epoch: int, out: np.ndarray, after_frame: int = 0
    ) -> FrameInfo | None:
        """Copy the newest complete frame of ``epoch`` with media time ≤ ``now`` into ``out``.

        Only frames newer than ``after_frame`` count; returns None when there is none.
        ``out`` must be uint8 [max_h, max_w, 3]; the frame fills its top-left corner.
        """
        best, best_time = -1, -np.inf
        for i, head in enumerate(self._slots):
            seq = int(head["seq"])
            if seq == 0 or seq & 1 or int(head["epoch"]) != epoch:
                continue
            t = float(head["media_time"])
            if t <= now and t > best_time and int(head["frame_no"]) > after_frame:
                best, best_time = i, t
        if best < 0:
            return None
        head = self._slots[best]
        seq = int(head["seq"])
        info = FrameInfo(
            int(head["frame_no"]),
            float(head["media_time"]),
            int(head["width"]),
            int(head["height"]),
        )
        h, w = info.height, info.width
        np.copyto(out[:h, :w], self._pixels[best][:h, :w])
        if int(head["seq"]) != seq:  # overwritten while copying: torn, skip this round
            return None
        return info

    def close(self) -> None:
        self._head = None  # drop numpy views before closing the buffer
        self._slots, self._pixels = [], []
        shm.release(self._shm, self.owner)
