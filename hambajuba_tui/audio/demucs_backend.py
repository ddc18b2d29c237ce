"""The ``demucs`` stem backend: Hybrid Transformer Demucs (``htdemucs``), from local weights only.

Nothing here imports torch at module level, and the process that calls :func:`separate_demucs`
never imports it at all: the separation runs in a child process
(``python -m hambajuba_tui.audio.demucs_backend``), so the TUI process stays free of torch.
The child gets the stereo mix as a ``.npy`` file, prints ``progress <fraction>`` lines while it
works and writes the four mono stems back as ``.npy`` files.

Weights are never downloaded during analysis. ``htdemucs`` is looked for in

* the Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``): repository ``adefossez/HTDemucs``, files ``htdemucs.yaml`` and
  one ``<signature>.safetensors`` per model of the bag (where demucs >= 4.1 puts them), and
* the torch hub cache (``$TORCH_HOME/hub/checkpoints``, else ``~/.cache/torch/hub/checkpoints``):
  the legacy ``<signature>-<checksum>.th`` files of older demucs releases.

Only when one of them holds every file does the child call ``demucs.pretrained.get_model``, with
``HF_HUB_OFFLINE=1`` so that the hub client reads its cache and asks no server. To fetch the
weights once (about 80 MB, needs the network), see :data:`FETCH_HINT`.

Model sources come ordered ``drums, bass, other, vocals``; the stems are matched by name, mixed
down to mono float32 and returned as ``bass, drums, vocals, other``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hambajuba_tui.audio.decode import AudioError
from hambajuba_tui.vocab import PHYSICAL_STEMS

MODEL_NAME = "htdemucs"
TEST_MODEL_NAME = "demucs_unittest"
"""A tiny, randomly initialised model that demucs builds without any weights (for tests)."""
HF_REPO_ID = "adefossez/HTDemucs"
INSTALL_HINT = "pip install 'demucs>=4.1,<5' (next to torch; ./run setup installs it)"
FETCH_HINT = (
    "fetch them once with the network: python -c "
    "\"from demucs.pretrained import get_model; get_model('htdemucs')\""
)
SPLIT_OVERLAP = 0.25
"""Overlap of demucs' split segments (its default)."""
ERROR_PREFIX = "hambajuba-demucs-error: "
PROGRESS_PREFIX = "progress "

Progress = Callable[[float], None]
"""``progress(fraction)``: fraction of the separation done, in [0, 1]."""


@dataclass(frozen=True)
class Weights:
    """Where the local ``htdemucs`` weights are: ``source`` is "huggingface" or "torch hub"."""

    source: str
    files: tuple[Path, ...]


def is_installed() -> bool:
    """True when the ``demucs`` package and torch can be imported (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("demucs", "torch"))


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache directory, from the environment as it is now."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def torch_hub_checkpoints() -> Path:
    """The torch hub checkpoint directory, from the environment as it is now."""
    if os.environ.get("TORCH_HOME"):
        home = Path(os.environ["TORCH_HOME"]).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        home = Path(xdg).expanduser() / "torch"
    return home / "hub" / "checkpoints"


def _hf_snapshot() -> Path | None:
    """The cached snapshot of ``adefossez/HTDemucs`` that the hub's ``main`` ref points to."""
    repo = hf_hub_cache() / ("models--" + HF_REPO_ID.replace("/", "--"))
    try:
        commit = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snapshot = repo / "snapshots" / commit
    return snapshot if commit and snapshot.is_dir() else None


def _signatures(bag_file: Path) -> list[str]:
    """Model signatures listed in a demucs bag yaml (``models: ['955717e8']``)."""
    import yaml  # a demucs dependency; only reached when demucs is installed

    try:
        bag = yaml.safe_load(bag_file.read_text(encoding="utf-8"))
        return [str(sig) for sig in bag["models"]]
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return []


def _legacy_files() -> list[Path] | None:
    """Torch hub files for ``htdemucs`` as the installed demucs names them, or None."""
    spec = importlib.util.find_spec("demucs")
    if spec is None or not spec.submodule_search_locations:
        return None
    remote = Path(next(iter(spec.submodule_search_locations))) / "remote"
    sigs = _signatures(remote / f"{MODEL_NAME}.yaml")
    try:
        listing = (remote / "files.txt").read_text(encoding="utf-8").split()
    except OSError:
        return None
    names = {line.split("-", 1)[0]: line for line in listing if line.endswith(".th")}
    if not sigs or any(sig not in names for sig in sigs):
        return None
    return [torch_hub_checkpoints() / names[sig] for sig in sigs]


