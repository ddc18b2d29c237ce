"""Where the SDXL-Turbo engine's weights are, whether they are complete, and fetching them.

Torch-free at import: the TUI process uses :func:`missing`, :func:`status` and
:func:`resolve_engine` to decide ``--engine auto`` without importing torch (the accelerator is
probed in a child process). :func:`load_sdxl` imports torch and diffusers and runs only in the
engine worker, bench and tests.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hambajuba_tui.engine.errors import ModelMissing
from hambajuba_tui.engine.hub import (
    LABELS_REPO,
    PULL_HINT,
    SAE_REPO,
    SDXL_TURBO_REPO,
    TAESDXL_REPO,
    hub_cache,
    offline,
    snapshot_dir,
    tree_size,
)
from hambajuba_tui.vocab import BLOCKS

DECODERS = ("taesd", "vae")
"""``taesd``: TAESDXL (fast, the default); ``vae``: SDXL-Turbo's own full VAE (in float32)."""

_WEIGHTS = ("*.safetensors", "*.safetensors.index.json")
SDXL_PARTS = ("unet", "text_encoder", "text_encoder_2")
SDXL_PULL = [
    "model_index.json",
    "scheduler/*",
    "tokenizer/*",
    "tokenizer_2/*",
    "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "text_encoder/config.json",
    "text_encoder/model.fp16.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.fp16.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.fp16.safetensors",
]
"""The diffusers-format fp16 files (about 7 GB); not the single-file checkpoints (21 GB)."""


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(
        any(folder.glob(pattern)) for pattern in _WEIGHTS
    )


def _sdxl_missing(decoder: str) -> list[str]:
    snap = snapshot_dir(SDXL_TURBO_REPO)
    if snap is None:
        return [f"SDXL-Turbo ({SDXL_TURBO_REPO})"]
    out = [f"SDXL-Turbo {name}/" for name in SDXL_PARTS if not _has_weights(snap / name)]
    for name in ("tokenizer", "tokenizer_2"):
        if (
            not (snap / name / "vocab.json").is_file()
            and not (snap / name / "tokenizer.json").is_file()
        ):
            out.append(f"SDXL-Turbo {name}/")
    if not (snap / "scheduler" / "scheduler_config.json").is_file():
        out.append("SDXL-Turbo scheduler/")
    if decoder == "vae" and not _has_weights(snap / "vae"):
        out.append("SDXL-Turbo vae/")
    return out


def _sae_missing() -> list[str]:
    from hambajuba_tui.engine.sae import find_sae

    out = []
    for block in BLOCKS:
        try:
            find_sae(block)
        except ModelMissing:
            out.append(f"SAE for {block} ({SAE_REPO})")
    return out


def missing(decoder: str = "taesd") -> list[str]:
    """What the sdxl-turbo engine lacks on this machine (empty when it can load)."""
    out = _sdxl_missing(decoder)
    if decoder == "taesd":
        snap = snapshot_dir(TAESDXL_REPO)
        if snap is None or not _has_weights(snap):
            out.append(f"TAESDXL ({TAESDXL_REPO})")
    return out + _sae_missing()


@dataclass(frozen=True)
class Item:
    """One thing ``models pull`` fetches and ``models status`` reports."""

    name: str
    repo: str
    repo_type: str = "model"
    allow: tuple[str, ...] | None = None


def items() -> list[Item]:
    from hambajuba_tui.engine.sae import sae_folder_name

    return [
        Item("SDXL-Turbo (fp16)", SDXL_TURBO_REPO, allow=tuple(SDXL_PULL)),
        Item("TAESDXL", TAESDXL_REPO, allow=("config.json", "diffusion_pytorch_model.safetensors")),
        Item(
            "SAEs (4 blocks)",
            SAE_REPO,
            allow=tuple(f"{sae_folder_name(b)}/*" for b in BLOCKS)
            + tuple(f"{sae_folder_name(b)}/final/*" for b in BLOCKS),
        ),
        Item("feature labels", LABELS_REPO, repo_type="dataset"),
    ]


