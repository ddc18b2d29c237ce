"""The real-terminal tests' recorder: what the heart sent and where, written atomically."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
from PIL import Image

from hambajuba_tui.graphics.layout import Placement
from hambajuba_tui.graphics.probe import GraphicsMode
from hambajuba_tui.tui.recording import RECORD_ENV, HeartRecorder, recorder_from_env


def test_recorder_writes_the_frame_and_its_cells(tmp_path):
    assert recorder_from_env({}) is None
    rec = recorder_from_env({RECORD_ENV: str(tmp_path / "rec")})
    assert isinstance(rec, HeartRecorder)
    heart = SimpleNamespace(mode=GraphicsMode("sixel"), frames_drawn=3, rewrites=1)
    frame = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    rec(heart, frame, Placement(2, 1, 6, 2, 60, 40))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "rec" / "frame.png")), frame)
    info = json.loads((tmp_path / "rec" / "heart.json").read_text())
    assert (info["col"], info["row"], info["cols"], info["rows"]) == (2, 1, 6, 2)
    assert info["protocol"] == "sixel" and info["frames_drawn"] == 3
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["frame.png", "heart.json"]
