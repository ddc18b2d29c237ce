"""The feature browser: find a feature for the current block and put it to work.

Keyword search runs on every keystroke (a millisecond or so); each keystroke also posts the
query to one thread that runs the newest: the concept child embeds it (a few milliseconds) and
the keyword and concept rankings are fused (numpy, here), or the keyword hits stay with a note
saying why. Labels not yet embedded are
embedded in the child in the background on first open, with progress in the note. Results
never move above the cursor once the user has moved it. A number (``154``) or ``block:id``
(``up.0.1:154``) jumps to that feature, labelled or not, so the browser works with no labels
imported at all.
"""

from __future__ import annotations

import logging
import threading
import time

from textual.binding import Binding
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from hambajuba_tui.catalog.catalog import Catalog, CatalogError, Hit
from hambajuba_tui.tui.panels.base import Panel
from hambajuba_tui.tui.panels.widgets import Choice
from hambajuba_tui.vocab import BLOCKS, N_FEATURES, is_feature_id, parse_feature_ref

log = logging.getLogger(__name__)
LIMIT = 50
NEIGHBOURS = 8
CONCEPT_TIMEOUT_S = 0.5
EMBED_POLL_S = 0.25
ALL = "all"
NO_LABELS = (
    "No feature labels imported: features are shown by id. Import labels with "
    "`hambajuba features import PATH` or `hambajuba features pull`."
)

MATCH_WORDS = {
    "decoder": "decoder cosine",
    "label-embedding": "label meaning",
    "label-words": "shared label words",
}


def parse_jump(text: str) -> tuple[str | None, int] | None:
    """``154`` → (None, 154); ``up.0.1:154`` → ("up.0.1", 154); anything else → None."""
    ref = parse_feature_ref(text)
    return ref if ref is not None and is_feature_id(ref[1]) else None


def hit_text(hit: Hit) -> Content:
    """One result line; plain text (a label's brackets are not markup)."""
    f = hit.feature
    label = f.label if f.labelled else "(no label)"
    cat = f" [{f.category}]" if f.category else ""
    return Content(f"{f.id:>5}  {label}{cat}")


class Newest:
    """One daemon thread that runs ``fn`` on the newest posted arguments: a post while it is
    busy replaces any still waiting, so a burst of keystrokes costs one run after the current
    one, and the last query starts as soon as the thread is free (no timer)."""

    def __init__(self, fn) -> None:
        self._fn = fn
        self._cv = threading.Condition()
        self._want: tuple | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def post(self, *args) -> None:
        with self._cv:
            if self._closed:
                return
            self._want = args
            self._cv.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="by-meaning", daemon=True)
                self._thread.start()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._want is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                args, self._want = self._want, None
            try:
                self._fn(*args)
            except Exception:  # noqa: BLE001 - a failed search must not stop later ones
                log.exception("concept search failed")


