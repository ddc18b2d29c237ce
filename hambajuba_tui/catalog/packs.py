"""Feature packs: the project's own TOML files of default routes and starter features."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hambajuba_tui.bridge.dance import Stage
from hambajuba_tui.bridge.session import N_FEATURES, SOURCES, BlockSettings, Session
from hambajuba_tui.vocab import BLOCKS


class PackError(ValueError):
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
            BlockSettings(source=r.source, feature=r.feature_id,
                          stage=Stage(0.0, 0.0, r.strength))
            if (r := by_block.get(name)) else BlockSettings()
            for name in BLOCKS
        )
        return Session(blocks=blocks)


def _check_feature(where: str, value) -> int:
    if not isinstance(value, int) or not 0 <= value < N_FEATURES:
        raise PackError(f"{where}: feature must be an integer 0..{N_FEATURES - 1}, got {value!r}")
    return value


def parse_pack(text: str, origin: str) -> FeaturePack:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{origin}: {exc}") from None
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
        if not isinstance(strength, int | float) or not -200 <= strength <= 200:
            raise PackError(f"{where}: strength must be a number in -200..200, got {strength!r}")
        routes.append(Route(block, source, _check_feature(where, raw.get("feature")),
                            float(strength)))
    starters = {}
    for block, ids in data.get("starters", {}).items():
        if block not in BLOCKS:
            raise PackError(f"{origin} [starters]: unknown block {block!r}")
        starters[block] = tuple(_check_feature(f"{origin} [starters] {block}", i) for i in ids)
    return FeaturePack(str(data.get("name", origin)), tuple(routes), starters)


def load_pack(path: Path | None = None) -> FeaturePack:
    """A pack from ``path``, or the built-in default pack."""
    if path is not None:
        return parse_pack(Path(path).read_text(encoding="utf-8"), str(path))
    text = resources.files("hambajuba_tui.features").joinpath("default.toml").read_text("utf-8")
    return parse_pack(text, "features/default.toml")
