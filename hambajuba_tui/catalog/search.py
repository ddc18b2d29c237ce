"""Keyword search over labels, categories and ids, fast enough for every keystroke.

Everything that depends only on the tables is precomputed: a sorted vocabulary of normalised
words, postings (the rows holding each word) and each row's category code. A query then costs,
per query word, one vectorised scoring of the vocabulary (exact, prefix via bisection, fuzzy
via rapidfuzz ``cdist``) and one ``np.maximum.at`` over the postings of the matching words.
Ranking: id hits first, then by how many query words a row contains exactly, then by the
summed match quality (exact 1 > prefix 0.6–0.85 > fuzzy ≤ 0.6; category words count 0.7 of
label words), then label coverage and confidence.
"""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from hambajuba_tui.vocab import BLOCK_NAME, BLOCKS, parse_feature_ref

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    {"a", "an", "and", "the", "of", "or", "with", "in", "on", "to", "for", "by", "at", "as", "from"}
)
KINDS = ("", "fuzzy", "prefix", "exact", "id")
"""How a row matched a query's words, by :meth:`KeywordIndex.quality`'s kind code."""
EXACT, PREFIX_MIN, PREFIX_SPAN, FUZZY_MAX = 1.0, 0.6, 0.25, 0.6
CATEGORY_WEIGHT = 0.7
FUZZY_CUTOFF = 72.0


def fold(text: str) -> str:
    """Lower case without accents ("Pokémon" → "pokemon")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def stem(word: str) -> str:
    """A light plural stem so "flowers" finds "flower" exactly (and the other way round)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(fold(text))]


def concept_text(query: str) -> str:
    """What the concept model reads of a query: its words, without the block names in it."""
    return " ".join(BLOCK_NAME.sub(" ", query.lower()).split())


@dataclass(frozen=True)
class Query:
    """A parsed query: its words, a ``BLOCK:ID`` or bare id, and blocks it names."""

    words: tuple[str, ...]
    feature: tuple[str, int] | None = None
    number: int | None = None
    blocks: tuple[str, ...] = ()


def parse_query(text: str) -> Query:
    ref = parse_feature_ref(text, bare=False)
    if ref is not None:
        return Query((), feature=ref)
    blocks = tuple(dict.fromkeys(BLOCK_NAME.findall(text.lower())))
    rest = BLOCK_NAME.sub(" ", text.lower())
    ws = words(rest)
    number = int(ws[0]) if len(ws) == 1 and ws[0].isdigit() else None
    content = [w for w in ws if w not in STOPWORDS] or ws
    return Query(tuple(content), number=number, blocks=blocks)


