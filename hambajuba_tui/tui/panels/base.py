"""The panel dock and the Panel base class.

Panels open in a dock at the right of the creature, so the heart keeps dancing (and refits
beside the panel) while the user edits: every change is a new validated Session sent to the
engine worker, which uses it for its next frame. One panel is open at a time; Escape closes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Label, Static

from hambajuba_tui.bridge.session import Session
from hambajuba_tui.tui.panels.catalog_loader import CatalogLoader
from hambajuba_tui.tui.panels.messages import (
    BlockChosen,
    BlockToggled,
    EditOutcome,
    PanelClosed,
    SessionEdit,
)
from hambajuba_tui.tui.panels.widgets import Choice, Problem
from hambajuba_tui.vocab import BLOCKS

CROSSFADE_STEP = 0.05
"""How far ``[`` and ``]`` move the crossfader."""

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
    """Base of every panel: a title, a body the subclass composes, and a message line.

    A panel shows the reactive :attr:`session` and :attr:`current_block`, which follow the
    app's own (watched from mount on); it changes them only by posting messages
    (:class:`SessionEdit`, :class:`BlockChosen`, :class:`BlockToggled`) to the app, which
    answers an edit with :class:`EditOutcome`.
    """

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

    session: reactive[Session] = reactive(Session, init=False)
    """The Session the engine plays (the app's, as it changes)."""
    current_block: reactive[int] = reactive(0, init=False)
    """Index (BLOCKS order) of the block the panels edit (the app's, as it changes)."""

    def __init__(
        self,
        session: Session,
        current_block: int = 0,
        catalogs: CatalogLoader | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.set_reactive(Panel.session, session)
        self.set_reactive(Panel.current_block, current_block)
        self.catalogs = catalogs or CatalogLoader()
        """The feature catalog and the concept child, shared by every panel of the app."""

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
        app = type(self.app)
        if isinstance(getattr(app, "session", None), reactive):  # follow the app's state
            self.watch(self.app, "session", self._follow_session)
            self.watch(self.app, "current_block", self._follow_block)
        self.sync()
        self.take_keyboard()

    def _follow_session(self, session: Session) -> None:
        self.session = session

    def _follow_block(self, index: int) -> None:
        self.current_block = index

    def watch_session(self) -> None:
        self.sync()

    def watch_current_block(self) -> None:
        self.sync()

    def take_keyboard(self) -> None:
        """Focus the panel's first field (on opening, and when a tiny window grows back)."""
        first = self.first_focus()
        if first is not None:
            first.focus()

    def first_focus(self):
        """The widget that takes the keyboard when the panel opens."""
        return next((w for w in self.query("*") if w.focusable), None)

    @property
    def block(self) -> str:
        """The block this panel edits (the instrument's current block)."""
        return BLOCKS[self.current_block]

    # -- asking the app ------------------------------------------------------------------------
    def apply(self, make: Callable[[Session], Session], done: str = "") -> None:
        """Ask for a new Session built from the current one; the app answers whether it was
        sent (an :class:`EditOutcome`: ``done``, or why not, shown on the message line)."""
        if not self.is_attached:
            return  # closing: a field's last blur arrives after the panel left
        self.post_message(SessionEdit(make, done, origin=self))

    def edit_block(self, **changes) -> None:
        block = self.block
        self.apply(lambda s: s.with_block(block, **changes))

    def choose_block(self, block: str) -> None:
        """Edit ``block`` from now on (every panel follows)."""
        self.current_block = BLOCKS.index(block)  # shown at once; the app follows
        self.post_message(BlockChosen(BLOCKS.index(block)))

    def action_block(self, delta: int) -> None:
        """Step the panel's block choice (``#block``: page up / down where a panel has one)."""
        self.query_one("#block", Choice).action_step(int(delta))

    def toggle_block(self) -> None:
        self.post_message(BlockToggled(self.block))

    def on_edit_outcome(self, event: EditOutcome) -> None:
        self.say(event.problem or event.done, ok=not event.problem)

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
        self.post_message(PanelClosed())
