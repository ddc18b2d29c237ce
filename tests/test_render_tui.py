"""The TUI's "Render this song to video": a child process renders while the creature dances;
progress in the status line, a notification with the path at the end; cancel leaves nothing."""

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_analysis
from pilot import app_for, until

from hambajuba_tui.render.job import RenderState, renders_dir
from hambajuba_tui.render.probe import probe
from hambajuba_tui.tui.panels.commands import entries


def _song(path: Path, seconds: float) -> Path:
    """A short song: a kick on every beat at 120 BPM over a low hum."""
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    since = t % 0.5
    x = 0.6 * np.exp(-since / 0.05) * np.sin(2 * np.pi * 60 * t) + 0.1 * np.sin(2 * np.pi * 220 * t)
    sf.write(path, np.stack([x, x], axis=1).astype(np.float32), sr)
    return path


def _notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.mark.slow
def test_the_palette_renders_the_song_in_the_background(tmp_path):
    song = _song(tmp_path / "beat.wav", 2.0)

    async def scenario():
        app = app_for(make_analysis(duration=600.0))
        app.song_path = song
        async with app.run_test(size=(130, 40)) as pilot:
            assert "Render this song to video" in [name for name, _, _ in entries(app)]
            await pilot.press("ctrl+p")
            await pilot.pause(0.3)
            for ch in "render this song":
                await pilot.press(ch if ch != " " else "space")
            await pilot.pause(0.5)
            await pilot.press("enter")
            assert await until(pilot, lambda: app.render_job is not None, 5)
            assert await until(pilot, lambda: "rendering video" in app._status.text, 60)
            seen, shown = app.show.now, app.show.status.shown
            assert await until(pilot, lambda: app.render_job.state.finished, 240)
            assert app.render_job.state.done is not None, app.render_job.state
            # the creature kept dancing meanwhile
            assert app.show.now > seen and app.show.status.shown > shown
            await pilot.pause(0.2)
            assert any(n.startswith("Rendered the video: ") for n in _notes(app)), _notes(app)
            assert app.render_job.state.done in _notes(app)[-1]
            assert "rendering video" not in app._status.text
            return Path(app.render_job.state.done)

    out = asyncio.run(scenario())
    assert out.parent == renders_dir() and out.suffix == ".mp4"
    info = probe(out)
    assert info["video"]["codec"] == "h264" and info["audio"] is not None
    assert abs(info["duration"] - 2.0) < 0.1
    assert not list(out.parent.glob(".*.part"))


@pytest.mark.slow
def test_cancelling_the_render_leaves_nothing_behind(make_app, tmp_path):
    song = _song(tmp_path / "long.wav", 60.0)
    before = set(renders_dir().iterdir())

    async def scenario():
        app = make_app()
        app.song_path = song
        async with app.run_test(size=(130, 40)) as pilot:
            app.action_render_video()
            job = app.render_job
            assert await until(pilot, lambda: job.state.frame > 0, 120), job.state
            app.action_cancel_render()
            assert await until(pilot, lambda: job.state.finished, 30)
            assert job.state.error is not None
            await pilot.pause(0.2)
            assert any(n.startswith("Render failed") for n in _notes(app))

    asyncio.run(scenario())
    assert set(renders_dir().iterdir()) == before


def test_status_text_of_a_render():
    assert RenderState().text() == "rendering video: starting"
    assert RenderState(30, 120, 41.7, 65.2).text() == "rendering video 25% (42 fps, ETA 1:05)"
