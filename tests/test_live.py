"""Live input and instant start, end to end through the real processes (headless).

The listener runs the streaming analyser in its own process and writes the shared store; the
worker conducts from it; the Show's clock is capture time. A replay source plays a song with
known beats into the listener in real time (tests/test_live_pulse.py does the same through a
real PulseAudio server).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile as sf
from hostile import cli
from pilot import until
from songs import f_measure, steady

from hambajuba_tui.audio.listen import Listener
from hambajuba_tui.audio.replay import ReplaySource
from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.headless import run_headless
from hambajuba_tui.show import Show, ShowOptions

WARMUP_S = 8.0
"""Beats are scored after this (the tracker needs a few seconds to lock)."""


@pytest.fixture(scope="module")
def song():
    return steady(126.0, seconds=24.0, seed=5)


@pytest.fixture(scope="module")
def live_run(song):
    """14 s of the song played live into a headless show."""
    listener = Listener("replay", fake=ReplaySource(song.mix.mean(axis=1)))
    show = Show(
        listener.analysis, None, 0, load_pack().session(), ShowOptions(fps=20), listener=listener
    )
    try:
        summary = run_headless(show, 16.0, None, ready_timeout=60.0)
    finally:
        show.close()
    return summary


@pytest.mark.slow
def test_live_show_dances_with_the_tempo_and_predicted_beats(live_run, song):
    s = live_run
    assert s["frames_shown"] > 100, s
    assert s["source"] == "replay"
    assert s["bpm"] == pytest.approx(song.bpm, rel=0.02)
    beats = np.array(s["beats"])
    truth = song.beat_times[(song.beat_times > WARMUP_S) & (song.beat_times < beats.max())]
    scored = beats[beats > WARMUP_S]
    assert f_measure(scored, truth) >= 0.85


def test_live_summary_has_no_duration_and_a_capture_origin(live_run):
    assert live_run["duration"] is None and live_run["capture_t0"] is not None
    assert live_run["analysis"] == "streaming"


def test_play_starts_on_the_quick_pass(tmp_path, song):
    path = tmp_path / "song.wav"
    sf.write(str(path), song.mix[: int(8 * song.sr)], song.sr)
    res = cli(
        "play",
        str(path),
        "--headless",
        "--seconds",
        "5",
        "--engine",
        "preview",
        "--frames-out",
        str(tmp_path / "a"),
        home=tmp_path / "home",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["started_on"] == "streaming" and s["frames_shown"] > 20
    assert s["first_frame_s"] is not None and s["first_frame_s"] > 0
    assert s["bpm"] == pytest.approx(song.bpm, rel=0.03)


def test_full_analysis_takes_over_and_the_next_play_uses_the_cache(tmp_path, song, monkeypatch):
    """The background analysis finishes, the show hands over to it, and it is cached."""
    from hambajuba_tui.audio import cache
    from hambajuba_tui.audio.decode import content_hash, load_audio
    from hambajuba_tui.audio.instant import AnalysisJob

    home = tmp_path / "home"
    monkeypatch.setenv("HAMBAJUBA_HOME", str(home))
    path = tmp_path / "song.wav"
    sf.write(str(path), song.mix[: int(8 * song.sr)], song.sr)
    audio = load_audio(path)
    song_hash = content_hash(path)
    job = AnalysisJob(path, song_hash, "song", audio.n_samples / audio.sr, "dsp")
    job.start()
    show = Show(
        job.analysis,
        audio.samples,
        audio.sr,
        load_pack().session(),
        ShowOptions(sound=False),
        job=job,
    )
    try:
        show.start(play=False)
        deadline = time.monotonic() + 240
        while getattr(show.analysis, "streaming", False) and time.monotonic() < deadline:
            show.poll_worker()
            time.sleep(0.05)
        assert not getattr(show.analysis, "streaming", False), job.state
        assert show.analysis.stems_backend == "dsp"
        assert any(e.startswith("full analysis ready") for e in show.status.events)
        assert show.worker.cfg.analysis is show.analysis  # a restarted worker keeps it
    finally:
        show.close()
    assert cache.load_cached(song_hash, stems_backend="dsp") is not None
    second = cli(
        "play",
        str(path),
        "--headless",
        "--seconds",
        "2",
        "--engine",
        "preview",
        "--stems",
        "dsp",
        home=home,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout.strip().splitlines()[-1])["analysis"] == "full"


def test_wait_analysis_keeps_the_old_way(tmp_path, song):
    path = tmp_path / "song.wav"
    sf.write(str(path), song.mix[: int(6 * song.sr)], song.sr)
    res = cli(
        "play",
        str(path),
        "--headless",
        "--seconds",
        "2",
        "--engine",
        "preview",
        "--wait-analysis",
        home=tmp_path / "home",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["analysis"] == "full" and summary["frames_shown"] > 10


def _live_app(song):
    from hambajuba_tui.tui.app import HambajubaApp

    listener = Listener("replay", fake=ReplaySource(song.mix.mean(axis=1)))
    show = Show(
        listener.analysis,
        None,
        0,
        load_pack().session(),
        ShowOptions(width=96, height=96),
        listener=listener,
    )
    return HambajubaApp(show, title="live")


def test_live_tui_shows_source_level_and_bpm_and_every_panel_opens(song):
    import asyncio

    from hambajuba_tui.tui.heart import Heart

    async def scenario():
        app = _live_app(song)
        async with app.run_test(size=(120, 40)) as pilot:
            status = app.query_one("#status")
            assert await until(pilot, lambda: app.show.playing, 60)
            assert await until(pilot, lambda: app.query_one(Heart).frames_drawn >= 5, 60)
            assert await until(
                pilot, lambda: "BPM" in status.text and "– BPM" not in status.text, 60
            )
            text = status.text
            assert "live replay" in text and " dB" in text and "/" not in text.split("·")[0]
            for key in ("b", "f", "m", "s", "c"):
                await pilot.press(key)
                await pilot.pause(0.1)
                await pilot.press("escape")
            shown = [a.binding.description for a in app.active_bindings.values() if a.enabled]
            assert "Skin" in shown and "+5 s" not in shown  # no seek keys in the footer
            epoch = app.show.clock.read().epoch
            await pilot.press("right")  # no seek in live: the clock goes on from now
            await pilot.pause(0.2)
            assert app.show.clock.read().epoch == epoch  # a seek starts a new epoch
            await pilot.press("q")

    asyncio.run(scenario())


def test_an_unfinished_analysis_is_finished_detached_for_next_time(tmp_path, song, monkeypatch):
    """The user quits while the full analysis still runs: a detached, nicer `analyze` finishes
    the cache after this process has closed its own job."""
    from hambajuba_tui.audio import cache
    from hambajuba_tui.audio.decode import content_hash, load_audio
    from hambajuba_tui.audio.instant import AnalysisJob

    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path / "home"))
    path = tmp_path / "song.wav"
    sf.write(str(path), song.mix[: int(10 * song.sr)], song.sr)
    audio = load_audio(path)
    song_hash = content_hash(path)
    job = AnalysisJob(path, song_hash, "song", audio.n_samples / audio.sr, "dsp")
    job.start(audio)
    try:
        deadline = time.monotonic() + 60
        while job.state == "fast pass" and time.monotonic() < deadline:
            job.poll()
            time.sleep(0.01)
        assert job.state == "analysing"
    finally:
        job.close()  # the show closed it (the app's unmount), and the command ends:
    assert job.finish_detached()  # a detached analyze finishes what it started
    deadline = time.monotonic() + 240
    while cache.load_cached(song_hash, stems_backend="dsp") is None:
        assert time.monotonic() < deadline, "the detached analysis never cached the song"
        time.sleep(0.5)
