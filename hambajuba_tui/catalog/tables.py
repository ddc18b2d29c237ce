"""Label tables: the published per-block JSON format, validation, and atomic import.

A table is ``<block>.json``: a JSON list of rows ``{id, label, category, confidence,
meanActivation}`` (see DESIGN.md, "Feature labels"). Imported tables live in
``data_dir()/labels/`` beside ``manifest.json`` (where they came from, each file's sha256).
Every table of an import is validated before anything is written, and the labels directory is
swapped in one rename, so a bad file or a crash never leaves a half import.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hambajuba_tui.catalog.errors import CatalogError
from hambajuba_tui.paths import data_dir
from hambajuba_tui.safeio import LoadError, check_regular, load_json, nesting_depth, read_bytes
from hambajuba_tui.vocab import BLOCKS, N_FEATURES, is_feature_id

CONFIDENCES: tuple[str, ...] = ("high", "medium", "low")
FIELDS = ("id", "label", "category", "confidence", "meanActivation")
MAX_TABLE_BYTES = 64 * 1024 * 1024
MAX_TABLE_DEPTH = 8
"""A table is a list of flat rows: two levels; a little room for extra fields."""
MANIFEST = "manifest.json"


class LabelError(CatalogError):
    """A label table that cannot be used; the message names the file (and row, where known)."""


@dataclass(frozen=True)
class Feature:
    """One labelled SAE feature. ``label`` is "" for a feature its table does not describe."""

    block: str
    id: int
    label: str
    category: str
    confidence: str
    mean_activation: float

    @property
    def key(self) -> str:
        """``BLOCK:ID``, how the CLI and the TUI name a feature."""
        return f"{self.block}:{self.id}"

    @property
    def labelled(self) -> bool:
        return bool(self.label) and self.label != "unlabeled"


@dataclass(frozen=True)
class LabelTable:
    """One block's rows, in id order, and the sha256 of the bytes they came from."""

    block: str
    rows: tuple[Feature, ...]
    sha256: str
    source: str


def block_of(path: Path) -> str:
    """The block a table file describes, from its name (``up.0.1.json`` → ``up.0.1``)."""
    name = path.name[:-5] if path.name.endswith(".json") else path.name
    if name not in BLOCKS:
        raise LabelError(
            f"{path}: cannot tell which block this table is for; name it "
            f"<block>.json with block one of {', '.join(BLOCKS)}"
        )
    return name


def _row(origin: str, n: int, raw: object, block: str) -> Feature:
    where = f"{origin}: row {n}"
    if not isinstance(raw, dict):
        raise LabelError(
            f"{where}: expected an object with {', '.join(FIELDS)}, got {type(raw).__name__}"
        )
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise LabelError(f"{where}: missing {', '.join(repr(f) for f in missing)}")
    fid, label, category = raw["id"], raw["label"], raw["category"]
    where = f"{origin}: row {n} (id {fid!r})"
    if not is_feature_id(fid):
        raise LabelError(f"{where}: id must be an integer 0..{N_FEATURES - 1}")
    if not isinstance(label, str):
        raise LabelError(f"{where}: label must be a string, got {label!r}")
    if not isinstance(category, str) or not category.strip():
        raise LabelError(f"{where}: category must be a non-empty string, got {category!r}")
    if raw["confidence"] not in CONFIDENCES:
        raise LabelError(
            f"{where}: confidence must be one of {', '.join(CONFIDENCES)}, "
            f"got {raw['confidence']!r}"
        )
    mean = raw["meanActivation"]
    if (
        isinstance(mean, bool)
        or not isinstance(mean, int | float)
        or not math.isfinite(mean)
        or mean < 0
    ):
        raise LabelError(f"{where}: meanActivation must be a finite number ≥ 0, got {mean!r}")
    return Feature(
        block, fid, label.strip(), category.strip().lower(), raw["confidence"], float(mean)
    )