def status() -> list[dict[str, Any]]:
    """Per item: name, repo, present, path, bytes, and what is missing."""
    rows = []
    lacks = {"SDXL-Turbo (fp16)": _sdxl_missing("taesd"), "SAEs (4 blocks)": _sae_missing()}
    for item in items():
        snap = snapshot_dir(item.repo, item.repo_type)
        gaps = lacks.get(item.name, [])
        if item.name == "TAESDXL" and (snap is None or not _has_weights(snap)):
            gaps = [item.repo]
        present = snap is not None and not gaps
        rows.append(
            {
                "name": item.name,
                "repo": item.repo,
                "present": present,
                "path": str(snap) if snap else None,
                "bytes": tree_size(snap) if snap else 0,
                "missing": gaps,
            }
        )
    return rows


def pull(only: list[str] | None = None, log: Callable[[str], None] = print) -> list[Path]:
    """Download every item (or those whose name starts with one of ``only``) into the Hugging
    Face cache, with huggingface_hub's progress bars. Raises RuntimeError on failure."""
    from huggingface_hub import snapshot_download

    paths = []
    for item in items():
        if only and not any(item.name.lower().startswith(o.lower()) for o in only):
            continue
        log(f"pulling {item.name} from {item.repo} into {hub_cache()}")
        try:
            path = snapshot_download(
                item.repo,
                repo_type=item.repo_type,
                cache_dir=hub_cache(),
                allow_patterns=list(item.allow) if item.allow else None,
            )
        except Exception as exc:  # offline, no network, auth, disk full: one clear line
            why = " (HF_HUB_OFFLINE is set)" if offline() else ""
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RuntimeError(
                f"could not download {item.name} ({item.repo}){why}: "
                f"{type(exc).__name__}: {first}; check network access to "
                "huggingface.co"
            ) from None
        paths.append(Path(path))
    return paths


# -- choosing the engine (TUI process, torch-free) ---------------------------------------------
_PROBE = (
    "import torch; print('cuda' if torch.cuda.is_available() else 'mps' "
    "if torch.backends.mps.is_available() else 'cpu')"
)


