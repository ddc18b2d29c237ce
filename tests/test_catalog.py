"""Feature catalog: tables (validation, atomic import), keyword search, packs, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from catalog_tables import HAVE_PUBLISHED, MID0, PUBLISHED, UP01, rows, small_tables, write_table

from hambajuba_tui.catalog.catalog import Catalog, CatalogError
from hambajuba_tui.catalog.packs import PackError, list_packs, load_pack, user_packs_dir
from hambajuba_tui.catalog.search import parse_query, words
from hambajuba_tui.catalog.tables import (
    LabelError,
    import_tables,
    labels_dir,
    load_tables,
    read_manifest,
    read_table,
)
from hambajuba_tui.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh HAMBAJUBA_HOME per test (the shared one would leak imports between tests)."""
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def cat(tmp_path) -> Catalog:
    return Catalog.load(small_tables(tmp_path / "tables"))


# -- tables -------------------------------------------------------------------------------------


def test_read_table_keeps_fields_and_folds_nothing_away(tmp_path):
    table = read_table(small_tables(tmp_path) / "up.0.1.json")
    assert table.block == "up.0.1" and len(table.rows) == len(UP01)
    f = table.rows[8]
    assert (f.id, f.label, f.category, f.confidence, f.mean_activation) == (
        8,
        "Pokémon characters",
        "style",
        "medium",
        11.0,
    )
    assert f.key == "up.0.1:8" and len(table.sha256) == 64


@pytest.mark.parametrize(
    "body, message",
    [
        ('[{"id": 0, "label": "x"', "not valid JSON"),
        ('{"id": 0}', "expected a JSON list"),
        ("[]", "no rows"),
        (
            '[{"id": 0, "label": "a", "category": "c", "confidence": "high"}]',
            "row 0: missing 'meanActivation'",
        ),
        (
            '[{"id": 0, "label": "a", "category": "c", "confidence": "high", "meanActivation": 1},'
            ' {"id": 7000, "label": "b", "category": "c", "confidence": "high",'
            ' "meanActivation": 1}]',
            "row 1 (id 7000): id must be an integer 0..5119",
        ),
        (
            '[{"id": 0, "label": "a", "category": "c", "confidence": "sure", "meanActivation": 1}]',
            "row 0 (id 0): confidence must be one of high, medium, low",
        ),
        (
            '[{"id": 0, "label": "a", "category": "c", "confidence": "low",'
            ' "meanActivation": "big"}]',
            "meanActivation must be a finite number",
        ),
        (
            '[{"id": 0, "label": 5, "category": "c", "confidence": "low", "meanActivation": 1}]',
            "label must be a string",
        ),
        (
            '[{"id": 3, "label": "a", "category": "c", "confidence": "low", "meanActivation": 1},'
            ' {"id": 3, "label": "b", "category": "c", "confidence": "low", "meanActivation": 1}]',
            "row 1: id 3 repeats row 0",
        ),
        ('["just a string"]', "row 0: expected an object"),
    ],
)
def test_malformed_tables_name_the_file_and_row(tmp_path, body, message):
    path = write_table(tmp_path, "mid.0", body)
    with pytest.raises(LabelError, match=re.escape(message)) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_a_table_must_say_its_block_in_its_name(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(rows(MID0)))
    with pytest.raises(LabelError, match="cannot tell which block"):
        import_tables([path])


def test_import_is_all_or_nothing(tmp_path, home):
    good = small_tables(tmp_path / "good")
    import_tables([good])
    before = {b: t.sha256 for b, t in load_tables().items()}
    assert set(before) == {"up.0.1", "mid.0"}
    manifest = read_manifest(labels_dir())
    assert manifest["mid.0"]["rows"] == len(MID0) and manifest["mid.0"]["sha256"] == before["mid.0"]

    bad = tmp_path / "bad"
    write_table(bad, "down.2.1", rows(UP01))  # valid
    new_mid = rows(MID0)
    new_mid[2]["confidence"] = "very"
    write_table(bad, "mid.0", new_mid)  # broken: nothing of this import may land
    with pytest.raises(LabelError, match=r"mid\.0\.json: row 2"):
        import_tables([bad])
    assert {b: t.sha256 for b, t in load_tables().items()} == before
    assert not list(labels_dir().parent.glob(".labels.*"))  # no staging left behind

    # A later good import of one block keeps the other blocks.
    write_table(tmp_path / "more", "down.2.1", rows(UP01))
    import_tables([tmp_path / "more" / "down.2.1.json"])
    assert set(load_tables()) == {"up.0.1", "mid.0", "down.2.1"}


