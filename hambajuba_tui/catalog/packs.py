"""Feature packs: TOML files of default routes and a starter palette per block.

The schema is documented in ``features/README.md``. Built-in packs ship in ``features/``
(package ``hambajuba_tui.features``); user packs live in ``data_dir()/packs/<name>.toml`` and
shadow a built-in pack of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hambajuba_tui.bridge.dance import Stage
from hambajuba_tui.bridge.session import SOURCES, STAGE_RANGE, BlockSettings, Session
from hambajuba_tui.catalog.errors import CatalogError
from hambajuba_tui.paths import data_dir
from hambajuba_tui.safeio import MAX_TOML_BYTES, LoadError, parse_toml, read_text
from hambajuba_tui.vocab import BLOCKS, N_FEATURES, is_feature_id


class PackError(CatalogError):
    """A feature pack that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Route:
    """A pack's default route: a source drives one block's feature up to ``strength``."""

    block: str
    source: str
    feature_id: int
    strength: float = 8.0


@dataclass(frozen=True)
class FeaturePack:
    name: str
    routes: tuple[Route, ...]
    starters: dict[str, tuple[int, ...]]

    def session(self) -> Session:
        """The default Session: each route's stem pushes its feature from 0 up to its strength."""
        by_block = {r.block: r for r in self.routes}
        blocks = tuple(
            BlockSettings(source=r.source, feature=r.feature_id, stage=Stage(0.0, 0.0, r.strength))
            if (r := by_block.get(name))
            else BlockSettings()
            for name in BLOCKS
        )
        return Session(blocks=blocks)


def _check_feature(where: str, value) -> int:
    if not is_feature_id(value):
        raise PackError(f"{where}: feature must be an integer 0..{N_FEATURES - 1}, got {value!r}")
    return value


PACK_KEYS = {"version", "name", "route", "starters"}
PACK_VERSION = 1


def parse_pack(text: str, origin: str) -> FeaturePack:
    try:
        data = parse_toml(text, origin)
    except LoadError as exc:
        raise PackError(str(exc)) from None
    unknown = set(data) - PACK_KEYS
    if unknown:
        raise PackError(
            f"{origin}: unknown key {sorted(unknown)[0]!r} "
            f"(a pack has {', '.join(sorted(PACK_KEYS))})"
        )
    if data.get("version", PACK_VERSION) != PACK_VERSION:
        raise PackError(f"{origin}: version must be {PACK_VERSION}, got {data['version']!r}")
    if not isinstance(data.get("name", ""), str):
        raise PackError(f"{origin}: name must be a string")
    if not isinstance(data.get("route", []), list):
        raise PackError(f"{origin}: route must be an array of tables ([[route]])")
    if not isinstance(data.get("starters", {}), dict):
        raise PackError(f"{origin}: starters must be a table ([starters])")
    routes = []
    for n, raw in enumerate(data.get("route", []), 1):
        where = f"{origin} [[route]] #{n}"
        unknown = set(raw) - {"block", "source", "feature", "strength"}
        if unknown:
            raise PackError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        block, source = raw.get("block"), raw.get("source")
        if block not in BLOCKS:
            raise PackError(f"{where}: block must be one of {', '.join(BLOCKS)}, got {block!r}")
        if source not in SOURCES:
            raise PackError(f"{where}: source {source!r} is not a stem or derived source")
        strength = raw.get("strength", 8.0)
        lo, hi = STAGE_RANGE
        if not isinstance(strength, int | float) or not lo <= strength <= hi:
            raise PackError(
                f"{where}: strength must be a number in {lo:g}..{hi:g}, got {strength!r}"
            )
        routes.append(
            Route(block, source, _check_feature(where, raw.get("feature")), float(strength))
        )
    starters = {}
    for block, ids in data.get("starters", {}).items():
        if block not in BLOCKS:
            raise PackError(f"{origin} [starters]: unknown block {block!r}")
        if not isinstance(ids, list):
            raise PackError(f"{origin} [starters] {block}: expected a list of feature ids")
        starters[block] = tuple(_check_feature(f"{origin} [starters] {block}", i) for i in ids)
    return FeaturePack(str(data.get("name", origin)), tuple(routes), starters)


def user_packs_dir() -> Path:
    """Where users keep their own packs (created on demand)."""
    path = data_dir() / "packs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _builtin(name: str) -> str | None:
    entry = resources.files("hambajuba_tui.features").joinpath(f"{name}.toml")
    return entry.read_text("utf-8") if entry.is_file() else None


def list_packs() -> dict[str, str]:
    """Pack name → where it comes from ("built-in" or the user file), user packs winning."""
    found = {
        e.name[:-5]: "built-in"
        for e in resources.files("hambajuba_tui.features").iterdir()
        if e.name.endswith(".toml")
    }
    found.update({p.stem: str(p) for p in sorted(user_packs_dir().glob("*.toml"))})
    return dict(sorted(found.items()))


def _read(path: Path) -> str:
    try:
        return read_text(path, MAX_TOML_BYTES, "pack")
    except LoadError as exc:
        raise PackError(str(exc)) from None


def load_pack(path: Path | str | None = None) -> FeaturePack:
    """A pack by file path, or by name (user packs, then built-in); default: ``default``."""
    if path is None:
        path = "default"
    candidate = Path(path)
    name = str(path)
    is_name = candidate.suffix != ".toml" and candidate.name == name
    if not is_name or candidate.is_file():
        return parse_pack(_read(candidate), str(candidate))
    user = user_packs_dir() / f"{name}.toml"
    if user.exists():
        return parse_pack(_read(user), str(user))
    text = _builtin(name)
    if text is None:
        raise PackError(
            f"no pack named {name!r} (packs: {', '.join(list_packs())}; "
            f"user packs go in {user_packs_dir()})"
        )
    return parse_pack(text, f"features/{name}.toml")
