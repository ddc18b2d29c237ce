"""Neighbours of a feature by decoder cosine similarity, with numpy on exported directions.

A child process (:mod:`hambajuba_tui.engine.decoder_export`, torch) writes each block's
unit decoder directions once to the user cache as float16 ``.npy`` plus ``index.json`` naming
the checkpoint each came from (path, size, mtime). Here we only stat that checkpoint to see the
export is current, load the array, and take dot products.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from hambajuba_tui.paths import cache_dir
from hambajuba_tui.vocab import BLOCKS

EXPORT_TIMEOUT_S = 600.0


def decoders_dir() -> Path:
    return cache_dir() / "catalog" / "decoders"


def _index() -> dict:
    from hambajuba_tui.safeio import LoadError, load_json

    try:
        data = load_json(decoders_dir() / "index.json", "decoder index", 16 * 1024 * 1024)
    except LoadError:
        return {}
    return data if isinstance(data, dict) else {}


def _current(entry: dict) -> bool:
    """Whether the checkpoint an export came from is still the same file."""
    try:
        st = os.stat(entry["checkpoint"])
    except (OSError, KeyError, TypeError):
        return False
    return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns")


def decoder_path(block: str) -> Path | None:
    """The current export of ``block``'s decoder, or None."""
    entry = _index().get(block)
    if not isinstance(entry, dict) or not _current(entry):
        return None
    path = decoders_dir() / str(entry.get("file", ""))
    return path if path.is_file() else None


@lru_cache(maxsize=len(BLOCKS))
def _load(path: Path, mtime_ns: int) -> np.ndarray:
    return np.load(path, allow_pickle=False).astype(np.float32)


def load_decoder(block: str) -> np.ndarray | None:
    """Unit decoder directions [n_dirs, d_model] (float32) of ``block``, or None."""
    path = decoder_path(block)
    if path is None:
        return None
    try:
        array = _load(path, path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None
    return array if array.ndim == 2 else None


def cosine_neighbours(directions: np.ndarray, fid: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows most cosine-similar to row ``fid`` (itself excluded), best first."""
    sims = np.einsum("ij,j->i", directions, directions[fid])  # see catalog._dot
    sims[fid] = -np.inf
    k = min(k, len(sims) - 1)
    top = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]


def missing_blocks(blocks: tuple[str, ...] = BLOCKS) -> list[str]:
    return [b for b in blocks if decoder_path(b) is None]


def prepare_decoders(
    blocks: tuple[str, ...] = BLOCKS, root: Path | None = None, timeout: float = EXPORT_TIMEOUT_S
) -> dict[str, str]:
    """Export the decoders of ``blocks`` that have no current export; block → status line.

    Status is "ok", "cached", or the loader's message (weights missing, bad checkpoint). Spawns
    one torch child for all of them; with no SAE checkpoint present it costs that child's start.
    """
    todo = missing_blocks(blocks)
    status = {b: "cached" for b in blocks if b not in todo}
    if not todo:
        return status
    cmd = [sys.executable, "-m", "hambajuba_tui.engine.decoder_export", str(decoders_dir()), *todo]
    if root is not None:
        cmd += ["--root", str(root)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**status, **{b: f"decoder export timed out after {timeout:g} s" for b in todo}}
    for line in done.stdout.splitlines():
        try:
            result = json.loads(line)
        except ValueError:
            continue
        if result.get("block") in todo:
            status[result["block"]] = (
                "ok" if result.get("status") == "ok" else str(result.get("message"))
            )
    for b in todo:
        if b not in status:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            status[b] = f"decoder export failed: {tail[0]}"
    return status
