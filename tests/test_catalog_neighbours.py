"""Neighbours: decoder cosine (tiny SAE checkpoints, exported by the torch child) and labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from catalog_tables import small_tables

from hambajuba_tui.catalog import concepts, neighbours
from hambajuba_tui.catalog.catalog import Catalog
from hambajuba_tui.cli import main

torch = pytest.importorskip("torch")

D, N = 16, 12
FOLDER = "unet.up_blocks.0.attentions.1_k10_hidden5120_auxk256_bs4096_lr0.0001"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def known_decoder() -> torch.Tensor:
    """Columns with known neighbours: 0≈1≈2 (in that order), 5≈6, the rest unrelated."""
    g = torch.Generator().manual_seed(7)
    dec = torch.randn(D, N, generator=g)
    dec[:, 1] = dec[:, 0] + 0.1 * torch.randn(D, generator=g)
    dec[:, 2] = dec[:, 0] + 0.5 * torch.randn(D, generator=g)
    dec[:, 6] = -dec[:, 5] * 3 + 0.01 * torch.randn(D, generator=g)  # opposite: least similar
    dec[:, 7] = dec[:, 5] * 2  # same direction, other norm: cosine 1
    return dec


class _Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def write_sae(folder: Path, decoder: torch.Tensor, evil: Path | None = None) -> None:
    """A tiny SAE in the published format (config.json, state_dict.pth, mean.pt)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {"n_dirs_local": N, "d_model": D, "k": 10, "auxk": 256, "dead_steps_threshold": 100}
        )
    )
    sd = {
        "encoder.weight": torch.randn(N, D),
        "decoder.weight": decoder,
        "pre_bias": torch.zeros(D),
        "latent_bias": torch.zeros(N),
        "stats_last_nonzero": torch.zeros(N, dtype=torch.long),
    }
    if evil is not None:
        torch.save({"state_dict": {"decoder.weight": _Payload(evil)}}, folder / "state_dict.pth")
    else:
        torch.save({"state_dict": sd}, folder / "state_dict.pth")
    torch.save(torch.rand(N) * 10, folder / "mean.pt")


def test_cosine_neighbours_in_numpy():
    dec = known_decoder().T.numpy()
    dec /= np.linalg.norm(dec, axis=1, keepdims=True)
    ids, sims = neighbours.cosine_neighbours(dec, 0, 2)
    assert ids.tolist() == [1, 2] and sims[0] > sims[1] > 0.5
    ids, _ = neighbours.cosine_neighbours(dec, 5, N)
    assert ids[0] == 7 and ids[-1] == 6 and 5 not in ids.tolist()


def test_decoder_neighbours_from_a_tiny_checkpoint(tmp_path, home):
    root = tmp_path / "saes"
    write_sae(root / FOLDER / "final", known_decoder())
    cat = Catalog.load(small_tables(tmp_path / "t"))
    assert neighbours.missing_blocks(("up.0.1",)) == ["up.0.1"]
    assert all(h.match != "decoder" for h in cat.neighbours("up.0.1", 2, k=3))  # not yet

    status = neighbours.prepare_decoders(("up.0.1", "mid.0"), root=root)
    assert status["up.0.1"] == "ok"
    assert "SAE for block mid.0" in status["mid.0"] and "missing" in status["mid.0"]
    exported = np.load(neighbours.decoder_path("up.0.1"), allow_pickle=False)
    assert exported.dtype == np.float16 and exported.shape == (N, D)
    assert np.allclose(np.linalg.norm(exported.astype(np.float32), axis=1), 1.0, atol=2e-3)

    near = cat.neighbours("up.0.1", 0, k=2)
    assert [h.feature.id for h in near] == [1, 2] and {h.match for h in near} == {"decoder"}
    assert near[0].feature.label == "cold blue moonlight"  # labelled from the table
    assert [h.feature.id for h in cat.neighbours("up.0.1", 5, k=1)] == [7]
    assert neighbours.prepare_decoders(("up.0.1",), root=root) == {"up.0.1": "cached"}

    # A changed checkpoint makes the export stale; the next prepare re-exports it.
    dec = known_decoder()
    dec[:, 3] = dec[:, 0]
    write_sae(root / FOLDER / "final", dec)
    os.utime(root / FOLDER / "final" / "state_dict.pth", ns=(1, 1))
    assert neighbours.decoder_path("up.0.1") is None
    assert neighbours.prepare_decoders(("up.0.1",), root=root) == {"up.0.1": "ok"}
    assert cat.neighbours("up.0.1", 0, k=1)[0].feature.id == 3


def test_show_finds_saes_in_the_hub_cache(tmp_path, home, monkeypatch, capsys):
    hf = tmp_path / "hf"
    repo = hf / "hub" / "models--surokpro2--sdxl-saes"
    write_sae(repo / "snapshots" / "abc123" / FOLDER, known_decoder())
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HOME", str(hf))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert main(["features", "import", str(small_tables(tmp_path / "t")), "--no-embed"]) == 0
    capsys.readouterr()
    assert main(["features", "show", "up.0.1:0", "-k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neighbours_by"] == "decoder"
    assert [n["id"] for n in out["neighbours"]] == [1, 2]


def test_a_checkpoint_that_runs_code_is_refused_and_labels_answer(tmp_path, home, capsys):
    root = tmp_path / "saes"
    marker = tmp_path / "marker"
    write_sae(root / FOLDER, known_decoder(), evil=marker)
    assert main(["features", "import", str(small_tables(tmp_path / "t")), "--no-embed"]) == 0
    capsys.readouterr()
    assert main(["features", "show", "up.0.1:2", "--sae-root", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert "decoder neighbours unavailable" in captured.err and "refused" in captured.err
    assert "state_dict.pth" in captured.err and not marker.exists()
    out = json.loads(captured.out)
    assert out["neighbours_by"] in ("label-words", "label-embedding")
    assert "neon sign lettering" in [n["label"] for n in out["neighbours"]]


def test_label_neighbours_by_embedding_when_vectors_exist(tmp_path, home):
    cat = Catalog.load(small_tables(tmp_path / "t"))
    words = cat.neighbours("up.0.1", 2, k=3)  # "glowing neon tubes"
    assert words and words[0].match == "label-words"
    assert words[0].feature.label == "neon sign lettering"
    # Label vectors stand in for the model's: rows 2 and 9 share a direction.
    vectors = np.eye(len(cat.tables["up.0.1"].rows), 8, dtype=np.float32)
    vectors[9] = vectors[2] * 0.8 + vectors[0] * 0.6
    concepts.save_vectors(cat.tables["up.0.1"].sha256, vectors)
    fresh = Catalog.load(tmp_path / "t")
    near = fresh.neighbours("up.0.1", 2, k=2)
    assert near[0].match == "label-embedding" and near[0].feature.id == 9
    assert all(h.feature.id != 2 for h in near)


@pytest.mark.skipif(not concepts.model_installed(), reason="concept model not installed")
@pytest.mark.slow
def test_label_embedding_neighbours_with_the_real_model(tmp_path, home):
    cat = Catalog.load(small_tables(tmp_path / "t"))
    with concepts.Embedder() as e:
        e.wait_ready(180)
        cat.embed_labels(e)
    near = cat.neighbours("up.0.1", 2, k=2)  # glowing neon tubes
    assert near[0].match == "label-embedding"
    assert "neon sign lettering" in [h.feature.label for h in near]