def find_weights() -> Weights | None:
    """The local ``htdemucs`` weights, or None when no cache holds all of them. Reads only."""
    snapshot = _hf_snapshot()
    if snapshot is not None and (snapshot / f"{MODEL_NAME}.yaml").is_file():
        sigs = _signatures(snapshot / f"{MODEL_NAME}.yaml")
        files = [snapshot / f"{sig}.safetensors" for sig in sigs]
        if sigs and all(f.is_file() for f in files):
            return Weights("huggingface", (snapshot / f"{MODEL_NAME}.yaml", *files))
    legacy = _legacy_files()
    if legacy and all(f.is_file() for f in legacy):
        return Weights("torch hub", tuple(legacy))
    return None


def missing_weights_message() -> str:
    """One line: the htdemucs weights are missing, where they were looked for, how to get them."""
    return (
        f"demucs: the {MODEL_NAME} weights are not on this machine (looked in the Hugging "
        f"Face cache {hf_hub_cache()} for {HF_REPO_ID}, and in the torch hub cache "
        f"{torch_hub_checkpoints()}); {FETCH_HINT}"
    )


def not_installed_message() -> str:
    return f"demucs: the demucs package is not installed; {INSTALL_HINT}"


def availability() -> tuple[bool, str]:
    """(usable, why): whether demucs and the htdemucs weights are both here. No torch import."""
    if not is_installed():
        return False, not_installed_message()
    weights = find_weights()
    if weights is None:
        return False, missing_weights_message()
    return True, f"demucs {MODEL_NAME} weights found in the {weights.source} cache"


def separate_demucs(
    stereo: np.ndarray,
    sr: int,
    progress: Progress | None = None,
    *,
    model_name: str = MODEL_NAME,
    device: str | None = None,
) -> dict[str, np.ndarray]:
    """The ``demucs`` backend: stereo float32 [n, 2] (or mono [n]) at ``sr`` Hz -> stem -> mono
    float32 [n] for ``bass, drums, vocals, other``.

    Runs in a child process (this process never imports torch). ``model_name`` is
    ``"htdemucs"`` (local weights only) or ``"demucs_unittest"`` (random, for tests); ``device``
    defaults to CUDA when available, else the CPU. Raises :class:`AudioError` with a one-line
    message when demucs or the weights are missing or the separation fails.
    """
    if not is_installed():
        raise AudioError(not_installed_message())
    if model_name == MODEL_NAME and find_weights() is None:
        raise AudioError(missing_weights_message())
    x = np.asarray(stereo, dtype=np.float32)
    n = x.shape[0]
    if n == 0:
        return {name: np.zeros(0, dtype=np.float32) for name in PHYSICAL_STEMS}
    report = progress or (lambda fraction: None)
    with tempfile.TemporaryDirectory(prefix="hambajuba-demucs-") as tmp:
        work = Path(tmp)
        np.save(work / "mix.npy", x)
        cmd = [sys.executable, "-m", __name__, str(work), str(sr), model_name, device or "auto"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        with (
            tempfile.TemporaryFile(mode="w+", encoding="utf-8") as err,
            subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            ) as proc,
        ):
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    fraction = _progress_value(line)
                    if fraction is not None:
                        report(fraction)
                code = proc.wait()
            except BaseException:
                proc.kill()
                raise
            err.seek(0)
            errors = err.read()
        if code != 0:
            lines = [ln for ln in errors.splitlines() if ln.strip()]
            ours = [ln[len(ERROR_PREFIX) :] for ln in lines if ln.startswith(ERROR_PREFIX)]
            detail = ours[-1] if ours else (lines[-1] if lines else f"exit code {code}")
            raise AudioError(detail if ours else f"demucs: separation failed: {detail}")
        stems = {name: np.load(work / f"{name}.npy") for name in PHYSICAL_STEMS}
    for name, y in stems.items():
        if y.shape != (n,) or y.dtype != np.float32:
            raise AudioError(f"demucs: stem {name} came back as {y.dtype} {y.shape}, not [{n}]")
    return stems


