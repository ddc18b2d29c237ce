"""The Hugging Face cache, read at call time (so HF_HOME / HF_HUB_CACHE changes are seen).

Torch-free and network-free: the TUI uses it to decide ``--engine auto`` and ``models status``
without loading anything.
"""

from __future__ import annotations

import os
from pathlib import Path

SDXL_TURBO_REPO = "stabilityai/sdxl-turbo"
TAESDXL_REPO = "madebyollin/taesdxl"
VAE_FP16_FIX_REPO = "madebyollin/sdxl-vae-fp16-fix"
SAE_REPO = "surokpro2/sdxl-saes"
LABELS_REPO = "hammamiomar/sdxl-turbo-sae-labels"

PULL_HINT = "run `hambajuba models pull` (needs network access to huggingface.co)"


def hub_cache() -> Path:
    """The hub cache directory: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def repo_dir(repo_id: str, repo_type: str = "model") -> Path:
    """``<cache>/models--org--name`` (``datasets--`` for datasets)."""
    return hub_cache() / f"{repo_type}s--{repo_id.replace('/', '--')}"


def snapshot_dir(repo_id: str, repo_type: str = "model", revision: str = "main") -> Path | None:
    """The cached snapshot of ``revision`` (a ref name or a commit hash), or None."""
    root = repo_dir(repo_id, repo_type)
    ref = root / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snap = root / "snapshots" / commit
    if snap.is_dir():
        return snap
    snaps = sorted((root / "snapshots").glob("*")) if (root / "snapshots").is_dir() else []
    return snaps[-1] if len(snaps) == 1 and revision == "main" else None


def tree_size(path: Path) -> int:
    """Bytes under ``path``, following the snapshot's symlinks to the blobs."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


__all__ = [
    "LABELS_REPO",
    "PULL_HINT",
    "SAE_REPO",
    "SDXL_TURBO_REPO",
    "TAESDXL_REPO",
    "VAE_FP16_FIX_REPO",
    "hub_cache",
    "offline",
    "repo_dir",
    "snapshot_dir",
    "tree_size",
]
