"""SAE checkpoints (Surkov et al., ``surokpro2/sdxl-saes``): locate and load them safely.

One folder per block, ``unet.<module path>_k10_hidden5120_auxk256_bs4096_lr0.0001``, holding
``config.json``, ``state_dict.pth`` and ``mean.pt`` (directly or under ``final/``). Files are
read with ``torch.load(weights_only=True)``: a checkpoint can never run code. Every problem is
a :class:`CheckpointError` naming the file and what is wrong with it.

torch is imported only when a checkpoint is loaded, so the TUI can locate SAEs (and catch
these errors) without importing it.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hambajuba_tui.engine.errors import CheckpointError, ModelMissing
from hambajuba_tui.engine.hub import PULL_HINT, SAE_REPO, snapshot_dir
from hambajuba_tui.vocab import BLOCKS

if TYPE_CHECKING:
    import torch

MODULE_PATHS: dict[str, str] = {
    "down.2.1": "down_blocks.2.attentions.1",
    "mid.0": "mid_block.attentions.0",
    "up.0.0": "up_blocks.0.attentions.0",
    "up.0.1": "up_blocks.0.attentions.1",
}
"""Block name (DESIGN.md vocabulary) → the diffusers UNet module it names."""

FOLDER_SUFFIX = "_k10_hidden5120_auxk256_bs4096_lr0.0001"
FILES = ("config.json", "state_dict.pth", "mean.pt")


def sae_folder_name(block: str) -> str:
    """The checkpoint folder of ``block``, e.g. ``unet.mid_block.attentions.0_k10_…``."""
    if block not in MODULE_PATHS:
        raise ValueError(f"unknown block {block!r}; blocks are {', '.join(BLOCKS)}")
    return f"unet.{MODULE_PATHS[block]}{FOLDER_SUFFIX}"


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def find_sae(block: str, root: Path | None = None) -> Path:
    """The folder holding the SAE files of ``block`` (``<folder>/`` or ``<folder>/final/``).

    Looks under ``root`` when given, else in the Hugging Face cache snapshot of ``SAE_REPO``
    (local files only). Raises :class:`ModelMissing` when it is not there.
    """
    name = sae_folder_name(block)
    base = Path(root) if root is not None else snapshot_dir(SAE_REPO)
    if base is not None:
        for candidate in (base / name, base / name / "final"):
            if _complete(candidate):
                return candidate
    where = str(root) if root is not None else f"the Hugging Face cache ({SAE_REPO})"
    how = PULL_HINT if root is None else f"put {', '.join(FILES)} under {Path(root) / name}"
    raise ModelMissing(f"SAE for block {block} ({name}) in {where}", how)


@dataclass
class SaeWeights:
    """One block's SAE. ``decoder`` columns are the feature directions (unit norm as stored)."""

    decoder: torch.Tensor
    """[d_model, n_dirs]"""
    mean: torch.Tensor
    """[n_dirs]: each feature's mean activation (strength 1 = a typical activation)."""
    encoder: torch.Tensor
    """[n_dirs, d_model]"""
    pre_bias: torch.Tensor
    """[d_model]"""
    latent_bias: torch.Tensor
    """[n_dirs]"""
    config: dict = field(default_factory=dict)
    path: Path = Path()

    @property
    def d_model(self) -> int:
        return int(self.decoder.shape[0])

    @property
    def n_dirs(self) -> int:
        return int(self.decoder.shape[1])


def _safe_load(path: Path) -> object:
    import torch

    if not path.exists():
        raise CheckpointError(f"{path}: file is missing")
    from hambajuba_tui.safeio import LoadError, check_regular

    try:
        check_regular(path, "checkpoint")
    except LoadError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # The weights-only unpickler names the forbidden callable ("Unsupported global: …");
        # other unpickling errors mean the bytes are not a pickle at all.
        found = re.search(r"Unsupported global: (?:GLOBAL )?(\S+)", str(exc))
        if found is None:
            raise CheckpointError(f"{path}: not a readable torch checkpoint") from None
        raise CheckpointError(
            f"{path}: refused to load: unpickling it would call {found.group(1)}, and a "
            "checkpoint must hold tensors only (it could run code)"
        ) from None
    except Exception as exc:  # corrupt zip, truncated file, not a torch file
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({exc})") from None


def _read_config(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"{path}: file is missing")
    from hambajuba_tui.safeio import LoadError, load_json

    try:
        config = load_json(path, "checkpoint config", 1024 * 1024)
    except LoadError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    for key in ("d_model", "n_dirs_local"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise CheckpointError(f"{path}: key {key!r} must be a positive integer, got {value!r}")
    return config


def _tensor(sd: dict, key: str, shape: tuple[int, ...], path: Path) -> torch.Tensor:
    import torch

    if key not in sd:
        raise CheckpointError(f"{path}: key {key!r} is missing (has {', '.join(map(str, sd))})")
    value = sd[key]
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{path}: {key!r} is a {type(value).__name__}, not a tensor")
    if tuple(value.shape) != shape:
        raise CheckpointError(
            f"{path}: {key!r} has shape {list(value.shape)}, expected {list(shape)} "
            f"(from config.json)"
        )
    if not value.is_floating_point():
        raise CheckpointError(f"{path}: {key!r} has dtype {value.dtype}, expected floating point")
    return value


def load_sae(
    path: Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> SaeWeights:
    """Load the SAE in folder ``path`` (as returned by :func:`find_sae`), checked against its
    config.json, as ``dtype`` (default float32) on ``device``; raises :class:`CheckpointError`
    naming the file on any problem."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: SAE folder is missing")
    config = _read_config(path / "config.json")
    d, n = int(config["d_model"]), int(config["n_dirs_local"])

    sd_path = path / "state_dict.pth"
    raw = _safe_load(sd_path)
    sd = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
    if not isinstance(sd, dict):
        raise CheckpointError(f"{sd_path}: expected a dict of tensors, got {type(sd).__name__}")
    encoder = _tensor(sd, "encoder.weight", (n, d), sd_path)
    decoder = _tensor(sd, "decoder.weight", (d, n), sd_path)
    pre_bias = _tensor(sd, "pre_bias", (d,), sd_path)
    latent_bias = _tensor(sd, "latent_bias", (n,), sd_path)

    mean_path = path / "mean.pt"
    mean = _safe_load(mean_path)
    if not isinstance(mean, torch.Tensor):
        raise CheckpointError(f"{mean_path}: expected a tensor, got {type(mean).__name__}")
    mean = _tensor({"mean": mean}, "mean", (n,), mean_path)

    def to(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(device=device, dtype=dtype).contiguous()

    return SaeWeights(
        decoder=to(decoder),
        mean=to(mean),
        encoder=to(encoder),
        pre_bias=to(pre_bias),
        latent_bias=to(latent_bias),
        config=config,
        path=path,
    )


__all__ = [
    "MODULE_PATHS",
    "SAE_REPO",
    "SaeWeights",
    "find_sae",
    "load_sae",
    "sae_folder_name",
]