def _progress_value(line: str) -> float | None:
    """The fraction in a child's ``progress <fraction>`` line, else None."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        return float(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None


def load_model(model_name: str = MODEL_NAME):
    """The demucs model (a ``BagOfModels`` for htdemucs), in eval mode. Imports torch.

    For ``htdemucs`` the weights must already be cached (see the module docstring); call this
    with ``HF_HUB_OFFLINE=1`` set before ``huggingface_hub`` is first imported.
    """
    from demucs.pretrained import get_model

    if model_name == MODEL_NAME and find_weights() is None:
        raise AudioError(missing_weights_message())
    try:
        model = get_model(model_name)
    except AudioError:
        raise
    except Exception as exc:  # demucs raises several kinds; say which model and why
        raise AudioError(f"demucs: could not load {model_name}: {exc}") from None
    model.eval()
    return model


def separate_in_process(
    stereo: np.ndarray,
    sr: int,
    model,
    progress: Progress | None = None,
    device: str | None = None,
    segment: float | None = None,
) -> dict[str, np.ndarray]:
    """Run ``model`` on stereo float32 [n, 2] in this process (imports torch). Returns stem ->
    mono float32 [n]. Normalises the mix like the demucs command line does (zero mean, unit
    std of the mono reference), splits it into overlapping segments (``segment`` seconds,
    default the model's own) and reports progress per segment."""
    import torch
    from demucs.apply import apply_model

    report = progress or (lambda fraction: None)
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    x = np.asarray(stereo, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    channels = getattr(model, "audio_channels", 2)
    x = np.repeat(x[:, :1], channels, axis=1) if x.shape[1] < channels else x[:, :channels]
    wav = torch.from_numpy(np.ascontiguousarray(x.T))
    if sr != model.samplerate:
        import julius

        wav = julius.resample_frac(wav, sr, model.samplerate)
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    wav = (wav - mean) / std

    length = wav.shape[-1]
    segment = float(segment or getattr(model, "segment", 0) or 0)
    stride = max(1, int((1 - SPLIT_OVERLAP) * int(model.samplerate * segment))) if segment else 0
    n_chunks = max(1, -(-length // stride)) if stride else 1

    def on_chunk(info: dict) -> None:
        if info.get("state") != "end":
            return
        models = max(1, int(info.get("models", 1)))
        chunk = int(info.get("segment_offset", 0)) // stride + 1 if stride else 1
        report(min(1.0, (int(info.get("model_idx_in_bag", 0)) + chunk / n_chunks) / models))

    report(0.0)
    with torch.inference_mode():
        out = apply_model(
            model,
            wav[None],
            shifts=1,
            split=True,
            overlap=SPLIT_OVERLAP,
            progress=False,
            device=device,
            num_workers=0,
            callback=on_chunk,
            segment=segment or None,
        )
    out = (out[0] * std + mean).float()
    if sr != model.samplerate:
        import julius

        out = julius.resample_frac(out, model.samplerate, sr)
    out = out[..., :n]
    if out.shape[-1] < n:
        out = torch.nn.functional.pad(out, (0, n - out.shape[-1]))
    mono = out.mean(dim=1).cpu().numpy().astype(np.float32)
    by_name = dict(zip(model.sources, mono))
    missing = [name for name in PHYSICAL_STEMS if name not in by_name]
    if missing:
        raise AudioError(
            f"demucs: the model has no {', '.join(missing)} source "
            f"(it has {', '.join(model.sources)})"
        )
    report(1.0)
    return {name: np.ascontiguousarray(by_name[name]) for name in PHYSICAL_STEMS}


def main(argv: list[str] | None = None) -> int:
    """Child process: ``WORKDIR SR MODEL DEVICE``; reads WORKDIR/mix.npy, writes
    WORKDIR/<stem>.npy, prints ``progress <fraction>`` lines, errors as one prefixed line."""
    workdir, sr, model_name, device = argv if argv is not None else sys.argv[1:]
    work = Path(workdir)
    try:
        mix = np.load(work / "mix.npy")
        model = load_model(model_name)

        def progress(fraction: float) -> None:
            print(f"{PROGRESS_PREFIX}{fraction:.4f}", flush=True)

        stems = separate_in_process(mix, int(sr), model, progress, device)
        for name, y in stems.items():
            np.save(work / f"{name}.npy", y)
    except AudioError as exc:
        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr, flush=True)
        return 3
    except MemoryError:
        print(f"{ERROR_PREFIX}demucs: out of memory while separating", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