def parse_table(data: bytes, origin: str, block: str) -> LabelTable:
    """Validate one table's bytes; ``origin`` names the file in every error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelError(f"{origin}: not UTF-8 text (byte {exc.start})") from None
    depth = nesting_depth(text, toml=False)
    if depth > MAX_TABLE_DEPTH:
        raise LabelError(
            f"{origin}: nested {depth} levels deep; a label table is a list of rows "
            f"(at most {MAX_TABLE_DEPTH} levels)"
        )
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelError(
            f"{origin}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise LabelError(f"{origin}: nested too deeply for a label table") from None
    if not isinstance(rows, list):
        raise LabelError(f"{origin}: expected a JSON list of rows, got {type(rows).__name__}")
    if not rows:
        raise LabelError(f"{origin}: the table has no rows")
    features = [_row(origin, n, raw, block) for n, raw in enumerate(rows)]
    seen: dict[int, int] = {}
    for n, f in enumerate(features):
        if f.id in seen:
            raise LabelError(f"{origin}: row {n}: id {f.id} repeats row {seen[f.id]}")
        seen[f.id] = n
    features.sort(key=lambda f: f.id)
    return LabelTable(block, tuple(features), hashlib.sha256(data).hexdigest(), origin)


def read_table(path: Path, block: str | None = None) -> LabelTable:
    """Read and validate one table file."""
    path = Path(path)
    block = block or block_of(path)
    try:
        data = read_bytes(path, MAX_TABLE_BYTES, "label table")
    except LoadError as exc:
        raise LabelError(str(exc)) from None
    return parse_table(data, str(path), block)


def find_tables(folder: Path) -> list[Path]:
    """``<block>.json`` files anywhere under ``folder`` (the shallowest one per block)."""
    found = []
    for block in BLOCKS:
        matches = sorted(Path(folder).rglob(f"{block}.json"), key=lambda p: len(p.parts))
        if matches:
            found.append(matches[0])
    return found


def table_files(paths: Iterable[Path]) -> list[Path]:
    """The ``<block>.json`` files named by ``paths`` (files, or folders holding them)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = find_tables(p)
            if not inside:
                raise LabelError(
                    f"{p}: no label tables here (expected files named "
                    f"{', '.join(b + '.json' for b in BLOCKS)})"
                )
            found += inside
        elif p.exists():
            try:
                check_regular(p, "label table")
            except LoadError as exc:
                raise LabelError(str(exc)) from None
            found.append(p)
        else:
            raise LabelError(f"{p}: no such file or folder")
    blocks = [block_of(p) for p in found]
    for b in set(blocks):
        if blocks.count(b) > 1:
            raise LabelError(
                f"two tables for block {b}: " + ", ".join(str(p) for p in found if block_of(p) == b)
            )
    return found


def labels_dir() -> Path:
    """Where imported tables live (it may not exist yet)."""
    return data_dir() / "labels"


def import_tables(
    paths: Iterable[Path], source: str | None = None, into: Path | None = None
) -> list[LabelTable]:
    """Validate every table named by ``paths``, then install them all or none.

    Tables already imported for other blocks are kept. Returns the new tables.
    """
    files = table_files(paths)
    tables = [read_table(p) for p in files]
    dest = Path(into) if into is not None else labels_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(dest)
    stage = dest.parent / f".{dest.name}.new-{os.getpid()}"
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        if dest.is_dir():
            shutil.copytree(dest, stage)
        else:
            stage.mkdir()
        for path, table in zip(files, tables):
            shutil.copyfile(path, stage / f"{table.block}.json")
            manifest[table.block] = {
                "sha256": table.sha256,
                "rows": len(table.rows),
                "source": source or str(Path(path).resolve()),
                "imported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if dest.exists():
            dest.rename(old)
        stage.rename(dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if old.exists() and not dest.exists():
            old.rename(dest)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return tables


def read_manifest(folder: Path) -> dict[str, dict]:
    try:
        data = load_json(folder / MANIFEST, "label manifest", 1024 * 1024)
    except LoadError:
        return {}
    return data if isinstance(data, dict) else {}


def load_tables(folder: Path | None = None) -> dict[str, LabelTable]:
    """Every imported table, by block (blocks without a table are absent)."""
    folder = Path(folder) if folder is not None else labels_dir()
    return {
        b: read_table(folder / f"{b}.json", b) for b in BLOCKS if (folder / f"{b}.json").exists()
    }
