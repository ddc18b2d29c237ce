"""Skins: TOML files that dress the creature. A bad skin never crashes the app.

:func:`load_skin` returns the skin and a list of problems; on any problem the built-in
default is used and each problem names the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_BORDERS = {"round", "heavy", "double", "solid", "ascii", "none"}


@dataclass(frozen=True)
class Skin:
    name: str
    colors: dict[str, str]
    stem_colors: dict[str, str]
    face_frame: tuple[str, ...]
    eyes: dict[str, str]
    mouths: dict[str, str]
    orb_stages: tuple[tuple[str, ...], ...]
    orb_flutter: tuple[str, ...]
    heart_border: str = "round"
    origin: str = "built-in"
    extra: dict = field(default_factory=dict)


class SkinError(ValueError):
    pass


def _builtin_text() -> str:
    return resources.files("hambajuba_tui.skins").joinpath("default.toml").read_text("utf-8")


def _color(where: str, value) -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise SkinError(f"{where}: expected a colour like \"#ff7eb6\", got {value!r}")
    return value


def _text(where: str, value, max_len: int = 8) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise SkinError(f"{where}: expected text of 1..{max_len} characters, got {value!r}")
    return value


def _check_keys(where: str, table: dict, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise SkinError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def parse_skin(text: str, origin: str, base: dict | None = None) -> Skin:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SkinError(f"{origin}: {exc}") from None
    if base is not None:
        data = _merge(base, data)
    _check_keys(origin, data, {"name", "colors", "face", "orbs", "heart"})
    colors = data.get("colors", {})
    _check_keys(f"{origin} [colors]", colors, {"background", "text", "accent", "dim", "stems"})
    stems = colors.get("stems", {})
    _check_keys(f"{origin} [colors.stems]", stems, {"bass", "drums", "vocals", "other", "global"})
    face = data.get("face", {})
    eye_keys = {f"eyes_{s}" for s in ("open", "closed", "wide", "asleep")}
    mouth_keys = {f"mouth_{s}" for s in ("rest", "open", "wide", "asleep")}
    _check_keys(f"{origin} [face]", face, {"frame"} | eye_keys | mouth_keys)
    frame = face.get("frame", [])
    if not (isinstance(frame, list) and 1 <= len(frame) <= 8
            and all(isinstance(line, str) for line in frame)):
        raise SkinError(f"{origin} [face] frame: expected 1..8 lines of text")
    joined = "\n".join(frame)
    if "{l}" not in joined or "{r}" not in joined:
        raise SkinError(f"{origin} [face] frame: needs the eye places {{l}} and {{r}}")
    orbs = data.get("orbs", {})
    _check_keys(f"{origin} [orbs]", orbs, {"stages", "flutter"})
    stages = orbs.get("stages", [])
    if not (isinstance(stages, list) and 2 <= len(stages) <= 8):
        raise SkinError(f"{origin} [orbs] stages: expected 2..8 stages")
    for n, stage in enumerate([*stages, orbs.get("flutter", stages[-1])]):
        ok = isinstance(stage, list) and len(stage) == 3 and all(isinstance(s, str) for s in stage)
        if not ok or len({len(s) for s in stage}) != 1:
            raise SkinError(f"{origin} [orbs] stage {n + 1}: expected three lines of equal width")
    heart = data.get("heart", {})
    _check_keys(f"{origin} [heart]", heart, {"border"})
    border = heart.get("border", "round")
    if border not in _BORDERS:
        raise SkinError(f"{origin} [heart] border: expected one of {sorted(_BORDERS)}")
    return Skin(
        name=str(data.get("name", origin)),
        colors={k: _color(f"{origin} [colors] {k}", v) for k, v in colors.items() if k != "stems"},
        stem_colors={k: _color(f"{origin} [colors.stems] {k}", v) for k, v in stems.items()},
        face_frame=tuple(frame),
        eyes={k[5:]: _text(f"{origin} [face] {k}", face[k], 2) for k in eye_keys if k in face},
        mouths={k[6:]: _text(f"{origin} [face] {k}", face[k], 4) for k in mouth_keys if k in face},
        orb_stages=tuple(tuple(s) for s in stages),
        orb_flutter=tuple(orbs.get("flutter", stages[-1])),
        heart_border=border,
        origin=origin,
    )


def default_skin() -> Skin:
    return parse_skin(_builtin_text(), "built-in default skin")


def load_skin(path: Path | None) -> tuple[Skin, list[str]]:
    """The skin at ``path`` over the default one; (default, [problem]) when it can't be used."""
    if path is None:
        return default_skin(), []
    base = tomllib.loads(_builtin_text())
    try:
        text = Path(path).read_text(encoding="utf-8")
        return parse_skin(text, str(path), base=base), []
    except (OSError, UnicodeDecodeError) as exc:
        return default_skin(), [f"{path}: cannot read skin ({exc}); using the default skin"]
    except SkinError as exc:
        return default_skin(), [f"{exc}; using the default skin"]
