"""The feature catalog and the concept model's child, loaded once and shared by the panels.

The app holds one :class:`CatalogLoader` and hands it to each panel it opens; the panels
load the catalog through it in a thread and start embedding the labels for concept search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hambajuba_tui.catalog import concepts, neighbours
from hambajuba_tui.catalog.catalog import Catalog
from hambajuba_tui.engine.hub import SAE_REPO, snapshot_dir


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
                neighbours.prepare_decoders(tuple(catalog.tables))
        except OSError:
            pass  # neighbours by label meaning, as the browser then says
        finally:
            self.finished = True

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


def decoders_to_export(catalog) -> bool:
    """Whether SAE weights are here but some labelled block's decoder is not exported yet."""
    return (
        bool(catalog.tables)
        and snapshot_dir(SAE_REPO) is not None
        and bool(neighbours.missing_blocks(tuple(catalog.tables)))
    )


class CatalogLoader:
    """The catalog (loaded once, from any thread), the concept child (started on first use)
    and the one background job that embeds the labels."""

    def __init__(self) -> None:
        self.catalog = None
        """The feature catalog, once loaded (by a panel, in a thread)."""
        self.embedding: EmbedJob | None = None
        """Labels being embedded for concept search in the model's child (started once)."""
        self._embedder = None
        self._lock = threading.Lock()

    def load(self):
        """The feature catalog (loads it once; call from a thread, it may take a second)."""
        with self._lock:
            if self.catalog is None:
                self.catalog = Catalog.load()
            return self.catalog

    def stand_in_empty(self):
        """After a failed load: an empty catalog, so features are shown by id."""
        with self._lock:
            if self.catalog is None:
                self.catalog = Catalog({})
            return self.catalog

    def concept_embedder(self):
        """The concept model's child process, started on first use; None if not installed."""
        with self._lock:
            if self._embedder is None and concepts.model_installed():
                self._embedder = concepts.Embedder().start()
            return self._embedder

    def embed_labels(self) -> EmbedJob | None:
        """Start embedding the catalog's missing label vectors (and exporting SAE decoders for
        neighbours, where the weights are here) in a thread, once; the job says how far it
        is. None when there is nothing to do or no concept model to do it with."""
        with self._lock:
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

    def describe(self, block: str, fid: int | None) -> str:
        """``block:id label`` (or the id alone while no labels are loaded)."""
        if fid is None:
            return "—"
        if self.catalog is None:
            return f"{block}:{fid}"
        f = self.catalog.get(block, fid)
        return f"{block}:{fid} {f.label}" if f.labelled else f"{block}:{fid} (no label)"

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