def test_import_finds_tables_in_nested_folders(tmp_path, home):
    small_tables(tmp_path / "dataset" / "data" / "features")
    assert {t.block for t in import_tables([tmp_path / "dataset"])} == {"up.0.1", "mid.0"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LabelError, match="empty: no label tables here"):
        import_tables([empty])


def test_two_tables_for_one_block_are_refused(tmp_path):
    a = small_tables(tmp_path / "a")
    b = small_tables(tmp_path / "b")
    with pytest.raises(LabelError, match="two tables for block"):
        import_tables([a / "mid.0.json", b / "mid.0.json"])


# -- keyword search -----------------------------------------------------------------------------


def test_words_fold_accents_and_plurals():
    assert words("Pokémon Flowers, berries & glass") == ["pokemon", "flower", "berry", "&"][:3] + [
        "glass"
    ]


def test_exact_words_rank_above_prefix_and_fuzzy(cat):
    hits = cat.search("neon")
    labels = [h.feature.label for h in hits]
    # exact word "neon" (two rows) before the prefix "neonish", before nothing else
    assert set(labels[:2]) == {"glowing neon tubes", "neon sign lettering"}
    assert labels[2] == "neonish haze" and hits[2].match == "prefix"
    assert [h.match for h in hits[:2]] == ["exact", "exact"]
    # a typo still finds it, marked fuzzy
    fuzzy = cat.search("nein")
    assert fuzzy and all(h.match == "fuzzy" for h in fuzzy)
    assert "neon" in fuzzy[0].feature.label


def test_every_keystroke_narrows_towards_the_label(cat):
    for typed in ("war", "warm", "warm a", "warm am", "warm amb", "warm amber g"):
        assert cat.search(typed)[0].feature.label == "warm amber glow", typed


def test_more_exact_words_rank_higher(cat):
    hits = cat.search("neon tubes")
    assert hits[0].feature.label == "glowing neon tubes"
    assert hits[1].feature.label == "neon sign lettering"


def test_search_matches_categories_and_ids(cat):
    by_cat = cat.search("texture")
    assert {h.feature.label for h in by_cat[:2]} == {"rough tree bark texture", "fluffy kitten fur"}
    assert by_cat[0].feature.label == "rough tree bark texture"  # label word beats category
    ids = cat.search("3")
    assert [h.key for h in ids[:2]] == ["mid.0:3", "up.0.1:3"] and ids[0].match == "id"
    one = cat.search("up.0.1:4")
    assert [h.key for h in one] == ["up.0.1:4"]
    assert [h.key for h in cat.search("mid.0 spiral")] == ["mid.0:0"]


def test_filters(cat):
    assert {h.feature.block for h in cat.search("", block="mid.0", limit=100)} == {"mid.0"}
    light = cat.search("neon", category="Lighting")
    assert [h.feature.label for h in light] == ["glowing neon tubes"]
    assert all(
        h.feature.confidence == "high" for h in cat.search("", min_confidence="high", limit=100)
    )
    assert len(cat.search("", min_confidence="medium", limit=100)) == len(UP01) + len(MID0) - 1
    with pytest.raises(CatalogError, match="no category 'smell'.*lighting"):
        cat.search("x", category="smell")
    with pytest.raises(CatalogError, match="unknown block"):
        cat.search("x", block="up.9")


def test_unlabelled_features_show_by_id(cat):
    f = cat.get("up.0.0", 17)
    assert f.key == "up.0.0:17" and f.label == "" and not f.labelled
    assert cat.get("up.0.1", 0).label == "warm amber glow"
    with pytest.raises(CatalogError):
        cat.get("up.0.1", 5120)


def test_parse_query_understands_feature_references():
    assert parse_query("up.0.1:154").feature == ("up.0.1", 154)
    assert parse_query("mid.0 #3").feature == ("mid.0", 3)
    q = parse_query("the warm glow")
    assert q.words == ("warm", "glow") and q.feature is None
    assert parse_query("down.2.1 sky").blocks == ("down.2.1",)


