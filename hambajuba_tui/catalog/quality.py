"""Search quality on a query set: hit@5 and MRR of keyword, concept and hybrid search.

The query set (``bench/catalog_queries.toml``) lists queries over the published tables, each
with the features (``block:id``) a person would expect. :func:`evaluate` ranks every query
three ways with the same label vectors and query vectors:

- ``keyword``: :meth:`Catalog.search`;
- ``concept``: label cosine alone (the blocks a query names still filter);
- ``hybrid``: :meth:`Catalog.fuse` (and any other fusion named in ``fusions``).

hit@5: the share of queries with an expected feature in the first five. MRR: the mean of
1 / rank of the first expected feature (0 when none is in the first ``depth``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hambajuba_tui.catalog.catalog import Catalog
from hambajuba_tui.catalog.search import concept_text, parse_query
from hambajuba_tui.vocab import BLOCKS

QUERIES = Path(__file__).resolve().parents[2] / "bench" / "catalog_queries.toml"
DEPTH = 50


@dataclass(frozen=True)
class Query:
    text: str
    kind: str
    expect: frozenset[str]


def load_queries(path: Path = QUERIES) -> list[Query]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return [Query(q["text"], q.get("kind", ""), frozenset(q["expect"])) for q in data["query"]]


def concept_ranking(cat: Catalog, text: str, q: np.ndarray, limit: int = DEPTH) -> list[str]:
    """Keys of the labels nearest in meaning to ``q`` (blocks named in ``text`` filter)."""
    sim = cat.similarities(q)
    blocks = parse_query(text).blocks
    if blocks:
        sim[~np.isin(cat.index.block_codes, [BLOCKS.index(b) for b in blocks])] = -np.inf
    top = np.argsort(-sim, kind="stable")[:limit]
    return [cat.rows[r].key for r in top.tolist() if np.isfinite(sim[r])]


def rankings(
    cat: Catalog, queries: Sequence[Query], vectors: np.ndarray, fusions: Sequence[str] = ()
) -> dict[str, list[list[str]]]:
    """Per mode, the ranked keys of each query (``vectors``: one query vector per query)."""
    out: dict[str, list[list[str]]] = {"keyword": [], "concept": [], "hybrid": []}
    out.update({f"hybrid-{f}": [] for f in fusions})
    for query, q in zip(queries, vectors):
        out["keyword"].append([h.key for h in cat.search(query.text, limit=DEPTH)])
        out["concept"].append(concept_ranking(cat, query.text, q))
        out["hybrid"].append([h.key for h in cat.fuse(query.text, q, limit=DEPTH)])
        for f in fusions:
            method, _, params = f.partition("=")
            weight, _, power = params.partition("^")
            hits = cat.fuse(
                query.text, q, limit=DEPTH, method=method, weight=_num(weight), power=_num(power)
            )
            out[f"hybrid-{f}"].append([h.key for h in hits])
    return out


def _num(text: str) -> float | None:
    return float(text) if text else None


def score(ranked: Sequence[Sequence[str]], queries: Sequence[Query], k: int = 5) -> dict:
    """hit@k and MRR of rankings against the queries' expected features."""
    hits, rr = [], []
    for keys, query in zip(ranked, queries):
        first = next((i for i, key in enumerate(keys) if key in query.expect), None)
        hits.append(first is not None and first < k)
        rr.append(0.0 if first is None else 1.0 / (first + 1))
    return {f"hit@{k}": round(float(np.mean(hits)), 3), "mrr": round(float(np.mean(rr)), 3)}


def query_vectors(embedder, queries: Sequence[Query]) -> np.ndarray:
    return embedder.embed([concept_text(q.text) for q in queries], timeout=120)


def evaluate(
    cat: Catalog, queries: Sequence[Query], vectors: np.ndarray, fusions: Sequence[str] = ()
) -> dict[str, dict]:
    """Mode → {hit@5, mrr, by_kind: {kind: {hit@5, mrr}}}."""
    result = {}
    kinds = sorted({q.kind for q in queries})
    for mode, ranked in rankings(cat, queries, vectors, fusions).items():
        result[mode] = score(ranked, queries)
        result[mode]["by_kind"] = {
            kind: score(
                [r for r, q in zip(ranked, queries) if q.kind == kind],
                [q for q in queries if q.kind == kind],
            )
            for kind in kinds
        }
    return result


__all__ = ["QUERIES", "Query", "evaluate", "load_queries", "query_vectors", "score"]