class KeywordIndex:
    """Precomputed token index over rows given as parallel sequences.

    ``block_codes`` index into ``vocab.BLOCKS``; ``confidence_codes`` are 0 high, 1 medium,
    2 low. Row order is the caller's; results are row indices.
    """

    def __init__(
        self,
        labels: Sequence[str],
        categories: Sequence[str],
        block_codes: np.ndarray,
        ids: np.ndarray,
        confidence_codes: np.ndarray,
    ) -> None:
        self.n = len(labels)
        label_words = [words(s) for s in labels]
        category_words = [words(s) for s in categories]
        vocab = sorted({w for ws in label_words + category_words for w in ws})
        self.vocab = vocab
        self._index = {w: i for i, w in enumerate(vocab)}
        self._lengths = np.array([len(w) for w in vocab] + [1], np.float32)
        # Label words: postings (for each vocabulary word, the rows whose label holds it).
        pairs = sorted({(self._index[w], r) for r, ws in enumerate(label_words) for w in ws})
        post = np.asarray(pairs, np.int64).reshape(-1, 2)
        self._post_rows = post[:, 1].astype(np.int32)
        self._post_counts = np.bincount(post[:, 0], minlength=len(vocab)).astype(np.int64)
        self._post_starts = np.concatenate(([0], np.cumsum(self._post_counts)[:-1]))
        # Categories: few distinct names, so score each name once and gather per row.
        names = sorted(set(categories))
        cat_words = [[self._index[w] for w in words(c)] for c in names]
        width = max([len(ws) for ws in cat_words] + [1])
        self._cat_words = np.full((len(names), width), len(vocab), np.int64)  # sentinel-padded
        for i, ws in enumerate(cat_words):
            self._cat_words[i, : len(ws)] = ws
        self.category_names = tuple(names)
        code = {c: i for i, c in enumerate(names)}
        self.category_codes = np.array([code[c] for c in categories], np.int32)
        self._label_len = np.array([max(1, len(ws)) for ws in label_words], np.float32)
        self.block_codes = np.asarray(block_codes, np.int8)
        self.ids = np.asarray(ids, np.int32)
        self.confidence_codes = np.asarray(confidence_codes, np.int8)
        self._scratch = threading.local()
        """Per-thread score buffer: the TUI searches on its UI thread and in workers at once."""

    def _vocab_scores(self, word: str) -> np.ndarray:
        """How well each vocabulary word matches one query word (0 = not at all)."""
        s = getattr(self._scratch, "scores", None)
        if s is None:
            s = self._scratch.scores = np.zeros(len(self.vocab) + 1, np.float32)
        s.fill(0.0)
        if len(word) >= 3:
            fuzzy = process.cdist(
                [word],
                self.vocab,
                scorer=fuzz.ratio,
                dtype=np.uint8,
                score_cutoff=FUZZY_CUTOFF,
                workers=1,
            )[0]
            s[:-1] = fuzzy * np.float32(FUZZY_MAX / 100.0)
        if word:
            lo = bisect.bisect_left(self.vocab, word)
            hi = bisect.bisect_left(self.vocab, word + "\uffff")
            if hi > lo:
                s[lo:hi] = PREFIX_MIN + PREFIX_SPAN * len(word) / self._lengths[lo:hi]
        exact = self._index.get(word)
        if exact is not None:
            s[exact] = EXACT
        s[-1] = 0.0
        return s

    def _label_scores(self, vs: np.ndarray) -> np.ndarray:
        """Per row, the best score of any of its label words (postings, no full scan)."""
        best = np.zeros(self.n, np.float32)
        hit = np.flatnonzero(vs[:-1])
        if len(hit):
            counts = self._post_counts[hit]
            ends = np.cumsum(counts)
            offsets = np.repeat(self._post_starts[hit] - ends + counts, counts)
            offsets += np.arange(ends[-1])
            np.maximum.at(best, self._post_rows[offsets], np.repeat(vs[hit], counts))
        return best

    def _score(self, q: Query) -> tuple[np.ndarray, ...]:
        """Per row: ranking key, exact word count, best word score, id hit, match quality."""
        total = np.zeros(self.n, np.float32)
        exact = np.zeros(self.n, np.int32)
        matched = np.zeros(self.n, np.float32)
        peak = np.zeros(self.n, np.float32)
        for word in q.words:
            vs = self._vocab_scores(word)
            in_label = self._label_scores(vs)
            in_cat = vs[self._cat_words].max(axis=1)[self.category_codes]
            best = np.maximum(in_label, CATEGORY_WEIGHT * in_cat)
            total += best
            np.maximum(peak, best, out=peak)
            exact += (in_label >= EXACT) | (in_cat >= EXACT)
            matched += in_label > 0
        key = exact.astype(np.float64) * 100.0 + total
        key += 0.05 * np.minimum(matched / self._label_len, 1.0)
        key -= 0.001 * self.confidence_codes
        id_hit = np.zeros(self.n, bool) if q.number is None else self.ids == q.number
        key[id_hit] += 10_000.0
        quality = total / np.float32(len(q.words))
        return key, exact, peak, id_hit, quality

    def quality(
        self, query: str | Query, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row: how well its label and category hold the query words, 0..1 (the mean
        over query words of the best match: exact 1, prefix 0.6–0.85, fuzzy ≤ 0.6, a category
        word 0.7 of that), and how it matched as an index into :data:`KINDS` (0: not at all,
        nor outside ``allowed`` and the blocks the query names)."""
        q = parse_query(query) if isinstance(query, str) else query
        quality = np.zeros(self.n, np.float32)
        kind = np.zeros(self.n, np.int8)
        if not q.words:
            return quality, kind
        mask = np.ones(self.n, bool) if allowed is None else allowed
        if q.blocks:
            mask = mask & np.isin(self.block_codes, [BLOCKS.index(b) for b in q.blocks])
        _, exact, peak, id_hit, quality = self._score(q)
        kind[peak > 0] = 1
        kind[peak >= PREFIX_MIN] = 2
        kind[exact > 0] = 3
        kind[id_hit] = 4
        quality[~mask] = 0.0
        kind[~mask] = 0
        return quality, kind

    def rank_key(self, q: Query) -> np.ndarray:
        """Per row, the key :meth:`search` ranks by (higher first; ≤ 0.01: no match)."""
        return self._score(q)[0]

    def search(
        self, query: str | Query, allowed: np.ndarray | None = None, limit: int = 50
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Best rows for ``query``: (row indices, scores, how each matched), best first.

        How: ``id``, ``exact`` (a query word is a label or category word), ``prefix``,
        ``fuzzy``; ``all`` for an empty query, which returns allowed rows in order.
        ``allowed`` is a boolean row mask (filters).
        """
        q = parse_query(query) if isinstance(query, str) else query
        mask = np.ones(self.n, bool) if allowed is None else allowed
        if q.blocks:
            mask = mask & np.isin(self.block_codes, [BLOCKS.index(b) for b in q.blocks])
        if q.feature is not None:
            block, fid = q.feature
            rows = np.flatnonzero(
                mask & (self.block_codes == BLOCKS.index(block)) & (self.ids == fid)
            )
            return rows, np.full(len(rows), 10_000.0), ["id"] * len(rows)
        if not q.words:
            rows = np.flatnonzero(mask)[:limit]
            return rows, np.zeros(len(rows)), ["all"] * len(rows)
        key, exact, peak, id_hit, _ = self._score(q)
        key[~mask | (key <= 0.01)] = -np.inf
        candidates = np.flatnonzero(key > -np.inf)
        if len(candidates) > limit:
            part = np.argpartition(-key[candidates], limit - 1)[:limit]
            candidates = candidates[part]
        order = candidates[np.lexsort((candidates, -key[candidates]))]
        kinds = [
            "id" if i else "exact" if e else "prefix" if p >= PREFIX_MIN else "fuzzy"
            for i, e, p in zip(id_hit[order].tolist(), exact[order].tolist(), peak[order].tolist())
        ]
        return order, key[order], kinds
