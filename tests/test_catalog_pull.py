"""``hambajuba features pull`` from a local Hugging Face cache laid out as the hub lays it out."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from catalog_tables import MID0, UP01, rows

from hambajuba_tui.catalog.tables import load_tables, read_manifest

REPO = "datasets--hammamiomar--sdxl-turbo-sae-labels"
COMMIT = "564e75109dcaf2df6d2e26c10e993d39450ecc67"


def hub_dataset(hf_home: Path, files: dict[str, str], commit: str = COMMIT) -> Path:
    """blobs/<sha256> holding the bytes, snapshots/<commit>/<path> symlinks, refs/main."""
    repo = hf_home / "hub" / REPO
    snap = repo / "snapshots" / commit
    for name, text in files.items():
        data = text.encode()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snap


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", *args],
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.fixture
def env(tmp_path):
    return {
        "HAMBAJUBA_HOME": str(tmp_path / "home"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
    }


@pytest.mark.parametrize("prefix", ["", "data/features/"])
@pytest.mark.slow
def test_pull_imports_from_the_offline_hub_cache(tmp_path, env, monkeypatch, prefix):
    hub_dataset(
        tmp_path / "hf",
        {
            "README.md": "# labels\n",
            f"{prefix}up.0.1.json": json.dumps(rows(UP01)),
            f"{prefix}mid.0.json": json.dumps(rows(MID0)),
        },
    )
    out = run_cli(["features", "pull"], env)
    assert out.returncode == 0, out.stderr
    assert "imported up.0.1: 12 rows" in out.stdout and "imported mid.0: 4 rows" in out.stdout
    monkeypatch.setenv("HAMBAJUBA_HOME", env["HAMBAJUBA_HOME"])
    tables = load_tables()
    assert set(tables) == {"up.0.1", "mid.0"}
    assert tables["up.0.1"].rows[0].label == "warm amber glow"
    manifest = read_manifest(Path(env["HAMBAJUBA_HOME"]) / "data" / "labels")
    assert (
        manifest["mid.0"]["source"] == f"hf://datasets/hammamiomar/sdxl-turbo-sae-labels@{COMMIT}"
    )

    found = run_cli(["features", "search", "neon", "--mode", "keyword", "--json"], env)
    assert json.loads(found.stdout)["hits"][0]["label"] == "glowing neon tubes"


def test_pull_without_the_dataset_offline_says_so(tmp_path, env):
    out = run_cli(["features", "pull"], env)
    assert out.returncode == 3
    assert "nothing imported" in out.stderr and "HF_HUB_OFFLINE" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_malformed_table_in_the_dataset_imports_nothing(tmp_path, env, monkeypatch):
    bad = rows(MID0)
    bad[1]["meanActivation"] = -3
    hub_dataset(
        tmp_path / "hf", {"up.0.1.json": json.dumps(rows(UP01)), "mid.0.json": json.dumps(bad)}
    )
    out = run_cli(["features", "pull"], env)
    assert out.returncode == 3
    assert "mid.0.json: row 1 (id 1): meanActivation" in out.stderr
    monkeypatch.setenv("HAMBAJUBA_HOME", env["HAMBAJUBA_HOME"])
    assert load_tables() == {}
