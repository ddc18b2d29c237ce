"""Recording what the heart sent, for the real-terminal tests (and docs/screenshots.py).

The harness sets ``HAMBAJUBA_RECORD_HEART`` to a folder when it starts the app in a real
terminal; the app then hangs a :class:`HeartRecorder` on the heart, which keeps the last whole
frame written (``frame.png``) and where it went in cells and pixels (``heart.json``), so a
screenshot of the terminal can be compared against it. Without the variable nothing here runs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from hambajuba_tui.graphics.layout import Placement

RECORD_ENV = "HAMBAJUBA_RECORD_HEART"
"""When set to a folder, the app records the last frame the heart sent and where it went."""


class HeartRecorder:
    """A heart's ``on_frame_sent``: writes the frame and its cells, each file atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __call__(self, heart, frame: np.ndarray, place: Placement) -> None:
        from PIL import Image

        self.folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(self.folder / "frame.tmp.png", compress_level=1)
        os.replace(self.folder / "frame.tmp.png", self.folder / "frame.png")
        info = {
            "col": place.col,
            "row": place.row,
            "cols": place.cols,
            "rows": place.rows,
            "width": place.width,
            "height": place.height,
            "protocol": heart.mode.protocol,
            "frames_drawn": heart.frames_drawn,
            "rewrites": heart.rewrites,
            "cell_px": list(heart.mode.cell_px),
            "time": time.time(),
        }
        (self.folder / "heart.tmp.json").write_text(json.dumps(info))
        os.replace(self.folder / "heart.tmp.json", self.folder / "heart.json")


def recorder_from_env(environ=os.environ) -> HeartRecorder | None:
    """A recorder when the harness asked for one (``HAMBAJUBA_RECORD_HEART``), else None."""
    folder = environ.get(RECORD_ENV)
    return HeartRecorder(Path(folder)) if folder else None