@pytest.mark.skipif(not HAVE_PUBLISHED, reason=f"published tables not at {PUBLISHED}")
def test_ranking_on_the_published_tables():
    full = Catalog.load(PUBLISHED)
    assert len(full) == 20_480
    assert full.get("up.0.1", 4329).label == "unlabeled" and not full.get("up.0.1", 4329).labelled
    top = full.search("neon glow", block="up.0.1", limit=5)
    assert all("neon" in h.feature.label.lower() and "glow" in h.feature.label.lower() for h in top)
    assert full.search("petals", block="up.0.0")[0].feature.label == "flower petals"
    assert full.search("spiral", block="mid.0")[0].key == "mid.0:3628"
    poke = full.search("pokemon")
    assert poke and all("Pokémon" in h.feature.label for h in poke[:2])
    typo = full.search("iridesent", block="up.0.1", limit=3)
    assert all("iridescen" in h.feature.label for h in typo)
    assert full.search("up.0.1:154")[0].feature.label.startswith("neon glow")
    lighting = full.search("warm", category="lighting", limit=20)
    assert lighting and all(
        h.feature.category == "lighting" and "warm" in h.feature.label.lower() for h in lighting
    )
    # The default pack's starters are real, labelled features.
    pack = load_pack()
    for block, ids in pack.starters.items():
        assert all(full.get(block, i).labelled for i in ids)


# -- packs --------------------------------------------------------------------------------------


def test_user_packs_live_in_the_data_dir_and_shadow_built_ins(home):
    assert "default" in list_packs()
    (user_packs_dir() / "mine.toml").write_text(
        'version = 1\nname = "mine"\n[[route]]\nblock = "mid.0"\nsource = "bass"\n'
        'feature = 12\n[starters]\n"mid.0" = [12, 13]\n'
    )
    assert list_packs()["mine"].endswith("mine.toml")
    pack = load_pack("mine")
    assert pack.name == "mine" and pack.starters == {"mid.0": (12, 13)}
    with pytest.raises(PackError, match="no pack named 'nope'"):
        load_pack("nope")
    (user_packs_dir() / "odd.toml").write_text("version = 2\n")
    with pytest.raises(PackError, match="odd.toml: version must be 1"):
        load_pack("odd")
    (user_packs_dir() / "odd.toml").write_text("palette = 3\n")
    with pytest.raises(PackError, match="unknown key 'palette'"):
        load_pack("odd")


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_import_search_show_list(tmp_path, home, capsys):
    assert main(["features", "search", "neon", "--mode", "keyword"]) == 3
    assert "features pull" in capsys.readouterr().err

    assert main(["features", "import", str(small_tables(tmp_path / "t")), "--no-embed"]) == 0
    assert "imported up.0.1: 12 rows" in capsys.readouterr().out

    assert main(["features", "search", "neon", "--mode", "keyword", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["label"] for h in out["hits"][:2]] == ["glowing neon tubes", "neon sign lettering"]

    assert main(["features", "search", "neon", "--mode", "keyword", "--category", "style"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("up.0.1:3 ")

    assert main(["features", "show", "up.0.1:2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["label"] == "glowing neon tubes" and shown["mean_activation"] == 25.0
    assert shown["neighbours_by"] in ("label-words", "label-embedding")
    assert shown["neighbours"] and all(n["block"] == "up.0.1" for n in shown["neighbours"])

    assert main(["features", "show", "mid.0:1"]) == 0
    text = capsys.readouterr().out
    assert "tunnel-like depth" in text and "confidence high" in text and "15.5" in text

    assert main(["features", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["tables"]["up.0.1"]["rows"] == 12 and listed["tables"]["down.2.1"] is None
    assert "default" in listed["packs"]


def test_cli_bad_input_is_one_line_with_the_right_code(tmp_path, home, capsys):
    bad = write_table(tmp_path, "up.0.0", '[{"id": 1}]')
    assert main(["features", "import", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "nothing imported" in err and "up.0.0.json: row 0: missing" in err
    assert main(["features", "import", str(tmp_path / "nowhere")]) == 3
    assert "no such file" in capsys.readouterr().err
    assert main(["features", "show", "spiral"]) == 2
    assert "BLOCK:ID" in capsys.readouterr().err
    main(["features", "import", str(small_tables(tmp_path / "t")), "--no-embed"])
    capsys.readouterr()
    assert main(["features", "search", "x", "--category", "smell", "--mode", "keyword"]) == 3
    assert "no category 'smell'" in capsys.readouterr().err


def test_cli_pack_by_name_for_play(home):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hambajuba_tui.cli",
            "demo",
            "--pack",
            "nope",
            "--headless",
            "--seconds",
            "0.1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3 and "no pack named 'nope'" in out.stderr


def test_search_index_is_numpy_vectorised(cat):
    # the index holds postings per vocabulary word, not per-row Python lists
    assert isinstance(cat.index._post_rows, np.ndarray)
    assert cat.index._post_counts.sum() == len(cat.index._post_rows)


def test_cli_show_works_without_tables_by_id(home, capsys):
    assert main(["features", "show", "mid.0:12"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("mid.0:12  (unlabelled)") and "features pull" in captured.err
    assert main(["features", "show", "mid.0:5120"]) == 3
    assert "0..5119" in capsys.readouterr().err
