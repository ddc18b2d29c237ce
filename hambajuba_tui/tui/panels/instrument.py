"""The instrument: what the app does with panels — open them, edit the Session, save it.

A mixin for the App (``class HambajubaApp(Instrument, App)``) so the creature's app module
stays small. Every edit goes through :meth:`Instrument.apply_session`, which hands the new
Session to the Show; the Show sends it to the engine worker, which uses it for its next frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.binding import Binding

from hambajuba_tui.bridge.masks import PRESETS
from hambajuba_tui.bridge.scenes import MODES as SCENE_MODES
from hambajuba_tui.bridge.session import (
    COMPOSITION_MODES,
    SOURCES,
    Session,
    SessionError,
    load,
    save,
)
from hambajuba_tui.paths import performance_path
from hambajuba_tui.tui.panels.base import Panel, PanelDock
from hambajuba_tui.vocab import BLOCKS

CROSSFADE_STEP = 0.05
"""How far ``[`` and ``]`` move the crossfader."""
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
    from hambajuba_tui.tui.panels.blocks import BlockPanel
    from hambajuba_tui.tui.panels.browser import FeatureBrowser
    from hambajuba_tui.tui.panels.composition import CompositionPanel
    from hambajuba_tui.tui.panels.help import HelpPanel
    from hambajuba_tui.tui.panels.masks import MaskPainter
    from hambajuba_tui.tui.panels.scenes import ScenesPanel

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


class EmbedJob:
    """Getting the catalog ready in the background: label vectors embedded in the concept
    child (``done``/``total`` rows), then, where the SAE weights are present, their decoders
    exported for neighbours (a torch child). ``finished`` at the end; ``error`` says why
    concept search could not be prepared."""

    def __init__(self, total: int) -> None:
        self.done = 0
        self.total = total
        self.finished = False
        self.error = ""

    def run(self, catalog, embedder_of: Callable) -> None:
        from hambajuba_tui.catalog import concepts

        try:
            if self.total and catalog.missing_vectors():
                embedder = embedder_of()
                if embedder is None:
                    raise concepts.ConceptError("the concept model is not installed")
                embedder.wait_ready(300)
                catalog.embed_labels(embedder, self._progress)
        except (concepts.ConceptError, OSError, ValueError) as exc:
            self.error = str(exc)
        try:
            if decoders_to_export(catalog):
                from hambajuba_tui.catalog import neighbours

                neighbours.prepare_decoders(tuple(catalog.tables))
        except OSError:
            pass  # neighbours by label meaning, as the browser then says
        finally:
            self.finished = True

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


def decoders_to_export(catalog) -> bool:
    """Whether SAE weights are here but some labelled block's decoder is not exported yet."""
    from hambajuba_tui.catalog import neighbours
    from hambajuba_tui.engine.hub import SAE_REPO, snapshot_dir

    return (
        bool(catalog.tables)
        and snapshot_dir(SAE_REPO) is not None
        and bool(neighbours.missing_blocks(tuple(catalog.tables)))
    )


