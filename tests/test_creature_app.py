"""Pilot tests of the creature in the real app: layout at 80×24 and 200×60, resizing down to
the compact layout and below the minimum and back, the skin key, random skins, the heart's
pulse, and SVG snapshots of the main screen in every built-in skin."""

import asyncio
import os
import re
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pilot import until
from test_skins import _documents, _mutated_default

from hambajuba_tui.tui.app import MIN_SIZE
from hambajuba_tui.tui.border import GLYPHS, HeartEdge
from hambajuba_tui.tui.face import Face
from hambajuba_tui.tui.heart import Heart
from hambajuba_tui.tui.orbs import Orb
from hambajuba_tui.tui.skin import load_skin, user_dir
from hambajuba_tui.tui.status import StatusInfo
from hambajuba_tui.tui.tendrils import Tendrils

SNAPSHOTS = Path(__file__).with_name("snapshots")
UPDATE = os.environ.get("HAMBAJUBA_UPDATE_SNAPSHOTS") == "1"
PARTS = "#status, Face, Orb, Tendrils, #heart-box, Heart, HeartEdge, Footer, #too-small"


def _regions(app) -> dict[str, tuple]:
    return {f"{type(w).__name__}#{w.id}": (tuple(w.region), w.display) for w in app.query(PARTS)}


def _check_composed(app, width: int, height: int) -> None:
    """Every visible part inside the window; orbs, tendrils, face and heart never overlap;
    each tendril runs from its orb's row into the heart's frame."""
    parts = [
        w
        for w in app.query("Orb, Tendrils, Face, #heart-box, #status")
        if w.display and w.region.area
    ]
    for w in parts:
        r = w.region
        assert r.x >= 0 and r.y >= 0 and r.right <= width and r.bottom <= height, w
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            assert not a.region.overlaps(b.region), (a, b)
    box = app.query_one("#heart-box").region
    for strip in app.query(Tendrils):
        if strip.size.width < 3:
            continue
        strip._layout()
        for orb, path in zip(strip.orbs, strip.paths):
            assert path, orb
            assert path[0][1] + strip.region.y == orb.region.y + (0 if orb.compact else 1)
            assert box.y < path[-1][1] + strip.region.y < box.bottom - 1
            heart_side = path[-1][0] + strip.region.x
            assert heart_side + 1 == box.x or heart_side == box.right


def test_the_creature_fits_80x24_and_200x60_and_resizes_down_and_back(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.3)
            _check_composed(app, 80, 24)
            heart = app.query_one(Heart).region
            assert heart.height == 16 and heart.width == 32  # square frame: 2 columns a row
            assert app.query_one("Footer").display and not app.compact

            await pilot.resize_terminal(200, 60)
            await pilot.pause(0.3)
            _check_composed(app, 200, 60)
            big = app.query_one(Heart).region
            assert big.height >= 50 and big.width == 2 * big.height  # grew, kept its aspect
            large = _regions(app)

            await pilot.resize_terminal(*MIN_SIZE)
            await pilot.pause(0.3)
            assert app.compact and not app.too_small
            _check_composed(app, *MIN_SIZE)
            assert not app.query_one("Footer").display
            assert app.query_one(Face).compact and all(o.region.height == 1 for o in app.query(Orb))
            assert app.query_one(Heart).region.height >= 6

            await pilot.resize_terminal(MIN_SIZE[0] - 1, MIN_SIZE[1])
            await pilot.pause(0.3)
            assert app.too_small
            message = app.query_one("#too-small")
            assert message.display and not app.query_one("#stage").display
            assert "make the window bigger" in str(message.render())
            assert f"need {MIN_SIZE[0]}×{MIN_SIZE[1]}" in str(message.render())
            await pilot.resize_terminal(12, 4)
            await pilot.pause(0.2)

            await pilot.resize_terminal(200, 60)
            await pilot.pause(0.3)
            assert _regions(app) == large  # restored exactly
            assert not app.too_small and not app.compact
            await pilot.press("q")

    asyncio.run(scenario())


@pytest.mark.slow
def test_an_open_panel_takes_the_right_and_the_creature_fits_beside_it(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=(200, 60)) as pilot:
            await pilot.pause(0.3)
            alone = _regions(app)
            for size in ((200, 60), (80, 24)):
                await pilot.resize_terminal(*size)
                await pilot.pause(0.3)
                await pilot.press("b")
                await pilot.pause(0.3)
                dock = app.query_one("#panel-dock").region
                assert dock.width > 20 and dock.right == size[0]
                _check_composed(app, *size)
                for w in app.query("Orb, Tendrils, Face, #heart-box"):
                    assert w.region.right <= dock.x, w  # the creature keeps left of the panel
                assert app.query_one(Heart).region.height >= 6
                await pilot.press("escape")
                await pilot.pause(0.3)
                assert not app.query_one("#panel-dock").region.width
            await pilot.resize_terminal(200, 60)
            await pilot.pause(0.3)
            assert _regions(app) == alone  # closed: the creature has the whole window back
            await pilot.press("q")

    asyncio.run(scenario())


