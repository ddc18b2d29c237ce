"""The instrument: what the app does with panels — open them, apply their edits, save them.

A mixin for the App (``class HambajubaApp(Instrument, App)``) so the creature's app module
stays small. It is the one owner of the Session: panels post :mod:`messages`
(:class:`SessionEdit`, :class:`BlockChosen`, :class:`BlockToggled`, :class:`PanelClosed`) and
read the reactive ``session`` and ``current_block`` back; main-screen keys edit through the
same :meth:`Instrument.apply_edit`. Every new Session goes through
:meth:`Instrument.apply_session`, which hands it to the Show; the Show sends it to the engine
worker, which uses it for its next frame.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.reactive import reactive

from hambajuba_tui.bridge.masks import PRESETS
from hambajuba_tui.bridge.scenes import MODES as SCENE_MODES
from hambajuba_tui.bridge.session import COMPOSITION_MODES, SOURCES, Session, SessionError
from hambajuba_tui.tui.panels import performance
from hambajuba_tui.tui.panels.base import CROSSFADE_STEP, Panel, PanelDock
from hambajuba_tui.tui.panels.blocks import BlockPanel
from hambajuba_tui.tui.panels.browser import FeatureBrowser
from hambajuba_tui.tui.panels.catalog_loader import CatalogLoader
from hambajuba_tui.tui.panels.composition import CompositionPanel
from hambajuba_tui.tui.panels.help import HelpPanel
from hambajuba_tui.tui.panels.masks import MaskPainter
from hambajuba_tui.tui.panels.messages import (
    BlockChosen,
    BlockToggled,
    EditOutcome,
    PanelClosed,
    SessionEdit,
)
from hambajuba_tui.tui.panels.scenes import ScenesPanel
from hambajuba_tui.vocab import BLOCKS

INSTRUMENT_BINDINGS = [
    Binding("b", "open_panel('blocks')", "Block"),
    Binding("f", "open_panel('browser')", "Features"),
    Binding("m", "open_panel('masks')", "Mask"),
    Binding("s", "open_panel('scenes')", "Scenes"),
    Binding("c", "open_panel('composition')", "Composition"),
    Binding("question_mark,f1", "open_panel('help')", "Help"),
    Binding("full_stop", "next_block(1)", "Next block", show=False),
    Binding("comma", "next_block(-1)", "Previous block", show=False),
    Binding("left_square_bracket", f"crossfade({-CROSSFADE_STEP})", "Crossfade to A", show=False),
    Binding("right_square_bracket", f"crossfade({CROSSFADE_STEP})", "Crossfade to B", show=False),
    Binding("ctrl+s", "save_performance", "Save"),
    Binding("ctrl+o", "load_performance", "Load"),
]


def panel_classes() -> dict[str, type[Panel]]:
    """Every panel by the name ``open_panel`` takes."""
    return {
        cls.NAME: cls
        for cls in (
            BlockPanel,
            FeatureBrowser,
            MaskPainter,
            ScenesPanel,
            CompositionPanel,
            HelpPanel,
        )
    }


class Instrument:
    """Panel and performance handling for :class:`~hambajuba_tui.tui.app.HambajubaApp`."""

    PANELS = panel_classes()
    """The panels the app opens, by name (the help panel lists their keys)."""

    session: reactive[Session] = reactive(Session, init=False)
    """The Session the engine plays; only :meth:`apply_session` sets it (the panels watch it)."""
    current_block: reactive[int] = reactive(0, init=False)
    """Index (BLOCKS order) of the block the panels edit (the panels watch it)."""

    def init_instrument(self) -> None:
        session: Session = self.show.session
        routed = [i for i, b in enumerate(session.blocks) if b.source is not None]
        self.set_reactive(Instrument.session, session)
        self.set_reactive(Instrument.current_block, routed[0] if routed else 0)
        self.catalogs = CatalogLoader()
        """The feature catalog and the concept child, shared by the panels."""
        self._last_source = {name: b.source for name, b in zip(BLOCKS, session.blocks)}
        """Route memory: the source each block had last, to turn it on with."""

    @property
    def catalog(self):
        """The feature catalog, once a panel has loaded it."""
        return self.catalogs.catalog

    @property
    def embedding(self):
        return self.catalogs.embedding

    def concept_embedder(self):
        return self.catalogs.concept_embedder()

    # -- the session: the one place a new Session is built and sent ------------------------
    def apply_session(self, session: Session) -> None:
        """Send a new Session to the engine (next frame); the panels show it (they watch
        :attr:`session`)."""
        for name, b in zip(BLOCKS, session.blocks):
            if b.source is not None:
                self._last_source[name] = b.source
        if session != self.show.session:
            self.show.set_session(session)
        self.session = self.show.session

    def edit(self, make: Callable[[Session], Session]) -> str:
        """Build a Session from the current one and send it; returns why not ('' if sent)."""
        try:
            session = make(self.show.session)
        except (SessionError, ValueError) as exc:
            return str(exc)
        self.apply_session(session)
        return ""

    def apply_edit(self, make: Callable[[Session], Session], what: str = "") -> bool:
        """:meth:`edit` from a main-screen key: the outcome is a notification."""
        problem = self.edit(make)
        if problem:
            self.notify(problem, severity="error", timeout=6)
        elif what:
            self.notify(what, timeout=2)
        return not problem

    def on_session_edit(self, event: SessionEdit) -> None:
        """A panel's edit: apply it, and tell the panel how it went."""
        event.stop()
        problem = self.edit(event.make)
        if event.origin is not None:
            event.origin.post_message(EditOutcome(problem, event.done))

    def on_block_chosen(self, event: BlockChosen) -> None:
        event.stop()
        self.current_block = event.index % len(BLOCKS)

    def on_block_toggled(self, event: BlockToggled) -> None:
        event.stop()
        self.toggle_block(event.block)

    def on_panel_closed(self, event: PanelClosed) -> None:
        event.stop()
        self.close_panel()

    def toggle_block(self, block: str) -> None:
        """Off keeps the block still; on brings back the source it had (or the first one)."""
        on = self.show.session.block(block).source is None
        source = (self._last_source.get(block) or SOURCES[0]) if on else None
        self.apply_edit(lambda s: s.with_block(block, source=source))

    @property
    def block_name(self) -> str:
        return BLOCKS[self.current_block]

    # -- panels ----------------------------------------------------------------------------
    @property
    def open_panel_widget(self) -> Panel | None:
        found = self.query(Panel)
        return found.first() if found else None

    def action_open_panel(self, name: str) -> None:
        docks = self.query(PanelDock)
        if not docks:
            return  # the app is closing (a key typed after q)
        dock = docks.first()
        current = self.open_panel_widget
        if current is not None:
            if name == current.NAME:
                return
            current.remove()
        panel = self.PANELS[name](
            self.session, self.current_block, self.catalogs, id=f"panel-{name}"
        )
        dock.add_class("open")
        dock.mount(panel)  # the panel takes the keyboard when it mounts
        self.fit_layout()  # the creature moves over for the panel

    def close_panel(self) -> None:
        for panel in self.query(Panel):
            panel.remove()
        for dock in self.query(PanelDock):
            dock.remove_class("open")
        self.set_focus(None)
        self.fit_layout()

    # -- main-screen actions -------------------------------------------------------------------
    def action_next_block(self, delta: int) -> None:
        self.current_block = (self.current_block + int(delta)) % len(BLOCKS)
        self.notify(f"editing block {self.block_name}", timeout=2)

    def action_crossfade(self, delta: float) -> None:
        """Move the crossfader; it takes over the blend (slider mode)."""

        def make(s: Session) -> Session:
            t = round(min(max(s.scenes.slider + float(delta), 0.0), 1.0), 6)
            return s.with_scenes(mode="slider", slider=t)

        self.apply_edit(make)

    def action_cycle(self, what: str) -> None:
        """Step one engine-visible setting to its next value (command palette entries)."""
        s = self.show.session
        block = self.block_name
        if what == "mask":
            b = s.block(block)
            modes = (*PRESETS, "pitch", *(("painted",) if b.painted else ()))
            new = modes[(modes.index(b.mask) + 1) % len(modes)] if b.mask in modes else modes[0]
            self.apply_edit(lambda s: s.with_block(block, mask=new), f"{block} mask: {new}")
        elif what == "scene_mode":
            new = SCENE_MODES[(SCENE_MODES.index(s.scenes.mode) + 1) % len(SCENE_MODES)]
            self.apply_edit(lambda s: s.with_scenes(mode=new), f"scene blend: {new}")
        elif what == "composition_mode":
            modes = COMPOSITION_MODES
            new = modes[(modes.index(s.composition.mode) + 1) % len(modes)]
            self.apply_edit(lambda s: s.with_composition(mode=new), f"composition: {new}")
        elif what == "block_on":
            self.toggle_block(block)
            state = "on" if self.show.session.block(block).source else "off"
            self.notify(f"{block} {state}", timeout=2)
        elif what == "negate":
            self.apply_edit(
                lambda s: s.with_block(block, stage=s.block(block).stage.flipped()),
                f"{block} pushes the other way",
            )
        else:
            raise ValueError(f"nothing to cycle called {what!r}")

    # -- performances ----------------------------------------------------------------------
    @property
    def performance_file(self):
        return performance.file_for(self.show.analysis.song_hash)

    def action_save_performance(self) -> None:
        self._say(performance.save_to(self.show.session, self.performance_file))

    def action_load_performance(self) -> None:
        session, note = performance.load_from(self.performance_file, self.show.session)
        if session is not None:
            self.apply_session(session)
        self._say(note)

    def _say(self, note: performance.Note) -> None:
        self.notify(note.text, severity=note.severity, timeout=note.timeout)

    def close_instrument(self) -> None:
        self.catalogs.close()
