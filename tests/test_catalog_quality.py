"""Search quality on bench/catalog_queries.toml over the published tables: hybrid ranking is
at least as good as keyword or concept search alone (hit@5 and MRR)."""

from __future__ import annotations

import pytest
from catalog_tables import HAVE_PUBLISHED, PUBLISHED

from hambajuba_tui.catalog import concepts
from hambajuba_tui.catalog.catalog import Catalog
from hambajuba_tui.catalog.quality import evaluate, load_queries, query_vectors, score

needs_published = pytest.mark.skipif(
    not HAVE_PUBLISHED, reason=f"the published label tables are not in {PUBLISHED}"
)
KINDS = {"synonym", "phrase", "look", "colour", "mood", "misspelling", "block"}


def test_the_query_set_covers_every_kind_of_query():
    queries = load_queries()
    assert len(queries) >= 40 and {q.kind for q in queries} == KINDS
    assert all(q.expect for q in queries)
    assert len({q.text for q in queries}) == len(queries)


def test_scores():
    queries = load_queries()[:2]
    ranked = [["x:1", *sorted(queries[0].expect)[:1]], ["y:2"] * 6]
    assert score(ranked, queries) == {"hit@5": 0.5, "mrr": 0.25}


@needs_published
def test_the_expected_features_are_labelled_rows_of_the_published_tables():
    cat = Catalog.load(PUBLISHED)
    for q in load_queries():
        for key in q.expect:
            block, fid = key.rsplit(":", 1)
            assert cat.get(block, int(fid)).labelled, (q.text, key)


@needs_published
@pytest.mark.skipif(not concepts.model_installed(), reason="concept model not installed")
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_hybrid_is_at_least_as_good_as_the_better_of_keyword_and_concept():
    cat = Catalog.load(PUBLISHED)
    with concepts.Embedder() as embedder:
        assert embedder.wait_ready(300)
        cat.embed_labels(embedder)  # 20,480 labels, cold: tens of seconds
        queries = load_queries()
        vectors = query_vectors(embedder, queries)
    result = evaluate(cat, queries, vectors)
    for metric in ("hit@5", "mrr"):
        best = max(result["keyword"][metric], result["concept"][metric])
        assert result["hybrid"][metric] >= best, result
    assert result["hybrid"]["hit@5"] >= 0.9, result
