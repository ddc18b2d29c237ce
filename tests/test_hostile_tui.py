"""Issue 15, defects 12 and 1 (in the TUI): a crash inside the app restores the terminal,
leaves its traceback in a log, prints one line naming it and exits non-zero; a malformed
performance loaded with ctrl+o is reported and the app keeps running."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from test_app import _app, _until
from textual.app import App

from hambajuba_tui import cli
from hambajuba_tui.paths import performance_path
from hambajuba_tui.tui.app import HambajubaApp


def _boom(self) -> None:
    raise RuntimeError("a bug in an action")


def test_a_crash_in_the_tui_is_one_line_a_log_and_a_non_zero_exit(analysis, monkeypatch):
    monkeypatch.setattr(HambajubaApp, "action_toggle_pause", _boom)
    app = _app(analysis)

    async def crash(pilot) -> None:
        await _until(pilot, lambda: app.show.playing, timeout=40)
        await pilot.press("space")

    app.run = partial(App.run, app, headless=True, size=(90, 30), auto_pilot=crash)
    try:
        with pytest.raises(cli.CliError) as err:
            cli._run_app(app)
    finally:
        app.show.close()
    assert err.value.code == cli.EXIT_CRASH != 0
    log = app.crash_log
    assert str(err.value) == f"the app crashed; the traceback is in {log}"
    assert "\n" not in str(err.value)
    text = log.read_text()
    assert text.startswith("Traceback") and "RuntimeError: a bug in an action" in text
    assert log.parent.name == "logs"


def test_main_prints_the_crash_as_one_line(analysis, monkeypatch, capsys):
    def crashed(args, audio, analysis, job=None):
        app = _app(analysis)
        app.run = lambda: (_ for _ in ()).throw(RuntimeError("driver died"))
        try:
            cli._run_app(app)
        finally:
            app.show.close()

    monkeypatch.setattr(cli, "_check_show_args", lambda args: None)
    monkeypatch.setattr(cli, "_prepare_show", lambda args, path, title: (None, analysis, None))
    monkeypatch.setattr(cli, "_run_show", crashed)
    assert cli.main(["play", "x.wav"]) == cli.EXIT_CRASH
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hambajuba: the app crashed; the traceback is in")


def test_ctrl_o_on_a_malformed_performance_reports_it_and_keeps_running(analysis):
    path = performance_path(analysis.song_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('blocks = ["down.2.1"]\n')

    async def scenario():
        app = _app(analysis)
        async with app.run_test(size=(90, 30)) as pilot:
            before = app.show.session
            await pilot.press("ctrl+o")
            await pilot.pause(0.2)
            messages = [m.message for m in app._notifications]
            assert any(
                f"{path}: [blocks]: expected a table, got an array" in m for m in messages
            ), messages
            assert app.is_running and app.show.session == before
            await pilot.press("q")
        assert app.return_code == 0

    try:
        asyncio.run(scenario())
    finally:
        path.unlink()
