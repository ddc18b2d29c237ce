"""``hambajuba features pull``: the published tables from the Hugging Face dataset.

``huggingface_hub.snapshot_download`` fetches (or, with ``HF_HUB_OFFLINE=1``, only finds) the
dataset in the hub cache (``HF_HOME`` / ``HF_HUB_CACHE``, read at call time); the tables are
then validated and imported into the user data dir like ``features import``.
"""

from __future__ import annotations

from pathlib import Path

from hambajuba_tui.catalog.tables import LabelError, LabelTable, find_tables, import_tables
from hambajuba_tui.engine.hub import LABELS_REPO, hub_cache, offline
from hambajuba_tui.vocab import BLOCKS


def download(revision: str | None = None) -> Path:
    """The dataset snapshot folder in the hub cache (downloading unless offline)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id=LABELS_REPO,
                repo_type="dataset",
                revision=revision,
                cache_dir=str(hub_cache()),
                local_files_only=offline(),
                allow_patterns=["*.json", "*.md"],
            )
        )
    except Exception as exc:  # network, auth, missing cache: one clear line
        where = "in the local Hugging Face cache" if offline() else "from huggingface.co"
        hint = " (HF_HUB_OFFLINE is set: only the local cache is used)" if offline() else ""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LabelError(f"could not get dataset {LABELS_REPO} {where}{hint}: {detail}") from None


def pull(revision: str | None = None) -> tuple[Path, list[LabelTable]]:
    """Download (or find) the dataset and import its tables; returns (snapshot, tables)."""
    folder = download(revision)
    files = find_tables(folder)
    if not files:
        raise LabelError(
            f"{folder}: the dataset snapshot holds no label tables "
            f"(expected {', '.join(b + '.json' for b in BLOCKS)})"
        )
    source = f"hf://datasets/{LABELS_REPO}@{folder.name}"
    return folder, import_tables(files, source=source)