class Instrument:
    """Panel and performance handling for :class:`~hambajuba_tui.tui.app.HambajubaApp`."""

    def init_instrument(self) -> None:
        session: Session = self.show.session
        routed = [i for i, b in enumerate(session.blocks) if b.source is not None]
        self.current_block = routed[0] if routed else 0
        """Index (BLOCKS order) of the block the panels edit."""
        self.catalog = None
        """The feature catalog, once loaded (by the feature browser, in a thread)."""
        self._catalog_lock = threading.Lock()
        self._embedder = None
        self.embedding: EmbedJob | None = None
        """Labels being embedded for concept search in the model's child (started once)."""
        self._last_source = {name: b.source for name, b in zip(BLOCKS, session.blocks)}

    # -- the session -----------------------------------------------------------------------
    def apply_session(self, session: Session) -> None:
        """Send a new Session to the engine (next frame) and show it in the open panel."""
        if session != self.show.session:
            self.show.set_session(session)
        panel = self.open_panel_widget
        if panel is not None:
            panel.sync()

    def edit(self, make: Callable[[Session], Session]) -> str:
        """Build a Session from the current one and send it; returns why not ('' if sent)."""
        try:
            session = make(self.show.session)
        except (SessionError, ValueError) as exc:
            return str(exc)
        self.apply_session(session)
        return ""

    def _edit(self, make: Callable[[Session], Session], what: str = "") -> bool:
        """:meth:`edit` from a main-screen key: the outcome is a notification."""
        problem = self.edit(make)
        if problem:
            self.notify(problem, severity="error", timeout=6)
        elif what:
            self.notify(what, timeout=2)
        return not problem

    def set_route(self, block: str, source: str | None) -> None:
        if source is not None:
            self._last_source[block] = source
        self._edit(lambda s: s.with_block(block, source=source))

    def toggle_block(self, block: str) -> None:
        """Off keeps the block still; on brings back the source it had (or the first one)."""
        current = self.show.session.block(block).source
        if current is not None:
            self._last_source[block] = current
            self.set_route(block, None)
        else:
            self.set_route(block, self._last_source.get(block) or SOURCES[0])

    @property
    def block_name(self) -> str:
        return BLOCKS[self.current_block]

    # -- panels ----------------------------------------------------------------------------
    @property
    def open_panel_widget(self) -> Panel | None:
        found = self.query(Panel)
        return found.first() if found else None

    def action_open_panel(self, name: str) -> None:
        classes = panel_classes()
        docks = self.query(PanelDock)
        if not docks:
            return  # the app is closing (a key typed after q)
        dock = docks.first()
        current = self.open_panel_widget
        if current is not None:
            if name == current.NAME:
                return
            current.remove()
        panel = classes[name](id=f"panel-{name}")
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
        panel = self.open_panel_widget
        if panel is not None:
            panel.sync()
        self.notify(f"editing block {self.block_name}", timeout=2)

    def action_crossfade(self, delta: float) -> None:
        """Move the crossfader; it takes over the blend (slider mode)."""

        def make(s: Session) -> Session:
            t = round(min(max(s.scenes.slider + float(delta), 0.0), 1.0), 6)
            return s.with_scenes(mode="slider", slider=t)

        self._edit(make)

    def action_cycle(self, what: str) -> None:
        """Step one engine-visible setting to its next value (command palette entries)."""
        s = self.show.session
        block = self.block_name
        if what == "mask":
            b = s.block(block)
            modes = (*PRESETS, "pitch", *(("painted",) if b.painted else ()))
            new = modes[(modes.index(b.mask) + 1) % len(modes)] if b.mask in modes else modes[0]
            self._edit(lambda s: s.with_block(block, mask=new), f"{block} mask: {new}")
        elif what == "scene_mode":
            new = SCENE_MODES[(SCENE_MODES.index(s.scenes.mode) + 1) % len(SCENE_MODES)]
            self._edit(lambda s: s.with_scenes(mode=new), f"scene blend: {new}")
        elif what == "composition_mode":
            modes = COMPOSITION_MODES
            new = modes[(modes.index(s.composition.mode) + 1) % len(modes)]
            self._edit(lambda s: s.with_composition(mode=new), f"composition: {new}")
        elif what == "block_on":
            self.toggle_block(block)
            state = "on" if self.show.session.block(block).source else "off"
            self.notify(f"{block} {state}", timeout=2)
        elif what == "negate":
            self._edit(
                lambda s: s.with_block(block, stage=s.block(block).stage.flipped()),
                f"{block} pushes the other way",
            )
        else:
            raise ValueError(f"nothing to cycle called {what!r}")

    # -- performances ----------------------------------------------------------------------
    @property
    def performance_file(self):
        return performance_path(self.show.analysis.song_hash)

    def action_save_performance(self) -> None:
        path = self.performance_file
        try:
            save(self.show.session, path)
        except OSError as exc:
            self.notify(
                f"Could not save the performance to {path}: {exc}", severity="error", timeout=8
            )
            return
        self.notify(f"Saved the performance to {path}", timeout=4)

    def action_load_performance(self) -> None:
        path = self.performance_file
        if not path.exists():
            self.notify(
                f"No saved performance for this song yet ({path}); save one with ctrl+s",
                severity="warning",
                timeout=6,
            )
            return
        try:
            session = load(path, base=self.show.session)
        except SessionError as exc:
            self.notify(
                f"Could not load the performance: {exc}. Kept the current setup.",
                severity="error",
                timeout=10,
            )
            return
        self.apply_session(session)
        self.notify(f"Loaded the performance from {path}", timeout=4)

    # -- the catalog and the concept model -------------------------------------------------
    def load_catalog(self):
        """The feature catalog (loads it once; call from a thread, it may take a second)."""
        from hambajuba_tui.catalog.catalog import Catalog

        with self._catalog_lock:
            if self.catalog is None:
                self.catalog = Catalog.load()
            return self.catalog

    def concept_embedder(self):
        """The concept model's child process, started on first use; None if not installed."""
        from hambajuba_tui.catalog import concepts

        with self._catalog_lock:
            if self._embedder is None and concepts.model_installed():
                self._embedder = concepts.Embedder().start()
            return self._embedder

    def embed_labels(self) -> EmbedJob | None:
        """Start embedding the catalog's missing label vectors (and exporting SAE decoders for
        neighbours, where the weights are here) in a thread, once; the job says how far it
        is. None when there is nothing to do or no concept model to do it with."""
        from hambajuba_tui.catalog import concepts

        with self._catalog_lock:
            cat = self.catalog
            if self.embedding is not None or cat is None:
                return self.embedding
            missing = cat.missing_vectors() if concepts.model_installed() else []
            if not missing and not decoders_to_export(cat):
                return None
            # total 0: nothing to embed (no model), only decoders to export
            self.embedding = job = EmbedJob(sum(len(cat.tables[b].rows) for b in missing))
        threading.Thread(target=job.run, args=(cat, self.concept_embedder), daemon=True).start()
        return job

    def close_instrument(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
