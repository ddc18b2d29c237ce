"""kitty graphics protocol: raw RGB frames, by shared memory when local, inline otherwise.

Every command carries ``q=2`` so kitty never answers (its replies would arrive as
keystrokes). Animation alternates two image ids: the new frame is placed before the old one
is deleted, so the pane never shows a gap. On kitty ≥ 0.28 the image is a virtual placement
drawn by unicode placeholder cells (U+10EEEE, row/column diacritics, image id in the
foreground colour), which Textual renders as ordinary text and tmux passes through.
"""

from __future__ import annotations

import base64
import itertools
import os
import sys

import numpy as np

from hambajuba_tui.graphics.layout import Placement
from hambajuba_tui.graphics.probe import passthrough

IMAGE_IDS = (0x68B101, 0x68B102)
"""Two ids that fit the 24-bit foreground colour of placeholder cells, unlikely elsewhere."""
CHUNK = 4096
PLACEHOLDER = "\U0010eeee"

# kitty's rowcolumn-diacritics table (protocol data): the n-th mark encodes row/column n.
_DIACRITIC_HEX = """
0305 030D 030E 0310 0312 033D 033E 033F 0346 034A 034B 034C 0350 0351 0352 0357 035B 0363
0364 0365 0366 0367 0368 0369 036A 036B 036C 036D 036E 036F 0483 0484 0485 0486 0487 0592
0593 0594 0595 0597 0598 0599 059C 059D 059E 059F 05A0 05A1 05A8 05A9 05AB 05AC 05AF 05C4
0610 0611 0612 0613 0614 0615 0616 0617 0657 0658 0659 065A 065B 065D 065E 06D6 06D7 06D8
06D9 06DA 06DB 06DC 06DF 06E0 06E1 06E2 06E4 06E7 06E8 06EB 06EC 0730 0732 0733 0735 0736
073A 073D 073F 0740 0741 0743 0745 0747 0749 074A 07EB 07EC 07ED 07EE 07EF 07F0 07F1 07F3
0816 0817 0818 0819 081B 081C 081D 081E 081F 0820 0821 0822 0823 0825 0826 0827 0829 082A
082B 082C 082D 0951 0953 0954 0F82 0F83 0F86 0F87 135D 135E 135F 17DD 193A 1A17 1A75 1A76
1A77 1A78 1A79 1A7A 1A7B 1A7C 1B6B 1B6D 1B6E 1B6F 1B70 1B71 1B72 1B73 1CD0 1CD1 1CD2 1CDA
1CDB 1CE0 1DC0 1DC1 1DC3 1DC4 1DC5 1DC6 1DC7 1DC8 1DC9 1DCB 1DCC 1DD1 1DD2 1DD3 1DD4 1DD5
1DD6 1DD7 1DD8 1DD9 1DDA 1DDB 1DDC 1DDD 1DDE 1DDF 1DE0 1DE1 1DE2 1DE3 1DE4 1DE5 1DE6 1DFE
20D0 20D1 20D4 20D5 20D6 20D7 20DB 20DC 20E1 20E7 20E9 20F0 2CEF 2CF0 2CF1 2DE0 2DE1 2DE2
2DE3 2DE4 2DE5 2DE6 2DE7 2DE8 2DE9 2DEA 2DEB 2DEC 2DED 2DEE 2DEF 2DF0 2DF1 2DF2 2DF3 2DF4
2DF5 2DF6 2DF7 2DF8 2DF9 2DFA 2DFB 2DFC 2DFD 2DFE 2DFF A66F A67C A67D A6F0 A6F1 A8E0 A8E1
A8E2 A8E3 A8E4 A8E5 A8E6 A8E7 A8E8 A8E9 A8EA A8EB A8EC A8ED A8EE A8EF A8F0 A8F1 AAB0 AAB2
AAB3 AAB7 AAB8 AABE AABF AAC1 FE20 FE21 FE22 FE23 FE24 FE25 FE26 10A0F 10A38 1D185 1D186
1D187 1D188 1D189 1D1AA 1D1AB 1D1AC 1D1AD 1D242 1D243 1D244
"""
DIACRITICS = tuple(chr(int(h, 16)) for h in _DIACRITIC_HEX.split())


