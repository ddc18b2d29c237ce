"""Hybrid ranking rules on small synthetic tables and hand-made label vectors (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from catalog_tables import UP01, small_tables

from hambajuba_tui.catalog.catalog import Catalog

DIM = 16


@pytest.fixture
def cat(tmp_path) -> Catalog:
    cat = Catalog.load(small_tables(tmp_path / "t"))
    eye = np.eye(len(cat), DIM, dtype=np.float32)  # orthogonal: every label unlike the rest
    for b, t in cat.tables.items():
        start = cat._start[b]
        cat._vectors[b] = eye[start : start + len(t.rows)]
    return cat


def row(label: str) -> int:
    return [r[0] for r in UP01].index(label)


def towards(cat: Catalog, weights: dict[str, float]) -> np.ndarray:
    """A query vector with the given cosine (roughly) to the named up.0.1 labels."""
    v = cat.vectors("up.0.1")
    q = sum(w * v[row(label)] for label, w in weights.items())
    return q / np.linalg.norm(q)


def keys(hits) -> list[str]:
    return [h.feature.label for h in hits]


def test_a_strong_concept_match_outranks_a_weak_word_match(cat):
    # "haze" is a side word of "neonish haze"; the query means "warm amber glow", no word shared
    q = towards(cat, {"warm amber glow": 1.0})
    hits = cat.fuse("heat haze", q, limit=5)
    assert keys(hits)[0] == "warm amber glow" and hits[0].match == "concept"
    assert "neonish haze" in keys(hits)  # the word match is still there, below
    # of two labels that mean the query as much, the one holding its words wins
    q = towards(cat, {"warm amber glow": 1.0, "neonish haze": 1.0})
    assert keys(cat.fuse("heat haze", q, limit=2)) == ["neonish haze", "warm amber glow"]


def test_an_id_or_a_label_equal_to_the_query_comes_first(cat):
    q = towards(cat, {"fluffy kitten fur": 1.0})
    # the label equal to the query (case, plurals and accents aside) beats a perfect concept
    hits = cat.fuse("Neon Sign Letterings", q, limit=3)
    assert keys(hits)[0] == "neon sign lettering" and hits[0].match == "exact"
    hits = cat.fuse("pokemon characters", q, limit=3)
    assert keys(hits)[0] == "Pokémon characters"
    # a bare number names a feature id in every block (one table here has id 3)
    hits = cat.fuse("3", q, limit=3)
    assert hits[0].match == "id" and hits[0].feature.id == 3
    # BLOCK:ID: hybrid search answers with that feature, no concept model needed
    found, note = cat.hybrid_search("up.0.1:7", None)
    assert note is None and found[0].key == "up.0.1:7" and found[0].match == "id"


def test_filters_and_named_blocks_hold_for_fused_hits(cat):
    q = towards(cat, {"flames and burning fire": 1.0})
    mask = cat._mask("up.0.1", "lighting", "high")
    hits = cat.fuse("fire", q, mask, limit=20)
    assert hits and all(
        h.feature.block == "up.0.1"
        and h.feature.category == "lighting"
        and h.feature.confidence == "high"
        for h in hits
    )
    hits = cat.fuse("mid.0 spiral", q, limit=20)
    assert hits and {h.feature.block for h in hits} == {"mid.0"}
    assert keys(hits)[0] == "spiral or circular pattern emphasis"


def test_without_vectors_hybrid_search_is_keyword_search_and_says_so(tmp_path):
    cat = Catalog.load(small_tables(tmp_path / "t"))
    hits, note = cat.hybrid_search("neon", None)
    assert "concept model" in note and hits[0].match == "exact"
    assert [h.key for h in hits] == [h.key for h in cat.search("neon")]
