"""Small label tables the catalog tests make, and where the published tables may be."""

from __future__ import annotations

import json
import os
from pathlib import Path

PUBLISHED = Path(
    os.environ.get("HAMBAJUBA_LABELS", Path(__file__).resolve().parents[2] / "shared" / "labels")
)
HAVE_PUBLISHED = all(
    (PUBLISHED / f"{b}.json").is_file() for b in ("down.2.1", "mid.0", "up.0.0", "up.0.1")
)

UP01 = [
    ("warm amber glow", "lighting", "high", 20.0),
    ("cold blue moonlight", "lighting", "high", 18.0),
    ("glowing neon tubes", "lighting", "medium", 25.0),
    ("neon sign lettering", "style", "low", 12.0),
    ("rough tree bark texture", "texture", "high", 30.0),
    ("smooth polished marble", "material", "high", 22.0),
    ("watercolour wash", "style", "high", 15.0),
    ("flames and burning fire", "lighting", "high", 27.0),
    ("Pok\u00e9mon characters", "style", "medium", 11.0),
    ("neonish haze", "color", "high", 9.0),
    ("fluffy kitten fur", "texture", "high", 33.0),
    ("ocean waves at sunset", "color", "high", 21.0),
]

MID0 = [
    ("spiral or circular pattern emphasis", "symmetry", "high", 17.0),
    ("tunnel-like depth with receding perspective", "depth", "high", 15.5),
    ("dense cluttered arrangement", "density", "medium", 19.0),
    ("framed portrait border", "border", "high", 16.4),
]


def rows(spec: list[tuple[str, str, str, float]]) -> list[dict]:
    return [
        {"id": i, "label": label, "category": cat, "confidence": conf, "meanActivation": mean}
        for i, (label, cat, conf, mean) in enumerate(spec)
    ]


def write_table(folder: Path, block: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{block}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def small_tables(folder: Path) -> Path:
    """``up.0.1`` and ``mid.0`` tables in the published format."""
    write_table(folder, "up.0.1", rows(UP01))
    write_table(folder, "mid.0", rows(MID0))
    return folder