# -- POSIX shared memory, written the way kitty reads it (kitty unlinks after reading) ----------
def shm_write(name: str, data) -> None:
    """Create POSIX shm object ``name`` holding ``data`` (bytes-like); fails if it exists."""
    view = memoryview(data).cast("B")
    if sys.platform.startswith("linux"):
        fd = os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.write(fd, view)
        finally:
            os.close(fd)
        return
    import _posixshmem
    import mmap

    fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        os.ftruncate(fd, len(view))
        with mmap.mmap(fd, len(view)) as m:
            m[:] = view
    finally:
        os.close(fd)


def shm_unlink(name: str) -> None:
    """Remove ``name`` if it is still there (kitty removes what it has read)."""
    try:
        if sys.platform.startswith("linux"):
            os.unlink(f"/dev/shm/{name}")
        else:
            import _posixshmem

            _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        pass


def placeholder_row(cols: int, row: int) -> str:
    """Text of row ``row`` of a ``cols``-wide placeholder block: the first cell names row
    and column, the rest inherit them (kitty increments the column)."""
    n = len(DIACRITICS)
    if cols > n or row >= n:
        raise ValueError(f"placeholders address at most {n}×{n} cells")
    return PLACEHOLDER + DIACRITICS[row] + DIACRITICS[0] + PLACEHOLDER * (cols - 1)


def id_color(image_id: int) -> tuple[int, int, int]:
    """The truecolor foreground that names ``image_id`` in placeholder cells."""
    return (image_id >> 16) & 255, (image_id >> 8) & 255, image_id & 255


class KittyEncoder:
    """Frames → kitty graphics escapes for one pane."""

    protocol = "kitty"

    def __init__(self, shm: bool = True, placeholders: bool = False, tmux: bool = False) -> None:
        self.shm = shm
        self.placeholders = placeholders
        self.tmux = tmux
        self._which = 0
        self.image_id = 0  # the id of the image on screen now (0: none yet)
        self._serial = itertools.count()
        self._prefix = f"hambajuba-{os.getpid()}-"
        self._pending_shm: list[str] = []

    def encode(self, frame: np.ndarray, place: Placement) -> str:
        """Escapes that show ``frame`` (uint8 [H, W, 3], C-contiguous) in ``place``.

        kitty scales the frame to the placement's cells, so the frame goes as it is.
        """
        h, w = frame.shape[:2]
        iid = IMAGE_IDS[self._which]
        self._which ^= 1
        keys = f"a=T,f=24,s={w},v={h},i={iid},c={place.cols},r={place.rows},C=1,q=2"
        keys += ",U=1" if self.placeholders else ",p=1"
        if self.shm:
            name = f"{self._prefix}{next(self._serial)}"
            shm_write(name, frame)
            self._pending_shm.append(name)
            if len(self._pending_shm) > 8:  # kitty reads them at once; tidy up any it did not
                shm_unlink(self._pending_shm.pop(0))
            b64 = base64.standard_b64encode(name.encode()).decode()
            cmds = [f"\x1b_G{keys},t=s,S={frame.nbytes};{b64}\x1b\\"]
        else:
            cmds = _chunked(keys + ",t=d", base64.standard_b64encode(frame.data))
        out = "".join(passthrough(c, self.tmux) for c in cmds)
        if not self.placeholders:
            out = f"\x1b7\x1b[{place.row + 1};{place.col + 1}H{out}\x1b8"
            if self.image_id:
                out += passthrough(f"\x1b_Ga=d,d=I,i={self.image_id},q=2\x1b\\", self.tmux)
        self.image_id = iid
        return out

    def clear(self) -> str:
        """Escapes that delete both images and free their memory (on exit)."""
        for name in self._pending_shm:
            shm_unlink(name)
        self._pending_shm.clear()
        self.image_id = 0
        return "".join(passthrough(f"\x1b_Ga=d,d=I,i={i},q=2\x1b\\", self.tmux) for i in IMAGE_IDS)


def _chunked(keys: str, payload: bytes) -> list[str]:
    """One transmission split into ≤ 4096-byte base64 chunks (``m=1`` on all but the last)."""
    n = max(1, -(-len(payload) // CHUNK))
    text = payload.decode("ascii")
    cmds = []
    for k in range(n):
        more = int(k < n - 1)
        head = f"{keys},m={more}" if k == 0 else f"m={more}"
        cmds.append(f"\x1b_G{head};{text[k * CHUNK : (k + 1) * CHUNK]}\x1b\\")
    return cmds
