"""The Session: every setting a user can edit, as one validated value.

Blocks (route, features, stage, sources, rank, mask, silence), scenes and composition. A
Session is frozen and picklable (it crosses the control pipe to the worker); edits make a new
one with :func:`dataclasses.replace`. Saved per song as a TOML "performance", so a setup
survives a restart; a bad file gives a clear error and the defaults.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from hambajuba_tui.bridge.dance import INTENSITY_SOURCES, SILENCE_MODES, Stage
from hambajuba_tui.bridge.masks import PRESETS
from hambajuba_tui.bridge.prominence import RANKS
from hambajuba_tui.bridge.scenes import MODES as SCENE_MODES
from hambajuba_tui.safeio import LoadError, load_toml
from hambajuba_tui.vocab import (
    BLOCKS,
    MASK_SIZE,
    PHYSICAL_STEMS,
    VIRTUAL_STEMS,
    feature_id_problem,
)

SOURCES = (*PHYSICAL_STEMS, *VIRTUAL_STEMS, "global", "tension", "tonal_distance")
POSITION_SOURCES = ("fixed", "pitch", "chroma", "brightness", "tension")
"""``fixed`` stands at the right bound (strength = intensity × right); the others move along."""
MASK_MODES = (*PRESETS, "painted", "pitch")
COMPOSITION_MODES = ("auto", "pulse", "continuous")
FORMAT_VERSION = 1
MAX_SEED = 2**32 - 1
"""Seeds are unsigned 32-bit (what numpy's generators and OpenSimplex take)."""

# The ranges validation accepts; the panels' sliders and fields take theirs from here.
UNIT_RANGE = (0.0, 1.0)
"""mix, painted mask weights, the scene crossfader and depth."""
STAGE_RANGE = (-200.0, 200.0)
"""Stage bounds (left / home / right) and a pack's route strength."""
SLEW_RANGE = (0.05, 5.0)
"""Scene blend slew, per second (0 would freeze the blend for good)."""
DISTANCE_RANGE = (0.0, 4.0)
"""Composition distance: noise-circle fraction per beat."""


class SessionError(ValueError):
    """A session that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class BlockSettings:
    source: str | None = None
    """The stem or derived source driving this block; None leaves the block still."""
    feature: int = 0
    mix_feature: int | None = None
    """A second feature mixed in (the block steers toward the sum of both directions)."""
    mix: float = 0.0
    """Weight of the mix feature, 0..1."""
    stage: Stage = Stage(0.0, 0.0, 8.0)
    position_source: str = "fixed"
    intensity_source: str = "energy_smooth"
    rank: str = "lead"
    mask: str = "fill"
    painted: tuple[tuple[float, ...], ...] = ()
    """16×16 weights when ``mask == "painted"``."""
    silence: str = "home"


@dataclass(frozen=True)
class SceneSettings:
    prompt_a: str = "a luminous garden at dusk, soft light"
    prompt_b: str = "a deep blue lagoon, neon reflections"
    mode: str = "reactive"
    slider: float = 0.0
    depth: float = 1.0
    slew_per_s: float = 0.8
    link_source: str = "tension"


@dataclass(frozen=True)
class CompositionSettings:
    distance: float = 0.25
    """Fraction of the noise circle walked per beat at full energy (0 = still)."""
    mode: str = "auto"
    """pulse: steps on beats; continuous: drifts with tonal distance; auto: blends the two by
    how percussive the music is."""


@dataclass(frozen=True)
class Session:
    blocks: tuple[BlockSettings, ...] = tuple(BlockSettings() for _ in BLOCKS)
    """One per block, in BLOCKS order."""
    scenes: SceneSettings = field(default_factory=SceneSettings)
    composition: CompositionSettings = field(default_factory=CompositionSettings)
    seed: int = 0

    def __post_init__(self) -> None:
        validate(self)

    def block(self, name: str) -> BlockSettings:
        return self.blocks[BLOCKS.index(name)]

    def with_block(self, name: str, **changes) -> Session:
        blocks = list(self.blocks)
        i = BLOCKS.index(name)
        blocks[i] = dataclasses.replace(blocks[i], **changes)
        return dataclasses.replace(self, blocks=tuple(blocks))

    def with_scenes(self, **changes) -> Session:
        return dataclasses.replace(self, scenes=dataclasses.replace(self.scenes, **changes))

    def with_composition(self, **changes) -> Session:
        return dataclasses.replace(
            self, composition=dataclasses.replace(self.composition, **changes)
        )

    @property
    def sources(self) -> list[str]:
        """The source routed to each block (BLOCKS order), '' where none is."""
        return [b.source or "" for b in self.blocks]


# -- validation ---------------------------------------------------------------------------------
def _one_of(where: str, value, choices) -> None:
    if value not in choices:
        raise SessionError(
            f"{where}: expected one of {', '.join(map(str, choices))}, got {value!r}"
        )


def _number(where: str, value, lo: float = -math.inf, hi: float = math.inf) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        raise SessionError(f"{where}: expected a number in [{lo}, {hi}], got {value!r}")


def _feature(where: str, value) -> None:
    problem = feature_id_problem(value)
    if problem is not None:
        raise SessionError(f"{where}: {problem}")


def validate(session: Session) -> None:
    if len(session.blocks) != len(BLOCKS):
        raise SessionError(
            f"blocks: expected {len(BLOCKS)} ({', '.join(BLOCKS)}), got {len(session.blocks)}"
        )
    for name, b in zip(BLOCKS, session.blocks):
        where = f'[blocks."{name}"]'
        if b.source is not None:
            _one_of(f"{where} source", b.source, SOURCES)
        _feature(f"{where} feature", b.feature)
        if b.mix_feature is not None:
            _feature(f"{where} mix_feature", b.mix_feature)
        _number(f"{where} mix", b.mix, *UNIT_RANGE)
        for side in ("left", "home", "right"):
            _number(f"{where} stage.{side}", getattr(b.stage, side), *STAGE_RANGE)
        _one_of(f"{where} position_source", b.position_source, POSITION_SOURCES)
        _one_of(f"{where} intensity_source", b.intensity_source, INTENSITY_SOURCES)
        _one_of(f"{where} rank", b.rank, tuple(RANKS))
        _one_of(f"{where} mask", b.mask, MASK_MODES)
        _one_of(f"{where} silence", b.silence, SILENCE_MODES)
        if b.mask == "painted" and (
            len(b.painted) != MASK_SIZE or any(len(row) != MASK_SIZE for row in b.painted)
        ):
            raise SessionError(f"{where} painted: expected {MASK_SIZE}×{MASK_SIZE} numbers")
        for r, row in enumerate(b.painted):
            for c, v in enumerate(row):
                _number(f"{where} painted[{r}][{c}]", v, *UNIT_RANGE)
    s = session.scenes
    _one_of("[scenes] mode", s.mode, SCENE_MODES)
    _number("[scenes] slider", s.slider, *UNIT_RANGE)
    _number("[scenes] depth", s.depth, *UNIT_RANGE)
    _number("[scenes] slew_per_s", s.slew_per_s, *SLEW_RANGE)
    _one_of("[scenes] link_source", s.link_source, SOURCES)
    for key in ("prompt_a", "prompt_b"):
        if not isinstance(getattr(s, key), str):
            raise SessionError(f"[scenes] {key}: expected text")
    _number("[composition] distance", session.composition.distance, *DISTANCE_RANGE)
    _one_of("[composition] mode", session.composition.mode, COMPOSITION_MODES)
    if (
        not isinstance(session.seed, int)
        or isinstance(session.seed, bool)
        or not (0 <= session.seed <= MAX_SEED)
    ):
        raise SessionError(f"seed: expected a whole number 0..{MAX_SEED}, got {session.seed!r}")


# -- TOML --------------------------------------------------------------------------------------
def to_dict(session: Session) -> dict:
    blocks = {}
    for name, b in zip(BLOCKS, session.blocks):
        d = {k: v for k, v in dataclasses.asdict(b).items() if v is not None}
        if not b.painted:
            d.pop("painted")
        else:
            d["painted"] = [list(row) for row in b.painted]
        blocks[name] = d
    return {
        "version": FORMAT_VERSION,
        "seed": session.seed,
        "blocks": blocks,
        "scenes": dataclasses.asdict(session.scenes),
        "composition": dataclasses.asdict(session.composition),
    }


def _kind(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"[:80]


def _table(where: str, value) -> dict:
    if not isinstance(value, dict):
        raise SessionError(f"{where}: expected a table, got {_kind(value)}")
    return value


def _painted(where: str, value) -> tuple[tuple[float, ...], ...]:
    expected = f"expected an array of {MASK_SIZE} arrays of {MASK_SIZE} numbers 0..1"
    if not isinstance(value, list) or len(value) > MASK_SIZE:
        raise SessionError(f"{where}: {expected}, got {_kind(value)}")
    rows = []
    for r, row in enumerate(value):
        if not isinstance(row, list) or len(row) > MASK_SIZE:
            raise SessionError(f"{where}[{r}]: {expected}, got {_kind(row)}")
        for c, v in enumerate(row):
            _number(f"{where}[{r}][{c}]", v, 0.0, 1.0)
        rows.append(tuple(float(v) for v in row))
    return tuple(rows)


def _build(cls, where: str, table, **converted):
    if not isinstance(table, dict):
        raise SessionError(f"{where}: expected a table, got {_kind(table)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise SessionError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    try:
        return cls(**{**table, **converted})
    except TypeError as exc:
        raise SessionError(f"{where}: {exc}") from None


def from_dict(data: dict, origin: str = "session", base: Session | None = None) -> Session:
    """A Session from parsed TOML; what ``data`` leaves out comes from ``base`` (the defaults)."""
    base = base or Session()
    try:
        unknown = sorted(set(data) - {"version", "seed", "blocks", "scenes", "composition"})
        if unknown:
            raise SessionError(f"unknown key {unknown[0]!r}")
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise SessionError(f"version {data.get('version')!r} is not {FORMAT_VERSION}")
        blocks = []
        raw_blocks = _table("[blocks]", data.get("blocks", {}))
        for name in raw_blocks:
            _one_of("blocks", name, BLOCKS)
        for name, default in zip(BLOCKS, base.blocks):
            raw = dict(_table(f'[blocks."{name}"]', raw_blocks.get(name, {})))
            stage = raw.pop("stage", None)
            converted = {}
            if stage is not None:
                given = _build(Stage, f'[blocks."{name}".stage]', stage)
                converted["stage"] = dataclasses.replace(
                    default.stage, **{k: getattr(given, k) for k in stage}
                )
            if "painted" in raw:
                converted["painted"] = _painted(f'[blocks."{name}"] painted', raw["painted"])
            merged = {
                **dataclasses.asdict(default),
                "stage": default.stage,
                "painted": default.painted,
                **raw,
            }
            blocks.append(_build(BlockSettings, f'[blocks."{name}"]', merged, **converted))
        scenes = {**dataclasses.asdict(base.scenes), **_table("[scenes]", data.get("scenes", {}))}
        comp = {
            **dataclasses.asdict(base.composition),
            **_table("[composition]", data.get("composition", {})),
        }
        return Session(
            blocks=tuple(blocks),
            scenes=_build(SceneSettings, "[scenes]", scenes),
            composition=_build(CompositionSettings, "[composition]", comp),
            seed=data.get("seed", base.seed),
        )
    except SessionError as exc:
        raise SessionError(f"{origin}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SessionError(f"{origin}: {exc}") from None


def save(session: Session, path: Path) -> None:
    """Write atomically (temp name, then rename)."""
    import tomli_w  # here, not at the top: the engine imports this module on machines without it

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomli_w.dumps(to_dict(session)), encoding="utf-8")
    tmp.replace(path)


def load(path: Path, base: Session | None = None) -> Session:
    try:
        data = load_toml(path, "performance")
    except LoadError as exc:
        raise SessionError(str(exc)) from None
    return from_dict(data, str(path), base)


def load_or_default(path: Path, default: Session) -> tuple[Session, str | None]:
    """The saved performance over ``default`` (it may set only some keys), or ``default`` and
    the reason it could not be used."""
    if not Path(path).exists():
        return default, None
    try:
        return load(path, base=default), None
    except SessionError as exc:
        return default, f"{exc}; using the default setup"