class FeatureBrowser(Panel):
    TITLE = "Features"
    NAME = "browser"
    BINDINGS = [
        Binding("down", "to_list", "Results", show=False),
        Binding("slash", "to_search", "Search"),
        Binding("n", "use_negative", "Negative"),
        Binding("x", "use_mix", "Mix"),
        Binding("pageup", "block(-1)", "Prev block", show=False),
        Binding("pagedown", "block(1)", "Next block", show=False),
    ]
    DEFAULT_CSS = """
    FeatureBrowser #hits { height: 1fr; min-height: 6; }
    FeatureBrowser #neighbours { height: 9; }
    FeatureBrowser #note { color: $warning; height: auto; }
    FeatureBrowser #current { height: auto; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._hits: list[Hit] = []
        self._neighbours: list[Hit] = []
        self._keyword: list[Hit] = []
        self._note = ""
        self._by_meaning = Newest(self._concept)
        """Every keystroke posts its query; one thread runs the newest (bench/panels.py)."""
        self._embed_timer = None
        self._latest = ""
        self.concept_runs = 0
        self.concept_shown_at = 0.0
        """perf_counter() when fused results were last shown (bench/panels.py)."""
        self.concept_timing: tuple[float, float, float] = (0.0, 0.0, 0.0)
        """perf_counter() of the last shown fused search: worker start, search done, shown."""

    def body(self):
        yield Choice("block", BLOCKS, self.block, id="block")
        yield Static("", id="current", markup=False)
        yield Input(placeholder="search labels · 154 · up.0.1:154", id="query")
        yield Choice("category", (ALL,), ALL, id="category")
        yield OptionList(id="hits")
        yield Label("neighbours", id="neighbours-title", markup=False)
        yield OptionList(id="neighbours")
        yield Static("", id="note", markup=False)

    def first_focus(self):
        return self.query_one("#query", Input)

    @property
    def catalog(self) -> Catalog | None:
        return self.catalogs.catalog

    def on_mount(self) -> None:
        super().on_mount()
        if self.catalog is None:
            self._set_note("loading feature labels…")
            self.run_worker(self._load_catalog, thread=True, group="catalog")
        else:
            self._catalog_ready()

    def _load_catalog(self) -> None:
        try:
            self.catalogs.load()
        except (OSError, ValueError) as exc:
            self.deliver(self._catalog_failed, str(exc))
            return
        self.deliver(self._catalog_ready)

    def _catalog_failed(self, why: str) -> None:
        self.catalogs.stand_in_empty()
        self._catalog_ready()
        self._set_note(f"the feature labels could not be read: {why}")

    def _catalog_ready(self) -> None:
        if not self.is_attached:
            return
        self.sync()
        self.search()
        if self.catalogs.embed_labels() is not None and self._embed_timer is None:
            self._embed_timer = self.set_interval(EMBED_POLL_S, self._embed_progress)

    def _embed_progress(self) -> None:
        """While labels embed: progress in the note; when done, search again by meaning."""
        job = self.catalogs.embedding
        if job is None or not self._alive():
            return
        if job.finished:
            self._embed_timer.stop()
            self._embed_timer = None
            if job.error:
                self._set_note(f"keyword results (concept search unavailable: {job.error})")
            else:
                self.search()  # now by meaning too (and neighbours by decoder, if exported)
        elif job.total and (self.note.startswith("keyword results") or not self.note):
            self._set_note(self._embedding_note(job))

    @staticmethod
    def _embedding_note(job) -> str:
        return f"keyword results: embedding labels for concept search, {job.done:,}/{job.total:,}"

    # -- showing -----------------------------------------------------------------------------
    def sync(self) -> None:
        b = self.session.block(self.block)
        self.query_one("#block", Choice).set(self.block)
        text = f"now: {self.catalogs.describe(self.block, b.feature)}"
        if b.stage.right < b.stage.left:
            text += "  (negative)"
        if b.mix_feature is not None:
            text += f"\nmix {b.mix:.2f}: {self.catalogs.describe(self.block, b.mix_feature)}"
        self.query_one("#current", Static).update(text)
        if self.catalog is not None:
            cats = (ALL, *self.catalog.categories(self.block))
            choice = self.query_one("#category", Choice)
            choice.set(choice.value, cats)

    def _set_note(self, text: str) -> None:
        self._note = text
        self.query_one("#note", Static).update(text)

    @property
    def note(self) -> str:
        return self._note

    @property
    def hits(self) -> list[Hit]:
        return list(self._hits)

    @property
    def neighbours(self) -> list[Hit]:
        return list(self._neighbours)

    def _show_hits(self, hits: list[Hit]) -> None:
        self._hits = hits
        lst = self.query_one("#hits", OptionList)
        lst.clear_options()
        lst.add_options([Option(hit_text(h), id=str(i)) for i, h in enumerate(hits)])
        if hits:
            lst.highlighted = 0
        self._show_neighbours(hits[0] if hits else None)

    def _show_neighbours(self, hit: Hit | None) -> None:
        """Neighbours of ``hit``, found in a thread (label-word neighbours take ~30 ms)."""
        lst = self.query_one("#neighbours", OptionList)
        lst.clear_options()
        self._neighbours = []
        title = self.query_one("#neighbours-title", Label)
        if hit is None or self.catalog is None:
            title.update("neighbours")
            return
        title.update(f"neighbours of {hit.feature.id} …")
        self.run_worker(
            lambda: self._find_neighbours(hit), thread=True, exclusive=True, group="neighbours"
        )

    def _find_neighbours(self, hit: Hit) -> None:
        f = hit.feature
        found = self.catalog.neighbours(f.block, f.id, k=NEIGHBOURS)
        self.deliver(self._neighbours_done, hit, found)

    def _neighbours_done(self, hit: Hit, found: list[Hit]) -> None:
        if not self._alive() or hit is not self._highlighted_hit():
            return  # the cursor moved on; its own neighbours are on their way
        self._neighbours = found
        how = MATCH_WORDS.get(found[0].match, "") if found else ""
        self.query_one("#neighbours-title", Label).update(
            f"neighbours of {hit.feature.id}"
            + (f" (by {how})" if how else " (none: no label to compare)")
        )
        self.query_one("#neighbours", OptionList).add_options([Option(hit_text(h)) for h in found])

    def _alive(self) -> bool:
        """Still on screen with its widgets (a worker's result may land as the panel closes)."""
        try:
            return self.is_attached and self.query_one("#hits", OptionList).is_attached
        except NoMatches:
            return False

    def _highlighted_hit(self) -> Hit | None:
        i = self.query_one("#hits", OptionList).highlighted
        return self._hits[i] if i is not None and i < len(self._hits) else None

    # -- searching -----------------------------------------------------------------------------
    @property
    def query_text(self) -> str:
        return self.query_one("#query", Input).value

    def _category(self) -> str | None:
        value = self.query_one("#category", Choice).value
        return None if value == ALL else value

    def search(self) -> None:
        """Keyword hits now; concept hits later (debounced, in a thread)."""
        cat = self.catalog
        if cat is None:
            return
        text = self._latest = self.query_text
        jump = parse_jump(text)
        if jump is not None and jump[0] is not None and jump[0] != self.block:
            self.choose_block(jump[0])
        if self.block in cat.tables and jump is None and any(c.isalpha() for c in text):
            # by meaning, in a thread, while the keyword hits are found and shown here
            self._by_meaning.post(text, self.block, self._category())
        hits: list[Hit] = []
        if jump is not None:
            hits.append(Hit(cat.get(self.block, jump[1]), 1.0, "id"))
        block = self.block if self.block in cat.tables else None
        if block is not None:
            try:
                found = cat.search(text, block=block, category=self._category(), limit=LIMIT)
            except CatalogError as exc:
                self.say(str(exc))
                found = []
            hits += [h for h in found if not hits or h.key != hits[0].key]
        elif jump is None and not text.strip():  # no labels here: list ids from the feature on
            start = self.session.block(self.block).feature
            hits = [
                Hit(cat.get(self.block, i), 0.0, "id")
                for i in range(start, min(start + LIMIT, N_FEATURES))
            ]
        self._keyword = hits
        self._show_hits(hits)
        if block is None:
            self._set_note(
                NO_LABELS
                if not cat.tables
                else f"No labels imported for {self.block}: features are shown by id. "
                "Import labels with `hambajuba features import PATH` or "
                "`hambajuba features pull`."
            )
        else:
            self._set_note("")

    def on_unmount(self) -> None:
        self._by_meaning.close()

    def _concept(self, text: str, block: str, category: str | None) -> None:
        """In a thread: ask the concept model (if any), fuse; hand the result to the UI thread."""
        if text != self._latest:
            return  # typed on already
        cat = self.catalog
        started = time.perf_counter()
        found: list[Hit] = []
        job = self.catalogs.embedding
        if cat.vectors(block) is None:
            if job is not None and not job.finished and job.total:
                note = self._embedding_note(job)
            elif job is not None and job.error:
                note = f"keyword results (concept search unavailable: {job.error})"
            else:
                note = (
                    f"keyword results (the labels of {block} are not embedded yet; "
                    "`hambajuba features embed` prepares concept search)"
                )
        else:
            try:
                found, note = cat.hybrid_search(
                    text,
                    self.catalogs.concept_embedder(),
                    block=block,
                    category=category,
                    limit=LIMIT,
                    timeout=CONCEPT_TIMEOUT_S,
                )
            except CatalogError as exc:
                note = str(exc)
            if note:
                note = f"keyword results ({note})"
        self.concept_runs += 1
        self.deliver(self._concept_done, text, block, found, note, (started, time.perf_counter()))

    def _concept_done(
        self,
        text: str,
        block: str,
        found: list[Hit],
        note: str | None,
        times: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        if not self._alive() or text != self.query_text or block != self.block:
            return  # the user typed on (a newer search is on its way), or closed the panel
        if note is None:
            self._show_fused(found)
            self._set_note("")
            self.concept_shown_at = time.perf_counter()
            self.concept_timing = (*times, self.concept_shown_at)
        else:
            self._set_note(note)

    def _show_fused(self, found: list[Hit]) -> None:
        """Fused hits in place of the keyword hits, without moving what the user is on: once
        the cursor has left the first row (or the list has the focus), the rows down to the
        cursor stay as they are and the fused hits fill in below."""
        lst = self.query_one("#hits", OptionList)
        at = lst.highlighted
        if at is None or (at == 0 and not lst.has_focus) or at >= len(self._hits):
            self._show_hits(found)
            return
        kept = self._hits[: at + 1]
        keys = {h.key for h in kept}
        rest = [h for h in found if h.key not in keys][: max(0, LIMIT - len(kept))]
        if [h.key for h in self._hits[at + 1 :]] == [h.key for h in rest]:
            return
        self._hits = kept + rest
        for _ in range(len(lst.options) - len(kept)):
            lst.remove_option_at_index(len(kept))
        lst.add_options([Option(hit_text(h)) for h in rest])
        lst.highlighted = at

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "query":
            event.stop()
            self.search()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.use(self._highlighted())

    def on_choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        if event.choice.id == "block":
            self.choose_block(event.value)
        self.search()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_list.id == "hits" and event.option_index < len(self._hits):
            self._show_neighbours(self._hits[event.option_index])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        source = self._hits if event.option_list.id == "hits" else self._neighbours
        if event.option_index < len(source):
            self.use(source[event.option_index])

    def _highlighted(self) -> Hit | None:
        """The hit under the cursor: in the neighbours list when it has the focus."""
        nb = self.query_one("#neighbours", OptionList)
        if nb.has_focus and nb.highlighted is not None and nb.highlighted < len(self._neighbours):
            return self._neighbours[nb.highlighted]
        i = self.query_one("#hits", OptionList).highlighted
        return self._hits[i] if i is not None and i < len(self._hits) else None

    # -- using a feature -------------------------------------------------------------------
    def use(self, hit: Hit | None, negative: bool = False) -> None:
        """Make ``hit`` the block's feature (``negative``: pushing away, the stage flipped)."""
        if hit is None:
            self.say("nothing selected")
            return
        f, block = hit.feature, hit.feature.block

        def make(s):
            stage = s.block(block).stage
            return s.with_block(block, feature=f.id, stage=stage.flipped() if negative else stage)

        sign = " pushing away (negative)" if negative else ""
        self.apply(make, f"{block} feature ← {f.id}{sign}")

    def action_use_negative(self) -> None:
        self.use(self._highlighted(), negative=True)

    def action_use_mix(self) -> None:
        hit = self._highlighted()
        if hit is None:
            self.say("nothing selected")
            return
        f = hit.feature

        def make(s):
            b = s.block(f.block)
            return s.with_block(f.block, mix_feature=f.id, mix=b.mix if b.mix > 0 else 0.5)

        self.apply(make, f"{f.block} mix ← {f.id}")

    def action_to_list(self) -> None:
        self.query_one("#hits", OptionList).focus()

    def action_to_search(self) -> None:
        self.query_one("#query", Input).focus()


__all__ = ["FeatureBrowser", "parse_jump"]
