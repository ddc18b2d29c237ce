"""Issue 15, defects 4 and 7: ``--frames-out`` is checked before any work; ``--skin`` in
headless mode is validated and reported as the TUI does."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hostile import cli, seeded_song


@pytest.fixture
def unanalysed(tmp_path):
    path = tmp_path / "fresh.wav"
    t = np.arange(44100 * 3) / 44100
    sf.write(path, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 44100)
    return path


@pytest.mark.parametrize(
    "where, message",
    [
        ("file", "exists and is not a folder"),
        ("/proc/x", "cannot write there"),
        ("/dev/null/frames", "cannot write there"),
    ],
)
def test_a_bad_frames_out_is_refused_before_the_analysis(tmp_path, unanalysed, where, message):
    home = tmp_path / "home"
    target = tmp_path / "a-file" if where == "file" else where
    if where == "file":
        target.write_text("x")
    res = cli("play", str(unanalysed), "--headless", "--frames-out", str(target), home=home)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"--frames-out {target}: {message}" in res.stderr
    assert not (home / "cache" / "analysis").exists() or not any(
        (home / "cache" / "analysis").iterdir()
    )  # refused before any analysis


def test_a_frames_out_folder_made_to_check_is_not_left_behind(tmp_path, unanalysed):
    target = tmp_path / "new" / "frames"
    args = ["--headless", "--frames-out", str(target), "--pack", "no-such-pack"]
    res = cli("play", str(unanalysed), *args, home=tmp_path / "home")
    assert res.returncode == 3 and "no pack named" in res.stderr
    assert not (tmp_path / "new").exists()


def test_headless_reports_a_missing_or_broken_skin(tmp_path):
    home = tmp_path / "home"
    song = seeded_song(tmp_path, home)
    broken = tmp_path / "broken.toml"
    broken.write_text('[colors]\naccent = "pink"\n')
    for skin, expected in (
        (tmp_path / "missing.toml", "no such skin file or skin name"),
        (broken, f"{broken}:2: [colors] accent: expected a colour"),
    ):
        res = cli(
            "play", str(song), "--headless", "--seconds", "0.5", "--skin", str(skin),
            "--stems", "dsp", home=home,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr[-2000:]
        assert expected in res.stderr and "using the default skin" in res.stderr
