"""SAE loader: both folder layouts, shape checks, missing files, and code-running pickles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from hambajuba_tui.engine.errors import CheckpointError, ModelMissing  # noqa: E402
from hambajuba_tui.engine.sae import find_sae, load_sae, sae_folder_name  # noqa: E402
from hambajuba_tui.vocab import BLOCKS  # noqa: E402

D, N = 32, 64


def write_sae(folder: Path, d: int = D, n: int = N, seed: int = 0, **override) -> dict:
    """A tiny SAE in the published checkpoint format; returns the tensors written."""
    g = torch.Generator().manual_seed(seed)
    decoder = torch.randn(d, n, generator=g)
    decoder /= decoder.norm(dim=0, keepdim=True)
    sd = {
        "encoder.weight": torch.randn(n, d, generator=g),
        "decoder.weight": decoder,
        "pre_bias": torch.randn(d, generator=g),
        "latent_bias": torch.randn(n, generator=g),
        "stats_last_nonzero": torch.zeros(n, dtype=torch.long),
    }
    sd.update({k: v for k, v in override.items() if k != "mean"})
    mean = override.get("mean", torch.rand(n, generator=g) * 5)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"n_dirs_local": n, "d_model": d, "k": 10, "auxk": 256, "dead_steps_threshold": 2000}
    (folder / "config.json").write_text(json.dumps(config))
    torch.save({"state_dict": sd}, folder / "state_dict.pth")
    torch.save(mean, folder / "mean.pt")
    return {**sd, "mean": mean}


def test_folder_names_follow_the_published_layout():
    assert sae_folder_name("down.2.1") == (
        "unet.down_blocks.2.attentions.1_k10_hidden5120_auxk256_bs4096_lr0.0001"
    )
    assert sae_folder_name("mid.0").startswith("unet.mid_block.attentions.0_k10")
    assert sae_folder_name("up.0.0").startswith("unet.up_blocks.0.attentions.0_k10")
    assert sae_folder_name("up.0.1").startswith("unet.up_blocks.0.attentions.1_k10")
    with pytest.raises(ValueError, match="unknown block"):
        sae_folder_name("up.9.9")


@pytest.mark.parametrize("final", [False, True])
def test_load_both_layouts(tmp_path, final):
    folder = tmp_path / sae_folder_name("mid.0")
    written = write_sae(folder / "final" if final else folder, seed=3)
    found = find_sae("mid.0", root=tmp_path)
    assert found == (folder / "final" if final else folder)
    sae = load_sae(found)
    assert (sae.d_model, sae.n_dirs) == (D, N)
    assert torch.equal(sae.decoder, written["decoder.weight"])
    assert torch.equal(sae.encoder, written["encoder.weight"])
    assert torch.equal(sae.mean, written["mean"])
    assert torch.equal(sae.pre_bias, written["pre_bias"])
    assert torch.allclose(sae.decoder.norm(dim=0), torch.ones(N))
    assert sae.config["k"] == 10 and sae.path == found


def test_load_converts_dtype(tmp_path):
    write_sae(tmp_path / "s")
    sae = load_sae(tmp_path / "s", dtype=torch.float64)
    assert sae.decoder.dtype == torch.float64 and sae.mean.dtype == torch.float64


def test_find_in_hf_cache_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    repo = tmp_path / "hf" / "hub" / "models--surokpro2--sdxl-saes"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123"
    for block in BLOCKS:
        write_sae(snap / sae_folder_name(block) / "final")
    for block in BLOCKS:
        assert find_sae(block) == snap / sae_folder_name(block) / "final"


def test_missing_everything_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    with pytest.raises(ModelMissing, match="models pull") as info:
        find_sae("up.0.1")
    assert "up.0.1" in info.value.what
    with pytest.raises(ModelMissing, match="mean.pt"):
        find_sae("up.0.1", root=tmp_path)


def test_wrong_shape_names_file_and_key(tmp_path):
    write_sae(tmp_path / "s", **{"decoder.weight": torch.randn(D, N + 1)})
    with pytest.raises(CheckpointError, match=r"state_dict\.pth.*'decoder\.weight'.*\[32, 65\]"):
        load_sae(tmp_path / "s")


def test_wrong_mean_shape(tmp_path):
    write_sae(tmp_path / "s", mean=torch.ones(N - 1))
    with pytest.raises(CheckpointError, match=r"mean\.pt.*\[63\].*\[64\]"):
        load_sae(tmp_path / "s")


def test_missing_key(tmp_path):
    write_sae(tmp_path / "s")
    sd = torch.load(tmp_path / "s" / "state_dict.pth", weights_only=True)
    del sd["state_dict"]["pre_bias"]
    torch.save(sd, tmp_path / "s" / "state_dict.pth")
    with pytest.raises(CheckpointError, match=r"state_dict\.pth.*'pre_bias' is missing"):
        load_sae(tmp_path / "s")


def test_missing_mean_file(tmp_path):
    write_sae(tmp_path / "s")
    (tmp_path / "s" / "mean.pt").unlink()
    with pytest.raises(CheckpointError, match=r"mean\.pt: file is missing"):
        load_sae(tmp_path / "s")


def test_corrupt_files(tmp_path):
    write_sae(tmp_path / "s")
    (tmp_path / "s" / "state_dict.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"state_dict\.pth: not a readable"):
        load_sae(tmp_path / "s")
    write_sae(tmp_path / "t")
    (tmp_path / "t" / "config.json").write_text('{"d_model": "big"}')
    with pytest.raises(CheckpointError, match=r"config\.json.*'d_model'"):
        load_sae(tmp_path / "t")


class _Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_code_running_checkpoint_is_refused(tmp_path):
    write_sae(tmp_path / "s")
    marker = tmp_path / "marker"
    evil = {"state_dict": {"decoder.weight": _Payload(marker)}}
    torch.save(evil, tmp_path / "s" / "state_dict.pth")
    with pytest.raises(CheckpointError, match=r"state_dict\.pth: refused"):
        load_sae(tmp_path / "s")
    assert not marker.exists(), "the payload ran"
    # the payload is real: an unsafe load would have run it
    torch.load(tmp_path / "s" / "state_dict.pth", weights_only=False)
    assert marker.read_text() == "pwned"


def test_code_running_mean_is_refused(tmp_path):
    write_sae(tmp_path / "s")
    marker = tmp_path / "marker"
    torch.save(_Payload(marker), tmp_path / "s" / "mean.pt")
    with pytest.raises(CheckpointError, match=r"mean\.pt: refused"):
        load_sae(tmp_path / "s")
    assert not marker.exists()
