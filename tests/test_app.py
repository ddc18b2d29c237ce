"""Pilot tests of the real app (Textual's run_test), with a real worker process behind it."""

import asyncio
import json
import subprocess
import sys
import textwrap

from pilot import until
from test_graphics import decode_sixel
from test_halfblock import decode_halfblocks

from hambajuba_tui.graphics.probe import GraphicsMode
from hambajuba_tui.tui.face import Face
from hambajuba_tui.tui.heart import Heart
from hambajuba_tui.tui.orbs import Orb


def test_creature_dances_pauses_and_quits(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            heart = app.query_one(Heart)
            assert len(app.query(Orb)) == 4 and app.query_one(Face)
            assert await until(pilot, lambda: app.show.playing)
            assert await until(pilot, lambda: heart.frames_drawn >= 5)
            # The heart shows the frame: the half-block escapes it wrote carry its colours.
            cells = decode_halfblocks(heart.last_payload)
            place = heart.placement()
            assert len(cells) == place.cols * place.rows > 0
            assert len({up for up, _ in cells.values()}) > 20  # a picture, not a flat fill
            status = app.query_one("#status").text
            assert "BPM" in status and "engine preview" in status and status.endswith("silent")
            assert "half-blocks" in status
            await pilot.press("space")
            assert not app.show.playing
            await pilot.pause(0.2)
            assert app.query_one(Face).expression.eyes == "asleep"
            paused_at = app.show.now
            await pilot.pause(0.3)
            assert app.show.now == paused_at
            await pilot.press("right")
            assert app.show.now == paused_at + 5.0
            await pilot.press("space")
            assert app.show.playing
            await pilot.press("q")
        assert app.return_code == 0 or app.return_code is None
        assert app.show._closed

    asyncio.run(scenario())


def test_face_blinks_on_beats_while_playing(make_app):
    async def scenario():
        app = make_app()
        seen = set()
        async with app.run_test(size=(100, 40)) as pilot:
            assert await until(pilot, lambda: app.show.playing)
            for _ in range(60):
                seen.add(app.query_one(Face).expression.eyes)
                await pilot.pause(1 / 30)
            await pilot.press("q")
        assert {"open", "closed"} <= seen

    asyncio.run(scenario())


def test_the_tui_process_never_imports_torch():
    """Run the app in a fresh interpreter and look at sys.modules afterwards."""
    script = textwrap.dedent("""
        import asyncio, json, sys
        sys.path.insert(0, "tests")
        from conftest import make_analysis
        from pilot import app_for

        async def main():
            app = app_for(make_analysis())
            async with app.run_test(size=(90, 36)) as pilot:
                for _ in range(200):
                    if app.query_one("Heart").frames_drawn >= 3:
                        break
                    await pilot.pause(0.05)
                drawn = app.query_one("Heart").frames_drawn
                await pilot.press("q")
            return drawn

        import importlib.util
        drawn = asyncio.run(main())
        installed = importlib.util.find_spec("torch") is not None
        print(json.dumps({"drawn": drawn, "installed": installed,
                          "torch": sorted(m for m in sys.modules
                                                           if m.split(".")[0] == "torch")}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HAMBAJUBA_AUDIO": "none", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["drawn"] >= 3  # the app really ran and showed frames
    assert result["installed"]  # torch is there to be imported, and still is not
    assert result["torch"] == []


def test_a_tiny_terminal_does_not_break_the_creature(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=(24, 8)) as pilot:
            assert await until(pilot, lambda: app.show.playing)
            await pilot.pause(0.3)
            await pilot.resize_terminal(12, 4)
            await pilot.pause(0.3)
            await pilot.resize_terminal(100, 40)
            assert await until(pilot, lambda: app.query_one(Heart).frames_drawn >= 2)
            await pilot.press("q")

    asyncio.run(scenario())


def test_sixel_heart_fits_the_pane_keeps_the_aspect_and_refits_on_resize(make_app):
    async def scenario():
        app = make_app(graphics=GraphicsMode("sixel", cell_px=(8, 16)))
        async with app.run_test(size=(100, 40)) as pilot:
            heart = app.query_one(Heart)
            assert await until(pilot, lambda: heart.frames_drawn >= 3)
            assert "sixel" in app.query_one("#status").text
            region = heart.content_region
            place = heart.placement()
            # inside the pane, centred, square frame → square image in pixels
            assert region.x <= place.col and place.col + place.cols <= region.right
            assert region.y <= place.row and place.row + place.rows <= region.bottom
            assert abs(place.width - place.height) <= 1
            payload = heart.last_payload
            image = payload[payload.index("\x1bP") : payload.rindex("\x1b\\") + 2]
            img, painted = decode_sixel(image)
            assert painted.all() and img.shape[:2] == (place.height, place.width)
            await pilot.resize_terminal(60, 24)
            smaller = heart.content_region
            assert await until(
                pilot,
                lambda: heart.placement().height < place.height and heart.last_payload != payload,
            )
            new = heart.placement()
            assert smaller.x <= new.col and new.col + new.cols <= smaller.right
            assert new.row + new.rows <= smaller.bottom
            await pilot.press("q")

    asyncio.run(scenario())


def test_the_heart_dances_above_a_notification_and_fills_again_when_it_goes(make_app):
    async def scenario():
        app = make_app(graphics=GraphicsMode("sixel", cell_px=(8, 16)))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            heart = app.query_one(Heart)
            app.clear_notifications()
            assert await until(pilot, lambda: heart.frames_drawn >= 3)
            full = heart.placement()
            assert heart.visible_placement() == full
            app.notify("a long notice\nover\nseveral\nlines", timeout=30)

            def toasts():
                return [t.region for t in app.screen.query("Toast") if t.region.area]

            assert await until(pilot, lambda: len(toasts()) == 1)
            toast = toasts()[0]
            assert toast.x < full.col + full.cols and toast.y < full.row + full.rows  # over it
            # frames go on, cut off above the toast: the sixel image is that many pixels tall
            before = heart.frames_drawn
            assert await until(
                pilot,
                lambda: heart.frames_drawn > before + 2 and heart._last_sent[1].rows < full.rows,
            )
            cut = heart._last_sent[1]
            assert cut.row + cut.rows == toast.y and (cut.col, cut.cols) == (full.col, full.cols)
            payload = heart.last_payload
            img, _ = decode_sixel(payload[payload.index("\x1bP") : payload.rindex("\x1b\\") + 2])
            assert img.shape[:2] == (cut.height, cut.width) and cut.height < full.height
            app.clear_notifications()
            assert await until(pilot, lambda: heart._last_sent[1] == full)
            await pilot.press("q")

    asyncio.run(scenario())


def test_a_failing_encoder_is_reported_not_fatal(make_app):
    class Broken:
        protocol = "halfblock"

        def encode(self, frame, place):
            raise ValueError("no room for that")

        def clear(self):
            return ""

    async def scenario():
        app = make_app()
        async with app.run_test(size=(80, 30)) as pilot:
            heart = app.query_one(Heart)
            assert await until(pilot, lambda: heart.frames_drawn >= 1)
            heart._painter.encoder = Broken()
            assert await until(
                pilot,
                lambda: any(
                    "could not draw a frame (ValueError: no room for that)" in str(n.message)
                    for n in app._notifications
                ),
            )
            assert app.is_running and app.show.playing
            await pilot.press("q")

    asyncio.run(scenario())


def test_kitty_placeholder_cells_name_the_image_on_screen(make_app):
    from hambajuba_tui.graphics import kitty

    async def scenario():
        mode = GraphicsMode("kitty", cell_px=(8, 16), kitty_shm=False, kitty_placeholders=True)
        app = make_app(graphics=mode)
        async with app.run_test(size=(90, 36)) as pilot:
            heart = app.query_one(Heart)
            assert await until(pilot, lambda: heart.frames_drawn >= 2)
            # the creature sizes the pane to the image: widen it to test the offset
            app.query_one("#heart-box").styles.width = heart.size.width + 12
            await pilot.pause(0.1)
            drawn = heart.frames_drawn
            assert await until(pilot, lambda: heart.frames_drawn >= drawn + 2)
            place = heart.placement()
            top = place.row - heart.content_region.y
            line = heart.render_line(top + 2)
            cells = [seg for seg in line if kitty.PLACEHOLDER in seg.text]
            assert len(cells) == 1 and cells[0].text == kitty.placeholder_row(place.cols, 2)
            assert cells[0].style.color.get_truecolor() == kitty.id_color(heart._shown_id)
            assert heart._shown_id in kitty.IMAGE_IDS
            assert "U=1" in heart.last_payload and "\x1b[" not in heart.last_payload
            left = place.col - heart.content_region.x  # the pane is wider than the image
            assert left > 0 and line.cell_length == heart.size.width
            assert list(line)[0].text == " " * left  # placeholders start at the image's column
            first = heart._shown_id
            assert await until(pilot, lambda: heart._shown_id != first)  # ids alternate
            await pilot.press("q")

    asyncio.run(scenario())
