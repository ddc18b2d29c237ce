"""The media clock and the players: silent wall clock, and real PortAudio where it exists."""

import ctypes.util
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from hambajuba_tui.player import MediaClock, SilentPlayer, open_player


@pytest.fixture
def clock():
    c = MediaClock.create(duration=10.0)
    yield c
    c.close()


def test_silent_player_advances_pauses_seeks_and_stops_at_the_end(clock):
    p = SilentPlayer(clock, 10.0, "test")
    assert clock.now() == 0.0 and not clock.read().playing
    p.play()
    time.sleep(0.2)
    assert 0.15 < clock.now() < 0.5 and clock.read().playing
    p.pause()
    held = clock.now()
    time.sleep(0.1)
    assert clock.now() == held and not clock.read().playing
    epoch = clock.read().epoch
    p.seek(9.95)
    assert clock.now() == pytest.approx(9.95) and clock.read().epoch == epoch + 1
    p.play()
    time.sleep(0.1)
    p.tick()
    assert not p.playing and clock.now() == pytest.approx(10.0)
    p.seek(-4)
    assert clock.now() == 0.0


def test_another_process_reads_the_same_clock(clock):
    SilentPlayer(clock, 10.0, "test").seek(4.25)
    code = textwrap.dedent(f"""
        from hambajuba_tui.player import MediaClock
        c = MediaClock.attach({clock.name!r})
        r = c.read(); print(r.now, r.epoch, r.duration)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    now, epoch, duration = out.stdout.split()
    assert float(now) == 4.25 and int(epoch) == 1 and float(duration) == 10.0


def test_no_audio_device_gives_a_silent_player_that_says_why(clock, monkeypatch, tmp_path):
    monkeypatch.delenv("HAMBAJUBA_AUDIO")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.asoundrc: no device on this machine
    p = open_player(clock, np.zeros((4410, 2), np.float32), 44100)
    assert isinstance(p, SilentPlayer) and p.kind == "silent"
    assert "no audio" in p.describe()


@pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="PortAudio (libportaudio2) is not installed",
)
def test_sound_player_plays_through_portaudio_and_publishes_the_clock(tmp_path):
    """A real PortAudio stream on ALSA's null device: samples are consumed by the callback and
    the callback stamps the clock. (The null device does not pace in real time, so this checks
    the stream and the clock plumbing, not timing.)"""
    (tmp_path / ".asoundrc").write_text("pcm.!default { type null }\n")
    code = textwrap.dedent("""
        import json, time, numpy as np
        from hambajuba_tui.player import MediaClock, open_player
        clock = MediaClock.create(2.0)
        p = open_player(clock, np.zeros((88200, 2), np.float32), 44100)
        out = {"kind": p.kind, "describe": p.describe()}
        p.play()
        for _ in range(300):
            if not p.playing: break
            time.sleep(0.01)
        p.tick()
        out["after"] = clock.now(); out["playing"] = clock.read().playing
        p.seek(0.5); out["seek"] = clock.now(); p.close(); clock.close()
        print(json.dumps(out))
    """)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("HAMBAJUBA_AUDIO", None)
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["kind"] == "sound" and out["describe"].startswith("sound (")
    assert out["after"] == pytest.approx(2.0, abs=0.05) and not out["playing"]
    assert out["seek"] == pytest.approx(0.5)
