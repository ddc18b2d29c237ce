"""The panel dock and the Panel base class.

Panels open in a dock at the right of the creature, so the heart keeps dancing (and refits
beside the panel) while the user edits: every change is a new validated Session sent to the
engine worker, which uses it for its next frame. One panel is open at a time; Escape closes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from hambajuba_tui.bridge.session import Session
from hambajuba_tui.tui.panels.widgets import Problem
from hambajuba_tui.vocab import BLOCKS

if TYPE_CHECKING:
    from hambajuba_tui.tui.panels.instrument import Instrument


DOCK_WIDTH = (60, 0.55)
"""An open panel's width in columns, and at most this share of the window."""


def dock_columns(window_width: int) -> int:
    """Columns an open panel takes from a window ``window_width`` wide."""
    return min(DOCK_WIDTH[0], int(window_width * DOCK_WIDTH[1]))


class PanelDock(Vertical):
    """Where the open panel lives; hidden while none is open. The app sizes it
    (:func:`dock_columns`) and fits the creature into what is left."""

    DEFAULT_CSS = """
    PanelDock { width: 60; height: 1fr; display: none; border-left: tall $accent; }
    PanelDock.open { display: block; }
    """


class PanelBody(VerticalScroll, can_focus=False):
    """The scrolling part of a panel; the keyboard goes to its fields, not to it."""


class Panel(Vertical):
    """Base of every panel: a title, a body the subclass composes, and a message line."""

    TITLE = "panel"
    BODY: type[VerticalScroll] = PanelBody
    NAME = "panel"
    """The name ``open_panel`` knows it by."""
    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    Panel { height: 1fr; padding: 0 1; }
    Panel > .panel-title { text-style: bold; width: 1fr; content-align: center middle;
                           background: $accent 40%; }
    Panel > .panel-body { height: 1fr; }
    Panel > .panel-msg { height: auto; color: $error; }
    Panel > .panel-msg.ok { color: $success; }
    """

    def compose(self):
        yield Label(self.heading(), classes="panel-title")
        with self.BODY(classes="panel-body"):
            yield from self.body()
        yield Static("", classes="panel-msg", markup=False)

    def body(self):
        return iter(())

    def heading(self) -> str:
        return self.TITLE

    def on_mount(self) -> None:
        self.sync()
        self.take_keyboard()

    def take_keyboard(self) -> None:
        """Focus the panel's first field (on opening, and when a tiny window grows back)."""
        first = self.first_focus()
        if first is not None:
            first.focus()

    def first_focus(self):
        """The widget that takes the keyboard when the panel opens."""
        return next((w for w in self.query("*") if w.focusable), None)

    # -- the app and its session -------------------------------------------------------------
    @property
    def instrument(self) -> Instrument:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> Session:
        return self.instrument.show.session

    @property
    def block(self) -> str:
        """The block this panel edits (the instrument's current block)."""
        return BLOCKS[self.instrument.current_block]

    def apply(self, make: Callable[[Session], Session], done: str = "") -> bool:
        """Build a new Session from the current one and send it; on a bad value say why."""
        if not self.is_attached:
            return False  # closing: a field's last blur arrives after the panel left
        problem = self.instrument.edit(make)  # re-syncs this (the open) panel when sent
        self.say(problem or done, ok=not problem)
        return not problem

    def edit_block(self, **changes) -> bool:
        return self.apply(lambda s: s.with_block(self.block, **changes))

    def sync(self) -> None:
        """Show the current session's values (after an edit, or a loaded performance)."""

    def say(self, text: str, ok: bool = False) -> None:
        msg = self.query_one(".panel-msg", Static)
        msg.update(text)
        msg.set_class(ok, "ok")

    @property
    def message(self) -> str:
        return str(self.query_one(".panel-msg", Static).render())

    def on_problem(self, event: Problem) -> None:
        event.stop()
        self.say(event.text)

    def deliver(self, callback, *args) -> None:
        """From a worker thread: run ``callback`` on the UI thread, unless the app has gone."""
        with contextlib.suppress(RuntimeError):  # the app closed while the worker ran
            self.app.call_from_thread(callback, *args)

    def action_close(self) -> None:
        self.instrument.close_panel()
