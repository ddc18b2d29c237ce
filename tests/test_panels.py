"""Pilot tests of the instrument panels: every edit is a new Session that reaches the worker.

Each test drives the real app (and its real worker process) with keys and clicks, then checks
the Session the Show sent down the SetSession path.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest
from catalog_tables import small_tables
from pilot import spied_app, until

from hambajuba_tui.bridge import masks
from hambajuba_tui.bridge.session import Session, save
from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.catalog.tables import labels_dir
from hambajuba_tui.tui.app import HambajubaApp
from hambajuba_tui.tui.panels.base import Panel, PanelDock
from hambajuba_tui.tui.panels.blocks import BlockPanel
from hambajuba_tui.tui.panels.browser import NO_LABELS, FeatureBrowser, parse_jump
from hambajuba_tui.tui.panels.commands import entries
from hambajuba_tui.tui.panels.composition import CompositionPanel
from hambajuba_tui.tui.panels.help import HelpPanel, keys_text, sections
from hambajuba_tui.tui.panels.instrument import INSTRUMENT_BINDINGS, panel_classes
from hambajuba_tui.tui.panels.masks import MaskGrid, MaskPainter
from hambajuba_tui.tui.panels.scenes import ScenesPanel
from hambajuba_tui.tui.panels.widgets import Choice, Field, Slider
from hambajuba_tui.vocab import BLOCKS


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Labels and performances of one test never leak into another."""
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path / "home"))


def run(scenario) -> None:
    asyncio.run(scenario())