def test_the_skin_key_cycles_every_skin_live_and_the_heart_pulses(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=(90, 30)) as pilot:
            assert await until(pilot, lambda: app.show.playing, timeout=40)
            edge = app.query_one("#heart-left", HeartEdge)
            pulses = set()
            for _ in range(150):  # up to 5 s: a loaded machine may step past a beat's swell
                pulses.add(edge.pulse)
                if {0.0, 1.0} <= pulses:
                    break
                await pilot.pause(1 / 30)
            assert {0.0, 1.0} <= pulses  # swells on the beat, rests between
            seen = []
            for _ in range(5):
                await pilot.press("k")
                await pilot.pause(0.1)
                seen.append(app.skin.name)
                skin = app.skin
                assert [n.message for n in app._notifications][-1].startswith(
                    f"skin: {skin.name} (built-in)"
                )
                assert app.screen.styles.background.hex.lower() == skin.colors["background"]
                face = app.query_one(Face).render().lines()
                assert any(skin.face_frame[0].strip()[:4] in line for line in face)
                edge.pulse = 0.0
                assert edge.render_line(0).text == GLYPHS[skin.heart_border][3]
                assert app.query_one(Orb).skin is skin
                assert all(t.skin is skin for t in app.query(Tendrils))
                _check_composed(app, 90, 30)
            assert seen == ["kawaii", "mono", "neon", "default", "kawaii"]
            await pilot.press("q")

    asyncio.run(scenario())


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_user_skins_never_bring_the_app_down(data, make_app):
    """Random skins in the user's skin folder, worn one after another with the skin key."""
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    docs = [data.draw(_mutated_default()) for _ in range(3)] + [data.draw(_documents)]
    files = []
    for n, doc in enumerate(docs):
        path = folder / f"random{n}.toml"
        path.write_text(tomli_w.dumps(doc), encoding="utf-8")
        files.append(path)

    async def scenario():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(len(files) + 1):
                await pilot.press("k")
                await pilot.pause(0.15)
                assert app.is_running
                _check_composed(app, 80, 24)
            await pilot.resize_terminal(*MIN_SIZE)
            await pilot.pause(0.2)
            assert app.is_running
            await pilot.press("q")

    try:
        asyncio.run(scenario())
    finally:
        for path in files:
            path.unlink()


def _fixed_moment(app, t: float) -> None:
    """Freeze the creature at media time ``t`` with a fixed status line (deterministic)."""
    app._ticker.pause()
    app.clear_notifications()
    app.show_moment(
        StatusInfo(
            playing=True,
            now=t,
            duration=app.show.analysis.duration,
            bpm=120.0,
            engine="preview",
            fps=30.0,
            dropped=0,
            graphics="half-blocks",
            sound="silent",
        )
    )


def _normalised(svg: str) -> str:
    return re.sub(r"terminal-\d+", "terminal", svg)


@pytest.mark.parametrize("size", [(80, 24), (40, 12)])
def test_svg_snapshots_of_the_main_screen_in_every_skin(make_app, size):
    async def scenario():
        app = make_app()
        shots = {}
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.3)
            for name in ("default", "neon", "kawaii", "mono"):
                app.apply_skin(load_skin(name)[0])
                await pilot.pause(0.1)
                _fixed_moment(app, 2.01)  # just after a beat: a blink and a swollen frame
                await pilot.pause(0.2)
                shots[name] = app.export_screenshot(title=f"hambajuba · {name}")
            await pilot.press("q")
        return shots

    shots = asyncio.run(scenario())
    SNAPSHOTS.mkdir(exist_ok=True)
    for name, svg in shots.items():
        path = SNAPSHOTS / f"main_{name}_{size[0]}x{size[1]}.svg"
        if UPDATE:
            path.write_text(svg, encoding="utf-8")
            continue
        assert path.exists(), f"no snapshot {path.name}: run with HAMBAJUBA_UPDATE_SNAPSHOTS=1"
        assert _normalised(svg) == _normalised(path.read_text(encoding="utf-8")), (
            f"{path.name} changed; if intended, rerun with HAMBAJUBA_UPDATE_SNAPSHOTS=1"
        )
    # the skins look different from each other
    assert len({_normalised(svg) for svg in shots.values()}) == 4
