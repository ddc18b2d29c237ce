"""What ``tui/textual_private.py`` relies on in Textual still exists, with the same shape.

A Textual upgrade that moves one of these fails here, by name, rather than leaving the heart
blank, flickering or hidden behind a notification.
"""

from __future__ import annotations

import asyncio
import inspect

from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Static

from hambajuba_tui.tui import textual_private as tp


def test_app_display_is_the_update_writer_we_extend():
    display = App.__dict__.get("_display")
    assert callable(display), "App._display is gone: AfterDisplay has nothing to extend"
    assert list(inspect.signature(display).parameters) == ["self", "screen", "renderable"]
    assert "_driver" in inspect.getsource(display)  # it is where updates reach the terminal


def test_the_crash_handler_and_what_ending_a_crashed_app_touches():
    handler = App.__dict__.get("_handle_exception")
    assert callable(handler), "App._handle_exception is gone: LogCrash has nothing to override"
    assert list(inspect.signature(handler).parameters) == ["self", "error"]
    source = inspect.getsource(handler)
    for name in ("_return_code", "_exception", "_exception_event", "_fatal_error"):
        assert name in source, f"Textual's crash ending no longer uses {name}"
    assert "_close_messages_no_wait" in inspect.getsource(App._fatal_error)
    app = App()
    assert app._exception is None and app._return_code is None
    assert callable(app._exception_event.set) and callable(app._close_messages_no_wait)


def test_compositor_updates_say_which_cells_they_wrote():
    assert "spans" in inspect.signature(ChopsUpdate.__init__).parameters
    assert list(inspect.signature(LayoutUpdate.__init__).parameters) == ["self", "strips", "region"]
    chops = ChopsUpdate([], [(3, 10, 20)], [])
    assert chops.spans == [(3, 10, 20)]
    assert tp.update_touches(chops, Region(15, 3, 2, 1))
    assert not tp.update_touches(chops, Region(20, 3, 2, 1))
    layout = LayoutUpdate([], Region(0, 0, 5, 5))
    assert layout.region == Region(0, 0, 5, 5)
    assert tp.update_touches(layout, Region(4, 4, 3, 3))
    assert not tp.update_touches(layout, Region(5, 0, 3, 3))
    assert tp.update_touches(object(), Region(0, 0, 1, 1))  # unknown: assume the worst


class _Probe(tp.AfterDisplay, App):
    def __init__(self) -> None:
        super().__init__()
        self.updates = []

    def compose(self) -> ComposeResult:
        yield Static("hello")

    def after_display(self, update) -> None:
        self.updates.append(update)


def test_driver_toast_rack_and_the_display_hook_in_a_running_app():
    async def scenario():
        app = _Probe()
        async with app.run_test(size=(60, 20), notifications=True) as pilot:
            assert hasattr(app, "_driver") and app._driver is not None
            assert callable(app._driver.write) and callable(app._driver.flush)
            assert tp.write_raw(app, "x") is False  # headless: nothing reaches a terminal
            assert tp.toast_regions(app.screen) == []
            app.notify("a toast", timeout=30)
            for _ in range(50):
                await pilot.pause(0.02)
                if tp.toast_regions(app.screen):
                    break
            rack = app.screen.get_child_by_id(tp.TOAST_RACK_ID)
            assert [type(t).__name__ for t in rack.query(tp.TOAST_TYPE)] == [tp.TOAST_TYPE]
            regions = tp.toast_regions(app.screen)
            assert len(regions) == 1 and regions[0].area > 0
            # Headless apps skip the terminal write, so call the hook path directly: the
            # override must chain to App._display and then report the update.
            update = LayoutUpdate([], Region(0, 0, 1, 1))
            app._display(app.screen, update)
            assert app.updates[-1] is update
            app._display(app.screen, None)
            assert app.updates[-1] is update  # nothing to report

    asyncio.run(scenario())