def probe_accelerator(timeout: float = 120.0) -> str:
    """'cuda', 'mps', 'cpu', or 'none: <why>' — found by a child Python so this process never
    imports torch."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"none: probe failed ({exc})"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"none: torch is not usable ({lines[-1] if lines else done.returncode})"
    return done.stdout.strip() or "none: probe printed nothing"


def resolve_engine(
    requested: str, decoder: str = "taesd", probe: Callable[[], str] = probe_accelerator
) -> tuple[str, str | None]:
    """(engine to run, note for the user or None).

    ``auto`` picks sdxl-turbo when the weights and an accelerator are present, else says what
    is missing and picks the preview. ``sdxl-turbo`` without weights raises ModelMissing.
    """
    if requested == "preview":
        return "preview", None
    lacking = missing(decoder)
    if lacking:
        what = ", ".join(lacking)
        if requested == "sdxl-turbo":
            raise ModelMissing(f"sdxl-turbo weights: {what}", PULL_HINT)
        return "preview", f"sdxl-turbo needs {what}: {PULL_HINT}; running the preview engine"
    device = probe()
    if device in ("cuda", "mps"):
        return "sdxl-turbo", None
    if requested == "sdxl-turbo":
        return "sdxl-turbo", (
            f"no GPU found ({device}): sdxl-turbo runs on the CPU at seconds per frame"
        )
    return "preview", (
        f"sdxl-turbo weights are present but no GPU was found ({device}); "
        "running the preview engine (use --engine sdxl-turbo to force the CPU)"
    )


# -- loading (engine worker only) ----------------------------------------------------------------
@dataclass
class SdxlModels:
    unet: Any
    decoder: Any
    decoder_kind: str
    text_encoder: Any
    text_encoder_2: Any
    tokenizer: Any
    tokenizer_2: Any
    scheduler: Any
    device: Any
    dtype: Any


def pick_device(requested: str | None = None):
    import torch

    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _variant(folder: Path, on_cpu: bool) -> str | None:
    """fp16 files on accelerators when present; on the CPU the float32 files when present,
    else the fp16 ones (upcast on load)."""
    names = [p.name for p in folder.glob("*.safetensors*")]
    fp16 = any(".fp16." in n for n in names)
    full = any(
        ".fp16." not in n and (n.endswith(".safetensors") or n.endswith(".index.json"))
        for n in names
    )
    if on_cpu:
        return None if full else ("fp16" if fp16 else None)
    return "fp16" if fp16 else None


def quiet_libraries() -> None:
    """No progress bars, info logs or deprecation chatter from diffusers / transformers /
    huggingface_hub: the worker shares the terminal with the TUI, and stray output would
    scribble over the screen. Errors still raise."""
    import warnings

    import diffusers
    import transformers
    from huggingface_hub.utils import disable_progress_bars

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    disable_progress_bars()
    warnings.filterwarnings("ignore", module=r"(diffusers|transformers|huggingface_hub)\b")


def load_sdxl(device=None, dtype=None, decoder: str = "taesd") -> SdxlModels:
    """SDXL-Turbo from the Hugging Face cache (local files only): UNet, both text encoders and
    tokenizers, the scheduler (EulerAncestral, trailing), and the decoder (TAESDXL or the VAE)."""
    quiet_libraries()
    import torch
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerAncestralDiscreteScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {', '.join(DECODERS)}")
    lacking = missing(decoder)
    if lacking:
        raise ModelMissing(", ".join(lacking), PULL_HINT)
    device = pick_device() if device is None else torch.device(device)
    if dtype is None:
        dtype = torch.float32 if device.type == "cpu" else torch.float16
    snap = snapshot_dir(SDXL_TURBO_REPO)
    cpu = device.type == "cpu"
    common = dict(cache_dir=str(hub_cache()), local_files_only=True, use_safetensors=True)

    def part(cls, sub: str, dtype_key: str = "torch_dtype"):
        # diffusers takes torch_dtype, transformers (≥ 4.56) dtype
        return cls.from_pretrained(
            SDXL_TURBO_REPO,
            subfolder=sub,
            **{dtype_key: dtype},
            variant=_variant(snap / sub, cpu),
            **common,
        )

    unet = part(UNet2DConditionModel, "unet")
    te1 = part(CLIPTextModel, "text_encoder", "dtype")
    te2 = part(CLIPTextModelWithProjection, "text_encoder_2", "dtype")
    tok1 = CLIPTokenizer.from_pretrained(
        SDXL_TURBO_REPO, subfolder="tokenizer", cache_dir=str(hub_cache()), local_files_only=True
    )
    tok2 = CLIPTokenizer.from_pretrained(
        SDXL_TURBO_REPO, subfolder="tokenizer_2", cache_dir=str(hub_cache()), local_files_only=True
    )
    config = EulerAncestralDiscreteScheduler.load_config(
        SDXL_TURBO_REPO, subfolder="scheduler", cache_dir=str(hub_cache()), local_files_only=True
    )
    scheduler = EulerAncestralDiscreteScheduler.from_config(config, timestep_spacing="trailing")
    if decoder == "taesd":
        dec = AutoencoderTiny.from_pretrained(TAESDXL_REPO, torch_dtype=dtype, **common)
    else:  # the full VAE overflows in fp16: always float32
        dec = AutoencoderKL.from_pretrained(
            SDXL_TURBO_REPO,
            subfolder="vae",
            torch_dtype=torch.float32,
            variant=_variant(snap / "vae", cpu),
            **common,
        )
    for module in (unet, te1, te2, dec):
        module.to(device).eval().requires_grad_(False)
    return SdxlModels(unet, dec, decoder, te1, te2, tok1, tok2, scheduler, device, dtype)


__all__ = [
    "DECODERS",
    "SdxlModels",
    "items",
    "load_sdxl",
    "missing",
    "pick_device",
    "probe_accelerator",
    "pull",
    "resolve_engine",
    "status",
]