async def _type(pilot, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def _field(pilot, app, wid: str, text: str) -> None:
    """Replace a Field's text and press Enter."""
    field = app.query_one(f"#{wid}", Field)
    field.input.focus()
    field.input.value = ""
    await pilot.pause()
    await _type(pilot, text)
    await pilot.press("enter")
    await pilot.pause()


def _last_note(app) -> str:
    return str(list(app._notifications)[-1].message)


def _panel(app) -> Panel | None:
    return app.open_panel_widget


# -- block config ---------------------------------------------------------------------------


@pytest.mark.slow
def test_block_panel_edits_every_setting_and_each_reaches_the_worker(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("b")
            await pilot.pause()
            panel = _panel(app)
            assert isinstance(panel, BlockPanel) and app.query_one(PanelDock).has_class("open")
            block = panel.block
            assert block == "down.2.1" and app.focused is app.query_one("#block", Choice)
            before = app.show.session.block(block)

            # route: focus the route choice, step it with the keyboard
            app.query_one("#route", Choice).focus()
            await pilot.press("right")
            await pilot.pause()
            assert app.show.session.block(block).source != before.source
            assert spy.last == app.show.session

            await _field(pilot, app, "feature", "77")
            assert spy.last.block(block).feature == 77
            await _field(pilot, app, "right", "-12.5")
            assert spy.last.block(block).stage.right == -12.5
            await _field(pilot, app, "left", "3")
            assert spy.last.block(block).stage.left == 3.0

            # bad input: an inline message, nothing changes, nothing is sent
            n_sent, session = len(spy.sent), app.show.session
            await _field(pilot, app, "home", "abc")
            assert "'abc' is not a number" in panel.message
            await _field(pilot, app, "feature", "99999")
            assert "0..5119" in panel.message
            assert app.show.session == session and len(spy.sent) == n_sent
            panel.say('[blocks."mid.0"] rank: expected one of lead')  # shown as is, not markup
            assert panel.message == '[blocks."mid.0"] rank: expected one of lead'

            for wid, attr in (
                ("position", "position_source"),
                ("intensity", "intensity_source"),
                ("rank", "rank"),
                ("mask", "mask"),
                ("silence", "silence"),
            ):
                was = getattr(app.show.session.block(block), attr)
                app.query_one(f"#{wid}", Choice).focus()
                await pilot.press("right")
                await pilot.pause()
                now = getattr(spy.last.block(block), attr)
                assert now != was and now == app.query_one(f"#{wid}", Choice).value, wid

            # mouse: a click on the right half of a choice steps it forward
            rank = app.show.session.block(block).rank
            await pilot.click("#rank", offset=(24, 0))
            await pilot.pause()
            assert spy.last.block(block).rank != rank

            await _field(pilot, app, "mix-feature", "5")
            app.query_one("#mix", Slider).focus()
            await pilot.press("right", "right")
            await pilot.pause()
            b = spy.last.block(block)
            assert b.mix_feature == 5 and b.mix == pytest.approx(0.10)

            stage = app.show.session.block(block).stage
            app.query_one("#rank", Choice).focus()
            await pilot.press("n")
            await pilot.pause()
            assert spy.last.block(block).stage == replace(
                stage, left=-stage.left, home=-stage.home, right=-stage.right
            )

            source = app.show.session.block(block).source
            await pilot.press("o")
            await pilot.pause()
            assert spy.last.block(block).source is None
            await pilot.press("o")
            await pilot.pause()
            assert spy.last.block(block).source == source

            await pilot.press("pagedown")
            await pilot.pause()
            assert panel.block == BLOCKS[1]
            assert app.query_one("#feature", Field).input.value == str(
                app.show.session.block(BLOCKS[1]).feature
            )
            await pilot.press("pageup", "pageup")
            await pilot.pause()
            assert panel.block == BLOCKS[-1]
            await pilot.press("escape")
            await pilot.pause()
            assert _panel(app) is None and not app.query_one(PanelDock).has_class("open")
            await pilot.press("q")

    run(scenario)


# -- feature browser -------------------------------------------------------------------------


def test_feature_browser_searches_filters_and_sets_features(analysis, monkeypatch):
    small_tables(labels_dir())
    # without the concept model (whether installed here or not): keyword results, said so
    monkeypatch.setattr("hambajuba_tui.catalog.concepts.model_installed", lambda *a: False)

    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("f")
            panel = _panel(app)
            assert isinstance(panel, FeatureBrowser)
            assert await until(pilot, lambda: app.catalog is not None and panel.hits)
            # jump to the labelled block by id, then search as you type
            await _type(pilot, "up.0.1:4")
            await pilot.pause()
            assert panel.block == "up.0.1" and panel.hits[0].feature.id == 4
            app.query_one("#query").value = ""
            await _type(pilot, "neon")
            await pilot.pause()
            labels = [h.feature.label for h in panel.hits]
            assert "glowing neon tubes" in labels and "neon sign lettering" in labels
            shown = str(
                app.query_one("#hits")
                .get_option_at_index(labels.index("glowing neon tubes"))
                .prompt
            )
            assert shown.endswith("glowing neon tubes [lighting]")  # brackets are not markup
            assert "rough tree bark texture" not in labels
            # concept search ran after the pause and fell back quietly to keyword hits
            assert await until(pilot, lambda: "keyword results" in panel.note, 5)
            assert "not embedded" in panel.note and panel.concept_runs >= 1
            assert "glowing neon tubes" in [h.feature.label for h in panel.hits]
            # neighbours of the highlighted feature
            assert await until(pilot, lambda: panel.neighbours, 5)  # found in a thread
            assert all(h.feature.block == "up.0.1" for h in panel.neighbours)
            assert "neighbours of" in str(app.query_one("#neighbours-title").render())
            assert panel.hits[0].key not in [h.key for h in panel.neighbours]

            # category filter of the block
            category = app.query_one("#category", Choice)
            assert {"lighting", "style", "color"} <= set(category.options)
            while category.value != "style":
                category.action_step(1)
                await pilot.pause()
            assert panel.hits and {h.feature.category for h in panel.hits} == {"style"}
            while category.value != "all":
                category.action_step(1)
                await pilot.pause()

            # Enter in the search box sets the top hit as the block's feature
            app.query_one("#query").focus()
            first = panel.hits[0].feature.id
            await pilot.press("enter")
            await pilot.pause()
            assert spy.last.block("up.0.1").feature == first
            # down to the list, pick the second with the keyboard, set it negative
            await pilot.press("down")
            await pilot.pause()
            assert app.focused is app.query_one("#hits")
            await pilot.press("down")
            second = panel.hits[1].feature.id
            stage = app.show.session.block("up.0.1").stage
            await pilot.press("n")
            await pilot.pause()
            b = spy.last.block("up.0.1")
            assert b.feature == second and b.stage.right == -stage.right
            # x: the highlighted feature becomes the mix feature, with a weight
            await pilot.press("up", "x")
            await pilot.pause()
            b = spy.last.block("up.0.1")
            assert b.mix_feature == first and b.mix == 0.5 and b.feature == second
            # Enter on a neighbour makes it the feature
            app.query_one("#neighbours").focus()
            assert await until(pilot, lambda: panel.neighbours, 5)
            await pilot.press("enter")
            await pilot.pause()
            assert spy.last.block("up.0.1").feature == panel.neighbours[0].feature.id
            await pilot.press("slash")
            assert app.focused is app.query_one("#query")
            await pilot.press("pagedown")  # up.0.1 → down.2.1: a block without labels
            await pilot.pause()
            assert panel.block == "down.2.1" and "No labels imported for down.2.1" in panel.note
            await pilot.press("pageup")
            await pilot.pause()
            assert panel.block == "up.0.1"
            await pilot.press("escape")
            await pilot.pause()
            assert _panel(app) is None
            await pilot.press("q")

    run(scenario)


def test_feature_browser_works_with_no_labels_at_all(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("f")
            panel = _panel(app)
            assert await until(pilot, lambda: app.catalog is not None and panel.hits)
            assert panel.note == NO_LABELS
            assert "features import" in panel.note and "features pull" in panel.note
            current = app.show.session.block(panel.block).feature
            assert [h.feature.id for h in panel.hits[:3]] == [current, current + 1, current + 2]
            await _type(pilot, "154")
            await pilot.pause()
            assert [h.feature.id for h in panel.hits] == [154]
            await pilot.press("enter")
            await pilot.pause()
            assert spy.last.block(panel.block).feature == 154
            # an empty search lists ids from the block's feature on; a click selects one
            app.query_one("#query").value = ""
            await pilot.pause()
            assert panel.hits[0].feature.id == 154
            await pilot.click("#hits", offset=(4, 2))  # row 0 is the list's border
            await pilot.pause()
            assert spy.last.block(panel.block).feature == 155
            await pilot.press("q")

    run(scenario)


def test_parse_jump():
    assert parse_jump("154") == (None, 154)
    assert parse_jump(" up.0.1:7 ") == ("up.0.1", 7)
    assert parse_jump("mid.0:5119") == ("mid.0", 5119)
    assert parse_jump("mid.0:5120") is None
    assert parse_jump("nope.1:3") is None
    assert parse_jump("neon 3") is None


# -- mask painter ---------------------------------------------------------------------------


def test_mask_painter_paints_presets_pitch_and_mouse(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("m")
            await pilot.pause()
            panel = _panel(app)
            assert isinstance(panel, MaskPainter) and app.focused is app.query_one(MaskGrid)
            block = panel.block
            await pilot.press("x")  # preset: clear
            await pilot.pause()
            assert spy.last.block(block).mask == "clear"
            await pilot.press("down", "down", "right", "space")
            await pilot.pause()
            b = spy.last.block(block)
            grid = np.array(b.painted)
            assert b.mask == "painted" and grid.shape == (16, 16)
            assert grid[2, 1] == 1.0 and grid.sum() == 1.0
            await pilot.press("minus", "right", "space")
            await pilot.pause()
            assert np.array(spy.last.block(block).painted)[2, 2] == 0.75
            grid = app.query_one(MaskGrid)
            await pilot.press("up", "plus")
            assert grid.cursor == (1, 2) and grid.brush == 1.0
            await pilot.press("minus", "minus", "equals_sign", "down")
            assert grid.cursor == (2, 2) and grid.brush == 0.75
            await pilot.press("left", "space")  # the same brush value again? no: 0.75 ≠ 1
            await pilot.pause()
            assert np.array(spy.last.block(block).painted)[2, 1] == 0.75
            await pilot.press("space")  # now it has the brush value: rubbed out
            await pilot.pause()
            assert np.array(spy.last.block(block).painted)[2, 1] == 0.0

            # mouse: click a cell (two columns per cell, inside the border)
            await pilot.click(MaskGrid, offset=(1 + 2 * 9, 1 + 12))
            await pilot.pause()
            assert np.array(spy.last.block(block).painted)[12, 9] == 0.75

            for key, name in (
                ("f", "fill"),
                ("b", "floor"),
                ("t", "ceiling"),
                ("o", "center"),
                ("x", "clear"),
            ):
                await pilot.press(key)
                await pilot.pause()
                assert spy.last.block(block).mask == name
                assert np.allclose(app.query_one(MaskGrid).cells, masks.preset(name))
            await pilot.press("p")
            await pilot.pause()
            assert spy.last.block(block).mask == "pitch"
            await pilot.press("p")
            await pilot.pause()
            assert spy.last.block(block).mask == "painted"  # back to the painted grid
            await pilot.press("pagedown")
            await pilot.pause()
            assert panel.block == BLOCKS[(BLOCKS.index(block) + 1) % 4]
            await pilot.press("escape")
            await pilot.pause()
            assert _panel(app) is None
            await pilot.press("q")

    run(scenario)


# -- scenes and composition ------------------------------------------------------------------


@pytest.mark.slow
def test_scenes_panel_prompts_blend_mode_and_crossfader(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("s")
            await pilot.pause()
            panel = _panel(app)
            assert isinstance(panel, ScenesPanel)
            assert app.focused is app.query_one("#slider", Slider)  # the crossfader first
            # focusing a prompt does not select it: a key adds to it, it does not replace it
            old_b = app.show.session.scenes.prompt_b
            app.query_one("#prompt_b", Field).input.focus()
            await pilot.press("exclamation_mark", "enter")
            await pilot.pause()
            assert spy.last.scenes.prompt_b == old_b + "!"
            await _field(pilot, app, "prompt_a", "a quiet snowy forest")
            await _field(pilot, app, "prompt_b", "a volcano at night")
            s = spy.last.scenes
            assert (s.prompt_a, s.prompt_b) == ("a quiet snowy forest", "a volcano at night")
            n = len(spy.sent)
            await _field(pilot, app, "prompt_a", "   ")
            assert "needs some words" in panel.message and len(spy.sent) == n

            app.query_one("#mode", Choice).focus()
            await pilot.press("right")
            await pilot.pause()
            assert spy.last.scenes.mode == "linked"  # reactive → linked
            app.query_one("#link_source", Choice).focus()
            await pilot.press("left")
            await pilot.pause()
            assert spy.last.scenes.link_source == "global"  # the one before tension

            # the crossfader: ] and [ move it (and take over the blend); the mouse sets it
            await pilot.press("right_square_bracket", "right_square_bracket")
            await pilot.pause()
            assert spy.last.scenes.slider == pytest.approx(0.10)
            assert spy.last.scenes.mode == "slider"
            await pilot.press("left_square_bracket")
            await pilot.pause()
            assert spy.last.scenes.slider == pytest.approx(0.05)
            await pilot.click("#slider", offset=(18 + 19, 0))
            await pilot.pause()
            assert spy.last.scenes.slider == 1.0
            assert app.query_one("#slider", Slider).value == 1.0
            app.query_one("#depth", Slider).focus()
            await pilot.press("left")
            await pilot.pause()
            assert spy.last.scenes.depth == pytest.approx(0.95)
            await pilot.press("escape")
            await pilot.pause()
            # the crossfader works on the main screen too
            await pilot.press("left_square_bracket")
            await pilot.pause()
            assert spy.last.scenes.slider == pytest.approx(0.95)
            await pilot.press("q")

    run(scenario)


def test_composition_panel_and_a_new_seed_changes_the_next_frame(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            assert await until(pilot, lambda: app.show.playing)
            await pilot.press("space")  # paused: the worker renders only on a change
            await pilot.press("c")
            await pilot.pause()
            panel = _panel(app)
            assert isinstance(panel, CompositionPanel)
            app.query_one("#distance", Slider).focus()
            await pilot.press("right")
            await pilot.pause()
            assert spy.last.composition.distance == pytest.approx(0.30)
            await pilot.press("end")
            await pilot.pause()
            assert spy.last.composition.distance == 4.0
            await pilot.press("home")
            await pilot.pause()
            assert spy.last.composition.distance == 0.0
            app.query_one("#mode", Choice).focus()
            await pilot.press("right")
            await pilot.pause()
            assert spy.last.composition.mode == "pulse"

            await _field(pilot, app, "seed", "-3")
            assert "0..4294967295" in panel.message
            await pilot.pause(0.5)
            before = app.show.frame.copy()
            shown = app.show.status.shown
            await _field(pilot, app, "seed", "42")
            assert spy.last.seed == 42
            # the worker re-seeds its noise: the next frame differs
            assert await until(
                pilot,
                lambda: (
                    app.show.status.shown > shown and not np.array_equal(app.show.frame, before)
                ),
                15,
            )
            app.query_one("#mode", Choice).focus()
            await pilot.press("r")
            await pilot.pause()
            assert spy.last.seed != 42 and app.query_one("#seed", Field).input.value == str(
                spy.last.seed
            )
            await pilot.press("escape", "q")

    run(scenario)


# -- help, palette, performances -------------------------------------------------------------


def test_help_lists_every_key_of_the_app_and_of_each_panel(analysis):
    async def scenario():
        app, _ = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(_panel(app), HelpPanel)
            text = str(app.query_one("#help-text").render())
            groups = dict(sections(app))
            assert set(groups) >= {f"{cls.TITLE} panel" for cls in panel_classes().values()}
            main_keys = {b.key for b in groups["Main screen"]}
            assert {b.key for b in HambajubaApp.BINDINGS} <= main_keys
            assert {b.key for b in INSTRUMENT_BINDINGS} <= main_keys
            count = 0
            for title, bindings in groups.items():
                assert title in text
                for b in bindings:
                    line = f"{keys_text(b):<16}{b.description or b.action}"
                    assert line in text, line
                    count += 1
            assert count > 40 and "ctrl+s" in text and "ctrl+p" in text
            await pilot.press("escape")
            await pilot.pause()
            assert _panel(app) is None
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(_panel(app), HelpPanel)
            await pilot.press("q")

    run(scenario)


@pytest.mark.slow
def test_command_palette_opens_panels_and_runs_actions(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("ctrl+p")
            await pilot.pause(0.3)
            await _type(pilot, "mask painter")
            await pilot.pause(0.5)
            await pilot.press("enter")
            assert await until(pilot, lambda: isinstance(_panel(app), MaskPainter), 5)
            await pilot.press("escape")
            await pilot.pause()
            names = [name for name, _, _ in entries(app)]
            for panel in (
                "block config",
                "feature browser",
                "mask painter",
                "scenes",
                "composition",
            ):
                assert f"Open {panel}" in names
            by_name = {name: cb for name, cb, _ in entries(app)}
            block = app.block_name
            mask = app.show.session.block(block).mask
            await by_name["Cycle mask mode"]()
            assert spy.last.block(block).mask != mask
            mode = app.show.session.composition.mode
            await by_name["Cycle composition mode"]()
            assert spy.last.composition.mode != mode
            mode = app.show.session.scenes.mode
            await by_name["Cycle scene blend mode"]()
            assert spy.last.scenes.mode != mode
            await by_name["Toggle block on/off"]()
            assert spy.last.block(block).source is None
            right = app.show.session.block(block).stage.right
            await by_name["Negate block feature"]()
            assert spy.last.block(block).stage.right == -right
            await by_name["Next block"]()
            assert app.block_name == BLOCKS[(BLOCKS.index(block) + 1) % 4]
            await by_name["Open scenes"]()
            await pilot.pause()
            assert isinstance(_panel(app), ScenesPanel)
            await pilot.press("escape", "q")

    run(scenario)


def test_performance_saves_loads_and_a_broken_file_keeps_the_session(analysis):
    async def scenario():
        app, spy = spied_app(analysis)
        path = app.performance_file
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert "No saved performance" in _last_note(app)
            await pilot.press("right_square_bracket")  # crossfader to 0.05
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert path.is_file() and "Saved the performance" in _last_note(app)
            saved = app.show.session
            await pilot.press("right_square_bracket", "right_square_bracket")
            await pilot.pause()
            assert app.show.session.scenes.slider == pytest.approx(0.15)
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert app.show.session == saved and spy.last == saved
            assert "Loaded the performance" in _last_note(app)

            path.write_text('[blocks."mid.0"]\nrank = "shouting"\n')
            await pilot.press("right_square_bracket")
            await pilot.pause()
            current = app.show.session
            await pilot.press("ctrl+o")
            await pilot.pause()
            message = _last_note(app)
            assert str(path) in message and "rank" in message and "shouting" in message
            assert "Kept the current setup" in message and app.show.session == current
            await pilot.press("q")

    run(scenario)


def test_a_performance_saved_with_a_painted_mask_round_trips(tmp_path):
    grid = tuple(tuple(round((r * 16 + c) / 255, 3) for c in range(16)) for r in range(16))
    s = Session().with_block("up.0.0", mask="painted", painted=grid)
    s = replace(s, seed=123456)
    save(s, tmp_path / "p.toml")
    from hambajuba_tui.bridge.session import load

    assert load(tmp_path / "p.toml") == s


@pytest.mark.slow
def test_opening_one_panel_replaces_the_other(analysis):
    async def scenario():
        app, _ = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            for key, cls in (("b", BlockPanel), ("s", ScenesPanel), ("c", CompositionPanel)):
                await pilot.press("escape") if key != "b" else None
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(_panel(app), cls) and len(app.query(Panel)) == 1
            # from the block panel, f and m open the browser and the painter
            await pilot.press("escape", "b")
            await pilot.pause()
            await pilot.press("f")
            await pilot.pause()
            assert isinstance(_panel(app), FeatureBrowser) and len(app.query(Panel)) == 1
            await pilot.press("escape", "b")
            await pilot.pause()
            await pilot.press("m")
            await pilot.pause()
            assert isinstance(_panel(app), MaskPainter)
            # a tiny terminal asks for room and keeps the panel; grown back, painting works
            await pilot.resize_terminal(30, 10)
            await pilot.pause(0.2)
            assert app.too_small and app.query_one("#too-small").display
            assert isinstance(_panel(app), MaskPainter)
            await pilot.resize_terminal(130, 50)
            await pilot.pause(0.2)
            assert app.is_running and isinstance(_panel(app), MaskPainter)
            await pilot.press("space")
            await pilot.pause()
            assert app.show.session.block(app.block_name).mask == "painted"
            # . and , pick the block the panels edit, from the main screen
            await pilot.press("escape")
            before = app.current_block
            await pilot.press("full_stop")
            assert app.current_block == (before + 1) % 4
            await pilot.press("comma")
            assert app.current_block == before
            await pilot.press("q")

    run(scenario)


def test_session_rejects_bad_painted_values_and_seeds(tmp_path):
    from hambajuba_tui.bridge.session import SessionError, load

    grid = tuple(tuple(0.5 for _ in range(16)) for _ in range(16))
    bad = ((*grid[0][:3], 1.5, *grid[0][4:]), *grid[1:])
    with pytest.raises(SessionError, match=r'\[blocks."mid.0"\] painted\[0\]\[3\].*1.5'):
        Session().with_block("mid.0", mask="painted", painted=bad)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(SessionError, match="seed"):
            replace(Session(), seed=seed)
    path = tmp_path / "p.toml"
    path.write_text("seed = 2.5\n")
    with pytest.raises(SessionError, match=f"{path}.*seed"):
        load(path)


def test_the_worker_reseeds_its_engine_when_the_seed_changes():
    from hambajuba_tui.bridge.params import FrameParams
    from hambajuba_tui.engine.worker import make_engine

    engine = make_engine("preview", 32, 32, 0)
    params = FrameParams(theta=0.7)
    a, b, c = (np.zeros((32, 32, 3), np.uint8) for _ in range(3))
    engine.generate(params, a)
    engine.reseed(42)  # in place: the same engine, new noise
    engine.generate(params, b)
    make_engine("preview", 32, 32, 42).generate(params, c)
    assert engine.seed == 42 and not np.array_equal(a, b) and np.array_equal(b, c)


def test_block_panel_names_features_by_their_labels(analysis):
    small_tables(labels_dir())

    async def scenario():
        app, _ = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            app.current_block = BLOCKS.index("up.0.1")
            await pilot.press("b")
            await _field(pilot, app, "feature", "4")
            label = app.query_one("#feature-label")
            assert await until(pilot, lambda: "rough tree bark texture" in str(label.render()))
            await _field(pilot, app, "feature", "3000")
            assert "up.0.1:3000 (no label)" in str(label.render())
            await pilot.press("q")

    run(scenario)


def test_the_tui_never_imports_torch_with_every_panel_open(tmp_path):
    import json
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import asyncio, json, sys
        sys.path.insert(0, "tests")
        from conftest import make_analysis
        from pilot import spied_app

        async def main():
            app, spy = spied_app(make_analysis())
            async with app.run_test(size=(120, 45)) as pilot:
                for key in ("b", "f", "m", "s", "c", "question_mark"):
                    await pilot.press(key)
                    await pilot.pause(0.3)
                await pilot.press("escape", "f")
                await pilot.press(*"warm")
                await pilot.pause(1.0)
                await pilot.press("escape", "ctrl+s", "ctrl+o", "q")
            return len(app.query("Panel")), len(spy.sent)

        if __name__ == "__main__":
            asyncio.run(main())
            print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "torch")))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HAMBAJUBA_AUDIO": "none", "PATH": "/usr/bin:/bin", "HAMBAJUBA_HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert list((tmp_path / "data" / "performances").glob("*.toml"))  # ctrl+s really ran


def test_turning_a_knob_keeps_the_dancers_in_motion(analysis):
    """A session edit that leaves a block's source alone must not reset its dancer (a panel
    edit is not a seek); a new source starts settled."""
    from hambajuba_tui.bridge.conductor import Conductor

    session = load_pack().session()
    edited = session.with_scenes(slider=0.4)
    steady, knob = Conductor(analysis, session), Conductor(analysis, session)
    times = np.arange(0, 2.5, 1 / 30)
    for t in times:
        steady.step(t)
        knob.step(t)
    knob.set_session(edited)
    t = times[-1] + 1 / 30
    a, b = steady.step(t).strengths.copy(), knob.step(t).strengths.copy()
    assert np.any(a != 0) and np.array_equal(a, b)

    # a changed route: that block's dancer is new, and starts where a seek would put it
    rerouted = edited.with_block(BLOCKS[0], source="drums")
    knob.set_session(rerouted)
    fresh = Conductor(analysis, rerouted)
    t += 1 / 30
    assert knob.step(t).strengths[0] == fresh.step(t).strengths[0]


@pytest.mark.skipif(
    not __import__("hambajuba_tui.catalog.concepts", fromlist=["x"]).model_installed(),
    reason="concept model not installed (.[concepts])",
)
@pytest.mark.slow
def test_feature_browser_blends_in_concept_hits_after_a_pause(analysis):
    small_tables(labels_dir())

    async def scenario():
        app, spy = spied_app(analysis)
        async with app.run_test(size=(130, 50)) as pilot:
            await pilot.press("f")
            panel = _panel(app)
            assert await until(pilot, lambda: app.catalog is not None and panel.hits)
            await _type(pilot, "up.0.1:0")
            await pilot.pause()
            assert panel.block == "up.0.1"
            # opening the browser started embedding the labels in the app's concept child;
            # meanwhile search says it is keyword-only, with progress
            job = app.embedding
            assert job is not None and job.total == 16
            assert job.finished or "embedding labels for concept search" in panel.note
            assert await until(pilot, lambda: job.finished, 180) and not job.error
            assert app.catalog.missing_vectors() == []
            app.query_one("#query").value = ""
            await _type(pilot, "a small cat")
            # keyword hits at once (no label says "cat"), concept hits after the pause
            assert "fluffy kitten fur" not in [h.feature.label for h in panel._keyword[:1]]
            assert await until(
                pilot,
                lambda: any(
                    h.match == "concept" and h.feature.label == "fluffy kitten fur"
                    for h in panel.hits[:3]
                ),
                20,
            )
            assert panel.note == ""
            await pilot.press("enter")
            await pilot.pause()
            assert spy.last.block("up.0.1").feature == panel.hits[0].feature.id
            # a label equal to the query comes first; then meaning and words fused
            app.query_one("#query").value = ""
            await _type(pilot, "warm amber glow")
            assert await until(pilot, lambda: panel.concept_shown_at > 0 and not panel.note, 20)
            assert panel.hits[0].feature.label == "warm amber glow"
            # the list never moves under the cursor: rows down to it stay when hits arrive
            await pilot.press("down", "down", "down")
            await pilot.pause()
            before = [h.key for h in panel.hits[:3]]
            panel._show_fused(list(reversed(panel.hits)))
            assert [h.key for h in panel.hits[:3]] == before
            assert app.query_one("#hits").highlighted == 2
            assert len({h.key for h in panel.hits}) == len(panel.hits)
            await pilot.press("escape", "q")
        assert app.catalogs._embedder is None  # closed with the app

    run(scenario)
