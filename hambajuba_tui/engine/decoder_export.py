"""Export each block's SAE decoder, row-normalised, as float16 .npy for the catalog.

Run as a child process (``python -m hambajuba_tui.engine.decoder_export OUT_DIR [--root R]
BLOCK...``) so the catalog computes neighbours with numpy and never imports torch. For every
block it writes ``<block>-<key>.npy`` ([n_dirs, d_model], float16, unit rows; temp name then
rename) and records it in ``OUT_DIR/index.json`` with the checkpoint it came from (path, size,
mtime), so a changed checkpoint is noticed without hashing it. Prints one JSON line per block:
``{"block", "status": "ok" | "missing" | "error", "message"?}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

CHECKPOINT_FILE = "state_dict.pth"


def checkpoint_stamp(folder: Path) -> dict:
    """What identifies a checkpoint folder cheaply: the state dict's path, size and mtime."""
    path = (Path(folder) / CHECKPOINT_FILE).resolve()
    st = path.stat()
    return {"checkpoint": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stamp_key(stamp: dict) -> str:
    return hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]


def export(block: str, out: Path, root: Path | None) -> dict:
    import numpy as np
    import torch

    from hambajuba_tui.engine.errors import CheckpointError, ModelMissing
    from hambajuba_tui.engine.sae import find_sae, load_sae

    try:
        folder = find_sae(block, root)
    except ModelMissing as exc:
        return {"block": block, "status": "missing", "message": str(exc)}
    try:
        sae = load_sae(folder, device="cpu", dtype=torch.float32)
    except CheckpointError as exc:
        return {"block": block, "status": "error", "message": str(exc)}
    stamp = checkpoint_stamp(folder)
    directions = sae.decoder.T
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    name = f"{block}-{stamp_key(stamp)}.npy"
    tmp = out / f".{name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        np.save(f, directions.numpy().astype(np.float16), allow_pickle=False)
    os.replace(tmp, out / name)
    return {"block": block, "status": "ok", "file": name, **stamp, "shape": list(directions.shape)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="decoder_export")
    parser.add_argument("out", type=Path)
    parser.add_argument("blocks", nargs="+")
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    index_path = args.out / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    for block in args.blocks:
        result = export(block, args.out, args.root)
        if result["status"] == "ok":
            index[block] = {k: v for k, v in result.items() if k not in ("block", "status")}
            tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(index, indent=1))
            os.replace(tmp, index_path)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
