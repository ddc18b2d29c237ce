"""Issue 15, defects 11 and 6: a short or truncated file whose harmony holds no key; beats
through digital silence, a DC offset, clipping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from hostile import cli

from hambajuba_tui.audio.decode import Audio
from hambajuba_tui.audio.harmony import main_key
from hambajuba_tui.audio.pipeline import analyze_audio

SR = 44100

pytestmark = pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning")


def clicks(seconds: float = 1.5) -> np.ndarray:
    y = np.zeros(int(seconds * SR), np.float32)
    y[:: SR // 4] = 0.9
    return y


def test_main_key_of_no_key_sections_is_empty():
    assert main_key([], 10.0) == ""
    assert main_key([(0.0, "A minor")], 10.0) == "A minor"


def test_a_clip_without_any_key_section_analyses():
    y = clicks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = analyze_audio(Audio(np.stack([y, y], 1), SR), song_hash="clicks")
    assert a.key == "" and a.keys == []


def test_a_truncated_ogg_analyses_through_the_cli(tmp_path):
    full = tmp_path / "full.ogg"
    y = clicks(60.0)
    with sf.SoundFile(full, "w", SR, 2, format="OGG", subtype="VORBIS") as f:
        for i in range(0, len(y), SR):  # in blocks: libsndfile's vorbis encoder crashes
            f.write(np.stack([y[i : i + SR]] * 2, 1))  # on one long write
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(full.read_bytes()[:20_000])
    res = cli("analyze", str(cut), "--stems", "dsp", home=tmp_path / "home")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and "cut.ogg:" in res.stdout
