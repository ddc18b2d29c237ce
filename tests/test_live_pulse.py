"""`hambajuba live` on a real audio device: a PulseAudio server in user mode with a null sink,
the demo song played into the sink by another program (pacat), its ``.monitor`` captured by the
real CLI. The tempo and the beats are checked against the song's truth, after correcting for the
latency the test measures (player start-up, server, capture and analysis together)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from pulse import SINK, pulse  # noqa: F401  (the fixture)
from songs import f_measure

from hambajuba_tui.audio.demo_song import (
    BEATS_PER_BAR,
    DEMO_BARS,
    DEMO_BPM,
    DEMO_START_S,
    shipped_demo_path,
)

SECONDS = 20.0
WARMUP_S = 8.0


@pytest.mark.slow
def test_live_dances_to_a_song_another_program_plays(pulse, tmp_path):  # noqa: F811
    mix, sr = sf.read(str(shipped_demo_path()), dtype="float32")
    truth = DEMO_START_S + np.arange(DEMO_BARS * BEATS_PER_BAR) * 60.0 / DEMO_BPM
    out = tmp_path / "frames"
    env = {**os.environ, **pulse.client_env(), "HAMBAJUBA_AUDIO": "none"}
    live = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hambajuba_tui.cli",
            "live",
            "--headless",
            "--seconds",
            str(SECONDS),
            "--source",
            f"{SINK}.monitor",
            "--engine",
            "preview",
            "--frames-out",
            str(out),
            "--frames-every",
            "30",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4.0)  # the listener is up and the null sink's monitor is flowing
    launched = time.monotonic()
    # 200 ms of buffer in the player: with 10 ms, a player starved for a moment by the rest of a
    # parallel test run leaves gaps, and the song slips against the times the test expects.
    player = pulse.play(mix[: int((SECONDS + 2) * sr)], sr, latency_ms=200)
    try:
        stdout, stderr = live.communicate(timeout=SECONDS + 120)
    finally:
        player.kill()
    assert live.returncode == 0, stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == f"{SINK}.monitor"
    assert summary["frames_shown"] > 100
    assert summary["bpm"] == pytest.approx(DEMO_BPM, rel=0.02)
    # Beats in song time: capture time, less when the player was launched.
    beats = np.array(summary["beats"]) + summary["capture_t0"] - launched
    heard = truth[truth < beats.max()]
    late = beats[beats > WARMUP_S]
    nearest = heard[np.abs(late[:, None] - heard[None, :]).argmin(axis=1)]
    offset = float(np.median(late - nearest))  # the measured latency, all of it
    assert abs(offset) < 0.25, f"beats sit {offset * 1000:.0f} ms from the song's"
    score = f_measure(late - offset, heard[heard > WARMUP_S])
    print(f"offset {offset * 1000:.1f} ms, beat F {score:.3f}, bpm {summary['bpm']}")
    assert score >= 0.85


def test_live_without_an_audio_server_says_so_and_exits_3(tmp_path):
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nothing-here", "HAMBAJUBA_AUDIO": "none"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hambajuba_tui.cli",
            "live",
            "--headless",
            "--seconds",
            "2",
            "--engine",
            "preview",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 3, res.stderr[-2000:]
    assert "no audio server" in res.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", "live", "--list-sources"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 3 and "no audio server" in listing.stderr


def test_list_sources_names_the_default_monitor(pulse):  # noqa: F811
    res = subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", "live", "--list-sources"],
        env={**os.environ, **pulse.client_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if f"{SINK}.monitor" in x)
    assert line.startswith("*") and "monitor" in line
