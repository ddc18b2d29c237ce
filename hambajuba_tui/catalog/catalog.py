"""The feature catalog: every label table present, searchable by keyword and by concept.

The small API the TUI and the CLI share (numpy + rapidfuzz only, never torch)::

    cat = Catalog.load()                       # imported tables (user data dir)
    cat.search("warm amb", block="up.0.1", min_confidence="medium")   # every keystroke
    cat.concept_search("warmth", embedder)     # needs the model child; else keyword hits
    cat.hybrid_search("warmth", embedder)      # both, fused (the default everywhere)
    cat.get("up.0.1", 154)                     # a Feature, labelled or not
    cat.neighbours("up.0.1", 154, k=10)        # decoder cosine, else label similarity

Hits carry how they matched (``id``, ``exact``, ``prefix``, ``fuzzy``, ``concept``,
``decoder``, ``label-embedding``, ``label-words``), so a caller can say what it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from hambajuba_tui.catalog import concepts, neighbours
from hambajuba_tui.catalog.errors import CatalogError
from hambajuba_tui.catalog.search import (
    KINDS,
    KeywordIndex,
    concept_text,
    fold,
    parse_query,
    words,
)
from hambajuba_tui.catalog.tables import CONFIDENCES, Feature, LabelTable, load_tables
from hambajuba_tui.vocab import BLOCKS, N_FEATURES, is_feature_id


@dataclass(frozen=True)
class Hit:
    feature: Feature
    score: float
    match: str

    @property
    def key(self) -> str:
        return self.feature.key


class Catalog:
    """All label tables present, with a keyword index built once (≈0.4 s for 20,480 rows)."""

    def __init__(self, tables: dict[str, LabelTable]) -> None:
        self.tables = {b: tables[b] for b in BLOCKS if b in tables}
        self.rows: list[Feature] = [f for t in self.tables.values() for f in t.rows]
        self._row_of = {b: np.full(N_FEATURES, -1, np.int64) for b in BLOCKS}
        for n, f in enumerate(self.rows):
            self._row_of[f.block][f.id] = n
        self._start: dict[str, int] = {}
        for b, t in self.tables.items():
            self._start[b] = int(self._row_of[b][t.rows[0].id])
        self.index = KeywordIndex(
            [f.label for f in self.rows],
            [f.category for f in self.rows],
            np.array([BLOCKS.index(f.block) for f in self.rows], np.int8),
            np.array([f.id for f in self.rows], np.int32),
            np.array([CONFIDENCES.index(f.confidence) for f in self.rows], np.int8),
        )
        self._vectors: dict[str, np.ndarray] = {}
        self._queries: dict[tuple[int, str], np.ndarray] = {}
        self._labelled = np.array([f.labelled for f in self.rows], bool)
        self._by_words: dict[tuple[str, ...], list[int]] = {}
        """Rows by their label's words: a label equal to the query ranks first."""
        for n, f in enumerate(self.rows):
            if f.labelled:
                self._by_words.setdefault(tuple(words(f.label)), []).append(n)

    @classmethod
    def load(cls, folder: Path | None = None) -> Catalog:
        """The imported tables (``hambajuba features import`` / ``pull``); maybe none."""
        return cls(load_tables(folder))

    # -- lookup -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def blocks(self) -> tuple[str, ...]:
        return tuple(self.tables)

    def categories(self, block: str | None = None) -> dict[str, int]:
        """Category → row count (of one block, or all), most common first."""
        counts: dict[str, int] = {}
        for f in self.rows:
            if block is None or f.block == block:
                counts[f.category] = counts.get(f.category, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def get(self, block: str, fid: int) -> Feature:
        """The feature ``block:fid``; features without a label row come back unlabelled."""
        _check_block(block)
        if not is_feature_id(fid):
            raise CatalogError(f"feature id must be 0..{N_FEATURES - 1}, got {fid}")
        row = self._row_of[block][fid]
        if row < 0:
            return Feature(block, fid, "", "", "low", 0.0)
        return self.rows[row]

    # -- keyword search ---------------------------------------------------------------------

    def _mask(
        self, block: str | None, category: str | None, min_confidence: str | None
    ) -> np.ndarray:
        mask = np.ones(len(self.rows), bool)
        if block is not None:
            _check_block(block)
            mask &= self.index.block_codes == BLOCKS.index(block)
        if category is not None:
            name = category.strip().lower()
            if name not in self.index.category_names:
                known = self.categories(block)
                raise CatalogError(
                    f"no category {category!r}"
                    + (f" in {block}" if block else "")
                    + f"; categories: {', '.join(known) or 'none'}"
                )
            mask &= self.index.category_codes == self.index.category_names.index(name)
        if min_confidence is not None:
            if min_confidence not in CONFIDENCES:
                raise CatalogError(
                    f"confidence must be one of {', '.join(CONFIDENCES)}, got {min_confidence!r}"
                )
            mask &= self.index.confidence_codes <= CONFIDENCES.index(min_confidence)
        return mask

    def search(
        self,
        query: str,
        block: str | None = None,
        category: str | None = None,
        min_confidence: str | None = None,
        limit: int = 50,
    ) -> list[Hit]:
        """Keyword search over label, category and id (``123``, ``up.0.1:123``).

        Exact words rank above prefixes, prefixes above fuzzy matches. A few milliseconds over
        20,480 rows: call it on every keystroke.
        """
        mask = self._mask(block, category, min_confidence)
        rows, keys, kinds = self.index.search(query, mask, max(1, limit))
        return [Hit(self.rows[r], k, m) for r, k, m in zip(rows.tolist(), keys.tolist(), kinds)]

    # -- concept search ---------------------------------------------------------------------

    def vectors(self, block: str) -> np.ndarray | None:
        """Cached label vectors of ``block`` (None until embedded once)."""
        if block not in self.tables:
            return None
        if block not in self._vectors:
            table = self.tables[block]
            found = concepts.load_vectors(table.sha256, len(table.rows))
            if found is None:
                return None
            self._vectors[block] = found
        return self._vectors[block]

    def missing_vectors(self) -> list[str]:
        return [b for b in self.tables if self.vectors(b) is None]

    def embed_labels(
        self, embedder: concepts.Embedder, progress: Callable[[int, int], None] | None = None
    ) -> list[str]:
        """Embed every table not yet cached; returns those blocks.

        Table by table, each cached as soon as it is done (an interrupted run keeps the
        tables it finished); ``progress(done, total)`` counts rows over all of them.
        """
        todo = self.missing_vectors()
        total = sum(len(self.tables[b].rows) for b in todo)
        done = 0
        for b in todo:
            table = self.tables[b]
            texts = [f.label or f"feature {f.id}" for f in table.rows]

            def step(n: int, _: int, before: int = done) -> None:
                if progress:
                    progress(before + n, total)

            vectors = concepts.embed_texts(embedder, texts, step)
            concepts.save_vectors(table.sha256, vectors, getattr(embedder, "dtype", None))
            self._vectors[b] = vectors.astype(np.float16).astype(np.float32)
            done += len(texts)
        return todo

    def concept_search(
        self,
        query: str,
        embedder: concepts.Embedder | None,
        block: str | None = None,
        category: str | None = None,
        min_confidence: str | None = None,
        limit: int = 50,
        timeout: float = 0.5,
    ) -> tuple[list[Hit], str | None]:
        """Labels nearest in meaning to ``query``; returns (hits, note).

        When the model is absent, still loading or too slow, or the labels are not embedded
        yet, the hits are keyword hits and ``note`` says why.
        """
        mask = self._mask(block, category, min_confidence)
        blocks = [b for b in ([block] if block else self.tables) if b in self.tables]
        named = parse_query(query).blocks  # "mid.0 tunnel": tunnels in mid.0
        if named:
            blocks = [b for b in blocks if b in named]
        missing = [b for b in blocks if self.vectors(b) is None]
        note = None
        text = concept_text(query)
        if embedder is None:
            note = f"concept search needs the concept model; {concepts.INSTALL_HINT}"
        elif missing:
            note = f"labels of {', '.join(missing)} are not embedded yet"
        if note is None and text:
            try:
                q = self._query_vector(embedder, text, timeout)
            except concepts.ConceptError as exc:
                note = str(exc)
            else:
                return self._nearest(q, mask, blocks, limit, "concept"), None
        return self.search(query, block, category, min_confidence, limit), note

    def hybrid_search(
        self,
        query: str,
        embedder: concepts.Embedder | None,
        block: str | None = None,
        category: str | None = None,
        min_confidence: str | None = None,
        limit: int = 50,
        timeout: float = 0.5,
    ) -> tuple[list[Hit], str | None]:
        """Keyword and concept search fused (:meth:`fuse`); returns (hits, note).

        Like :meth:`concept_search`, the hits are keyword hits with a note saying why when
        concept search cannot answer (no model, labels not embedded yet, too slow).
        """
        text = concept_text(query)
        plain = parse_query(query)
        mask = self._mask(block, category, min_confidence)
        blocks = [b for b in ([block] if block else self.tables) if b in self.tables]
        if plain.blocks:
            blocks = [b for b in blocks if b in plain.blocks]
        if plain.feature is not None or not plain.words or not text:
            return self.search(query, block, category, min_confidence, limit), None
        missing = [b for b in blocks if self.vectors(b) is None]
        note = None
        if embedder is None:
            note = f"concept search needs the concept model; {concepts.INSTALL_HINT}"
        elif missing:
            note = f"labels of {', '.join(missing)} are not embedded yet"
        else:
            try:
                q = self._query_vector(embedder, text, timeout)
            except concepts.ConceptError as exc:
                note = str(exc)
            else:
                return self.fuse(query, q, mask, limit), None
        return self.search(query, block, category, min_confidence, limit), note

    def _query_vector(self, embedder: concepts.Embedder, text: str, timeout: float) -> np.ndarray:
        """The query's vector, remembered for the last few hundred queries (the browser asks
        again for the same text on a block or category change, or after a backspace)."""
        key = (id(embedder), text)
        found = self._queries.get(key)
        if found is None:
            found = embedder.embed([text], timeout=timeout)[0]
            if len(self._queries) >= QUERY_CACHE:
                self._queries.pop(next(iter(self._queries)))
            self._queries[key] = found
        return found

    def similarities(self, q: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Cosine of every row's label vector with ``q`` (-inf where not embedded or not
        labelled; blocks with no row in ``mask`` are skipped, -inf too)."""
        sim = np.full(len(self.rows), -np.inf, np.float32)
        for b, t in self.tables.items():
            start = self._start[b]
            if mask is not None and not mask[start : start + len(t.rows)].any():
                continue
            vectors = self.vectors(b)
            if vectors is not None:
                sim[start : start + len(vectors)] = _dot(vectors, q)
        sim[~self._labelled] = -np.inf
        return sim

    def fuse(
        self,
        query: str,
        q: np.ndarray,
        mask: np.ndarray | None = None,
        limit: int = 50,
        method: str = "score",
        weight: float | None = None,
        power: float | None = None,
    ) -> list[Hit]:
        """Keyword and concept rankings merged into one, best first.

        A feature named by id, or whose label is the query (same words), comes first. The
        rest rank by ``cosine + weight × word quality`` (``method="score"``, the default:
        word quality is 0..1, the mean best match per query word, see
        :meth:`KeywordIndex.quality`), so a label that means the query outranks one that only
        shares a side word with it, and of two labels that mean it as much the one holding
        its words wins. ``method="rrf"``: reciprocal-rank fusion of the two rankings
        (1/(60 + rank) each), kept for comparison (bench/catalog.py).
        """
        plain = parse_query(query)
        mask = np.ones(len(self.rows), bool) if mask is None else mask
        if plain.blocks:
            mask = mask & np.isin(self.index.block_codes, [BLOCKS.index(b) for b in plain.blocks])
        quality, kind = self.index.quality(plain, mask)
        sim = self.similarities(q, mask)
        if method == "rrf":
            fused = np.zeros(len(self.rows), np.float64)
            kw_key = self.index.rank_key(plain)
            for key, ok in ((kw_key, kind > 0), (sim, np.isfinite(sim))):
                ranked = np.flatnonzero(ok & mask)
                ranked = ranked[np.argsort(-key[ranked], kind="stable")][: max(limit * 4, 200)]
                fused[ranked] += 1.0 / (RRF_K + 1 + np.arange(len(ranked)))
            fused[fused == 0] = -np.inf
        elif method == "score":
            w = KEYWORD_WEIGHT if weight is None else weight
            p = QUALITY_POWER if power is None else power
            words_score = w * quality.astype(np.float64) ** p
            fused = np.where(np.isfinite(sim), sim, 0.0) + words_score
            fused[~np.isfinite(sim) & (quality <= 0)] = -np.inf
        else:
            raise ValueError(f"unknown fusion method {method!r}")
        first = kind == 4
        equal = self._by_words.get(tuple(plain.words))
        if equal:
            first[equal] = True
        fused[first] += 1_000.0
        fused[~mask] = -np.inf
        ok = np.flatnonzero(np.isfinite(fused))
        if len(ok) > limit:
            ok = ok[np.argpartition(-fused[ok], limit - 1)[:limit]]
        top = ok[np.lexsort((ok, -fused[ok]))]
        return [
            Hit(self.rows[r], float(fused[r]), KINDS[max(kind[r], 3 * first[r])] or "concept")
            for r in top.tolist()
        ]

    def _nearest(
        self,
        q: np.ndarray,
        mask: np.ndarray,
        blocks: list[str],
        limit: int,
        match: str,
        exclude: int = -1,
    ) -> list[Hit]:
        rows, sims = [], []
        if not blocks or limit < 1:
            return []
        for b in blocks:
            start = self._start[b]
            vectors = self.vectors(b)
            rows.append(np.arange(start, start + len(vectors)))
            sims.append(_dot(vectors, q))
        row = np.concatenate(rows)
        sim = np.concatenate(sims)
        sim[~(mask[row] & self._labelled[row]) | (row == exclude)] = -np.inf
        top = np.argpartition(-sim, min(limit, len(sim) - 1))[:limit]
        top = top[np.argsort(-sim[top], kind="stable")]
        return [Hit(self.rows[row[i]], float(sim[i]), match) for i in top if sim[i] > -np.inf]

    # -- neighbours -------------------------------------------------------------------------

    def neighbours(self, block: str, fid: int, k: int = 10) -> list[Hit]:
        """Features of ``block`` most like ``block:fid``.

        By decoder cosine similarity when the SAE's decoder has been exported
        (:func:`neighbours.prepare_decoders`), else by label-vector similarity when the
        labels are embedded, else by shared label words.
        """
        feature = self.get(block, fid)
        decoder = neighbours.load_decoder(block)
        if decoder is not None and fid < len(decoder):
            ids, sims = neighbours.cosine_neighbours(decoder, fid, k)
            return [Hit(self.get(block, int(i)), float(s), "decoder") for i, s in zip(ids, sims)]
        row = self._row_of[block][fid]
        if row < 0 or not feature.labelled:
            return []
        if block in self.tables and self.vectors(block) is not None:
            mask = self.index.block_codes == BLOCKS.index(block)
            q = self.vectors(block)[row - self._start[block]]
            return self._nearest(q, mask, [block], k, "label-embedding", exclude=row)
        return self._word_neighbours(block, row, k)

    def _word_neighbours(self, block: str, row: int, k: int) -> list[Hit]:
        table = self.tables[block]
        start = self._start[block]
        choices = {i: fold(f.label) for i, f in enumerate(table.rows) if start + i != row}
        found = process.extract(
            fold(self.rows[row].label),
            choices,
            scorer=fuzz.token_sort_ratio,
            limit=k,
            score_cutoff=40,
        )
        return [Hit(table.rows[i], score / 100.0, "label-words") for _, score, i in found]


def _dot(matrix: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Matrix-vector product without BLAS threads: einsum is ~10x faster than ``@`` for this
    memory-bound shape on a small, busy machine (bench/catalog.py)."""
    return np.einsum("ij,j->i", matrix, v)


def _check_block(block: str) -> None:
    if block not in BLOCKS:
        raise CatalogError(f"unknown block {block!r}; blocks are {', '.join(BLOCKS)}")


KEYWORD_WEIGHT = 0.3
"""Fusion weight of word quality against label cosine, chosen on bench/catalog_queries.toml."""
QUALITY_POWER = 2.0
RRF_K = 60
QUERY_CACHE = 256


__all__ = ["Catalog", "CatalogError", "Hit", "concept_text"]
