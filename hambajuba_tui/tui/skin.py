"""Skins: TOML files that dress the creature. A bad skin never crashes the app.

A user skin names only what it changes; everything else comes from the built-in default.
:func:`load_skin` returns the skin and a list of problems; on any problem the default skin
is used and each problem names the file, the line and the key (``file:line: [table] key:``).
The schema is documented in ``skins/README.md``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rich.cells import cell_len

from hambajuba_tui.safeio import MAX_DEPTH, LoadError, load_toml, nesting_depth, read_text
from hambajuba_tui.vocab import PHYSICAL_STEMS

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
BORDERS = ("round", "heavy", "double", "solid", "ascii", "none")
FACE_STATES = ("open", "closed", "wide", "asleep")
MOUTH_STATES = ("rest", "open", "wide", "asleep")
MAX_FRAME_WIDTH = 40
MAX_SKIN_BYTES = 64 * 1024
"""A skin is a few KB; larger files are refused with a message."""
MAX_PROBLEMS = 50
"""Problems listed for one skin; the rest are counted."""
"""Face lines wider than this (cells) could not fit the smallest window."""

SCHEMA: dict[str, dict[str, str] | str] = {
    "name": "text",
    "description": "text",
    "colors": {
        "background": "colour",
        "text": "colour",
        "accent": "colour",
        "dim": "colour",
        "stems": "table",
    },
    "colors.stems": {s: "colour" for s in (*PHYSICAL_STEMS, "global")},
    "face": {
        "frame": "lines",
        "mini": "line",
        **{f"eyes_{s}": "glyph" for s in FACE_STATES},
        **{f"mouth_{s}": "glyph" for s in MOUTH_STATES},
    },
    "orbs": {"stages": "stages", "flutter": "stage"},
    "heart": {
        "border": "border",
        "pulse_border": "border",
        "pulse_color": "colour",
        "pulse_s": "seconds",
    },
    "tendrils": {"glyphs": "text", "bead": "glyph"},
}
"""Tables, their keys and each key's kind: every key a skin may set."""


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
    description: str = ""
    face_mini: str = "({l}{m}{r})"
    heart_pulse_border: str = "heavy"
    heart_pulse_color: str = "#ffffff"
    heart_pulse_s: float = 0.25
    tendril_glyphs: str = "─│╭╮╰╯"
    """Horizontal, vertical, then the corners ╭ ╮ ╰ ╯ (down-right, down-left, up-right,
    up-left), as drawn on the left of the heart; the right side mirrors them."""
    tendril_bead: str = "•"

    def stem_color(self, stem: str) -> str:
        """A stem's colour; virtual stems take their physical stem's (``drums_low`` → drums)."""
        base = stem.split("_")[0]
        return self.stem_colors.get(stem) or self.stem_colors.get(base) or self.colors["accent"]


def blend(a: str, b: str, amount: float) -> str:
    """Colour ``a`` moved toward ``b`` by ``amount`` (0..1), as #rrggbb."""
    ca = (int(a[i : i + 2], 16) for i in (1, 3, 5))
    cb = (int(b[i : i + 2], 16) for i in (1, 3, 5))
    k = min(max(amount, 0.0), 1.0)
    return "#" + "".join(f"{round(x + (y - x) * k):02x}" for x, y in zip(ca, cb))


class SkinError(ValueError):
    """A skin that cannot be used; ``problems`` lists each one (file:line: [table] key: …)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# -- finding skins ---------------------------------------------------------------------------
def builtin_dir() -> Path:
    return Path(str(resources.files("hambajuba_tui.skins")))


def user_dir() -> Path:
    from hambajuba_tui.paths import config_dir

    return config_dir() / "skins"


def skin_files() -> list[tuple[str, str, Path]]:
    """(name, origin, path) of every skin on offer: the user's first, then the built-ins;
    a user skin with a built-in's name hides it."""
    found: dict[str, tuple[str, str, Path]] = {}
    for origin, folder in (("user", user_dir()), ("built-in", builtin_dir())):
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            found.setdefault(path.stem, (path.stem, origin, path))
    builtin_order = [p.stem for p in sorted(builtin_dir().glob("*.toml"))]
    order = {"default": -1, **{n: i for i, n in enumerate(builtin_order)}}
    return sorted(found.values(), key=lambda f: (order.get(f[0], len(order)), f[0]))


def find_skin(name_or_path: str | Path) -> Path | None:
    """Search order: a path to a file, then ``<name>.toml`` in the user config dir ``skins/``,
    then the built-in ``skins/``."""
    path = Path(name_or_path)
    if path.is_file() or (path.exists() and path.suffix == ".toml"):
        return path  # a special file is refused, by type, when it is read
    for folder in (user_dir(), builtin_dir()):
        candidate = folder / f"{path.stem if path.suffix == '.toml' else path.name}.toml"
        if candidate.is_file() and path.parent == Path("."):
            return candidate
    return None


def describe(path: Path) -> str:
    """The skin's one-line description (empty when it has none or cannot be read)."""
    try:
        value = load_toml(path, "skin", MAX_SKIN_BYTES).get("description", "")
    except LoadError as exc:
        return f"(cannot be read: {str(exc).removeprefix(f'{path}: ')})"
    return value.splitlines()[0] if isinstance(value, str) and value else ""


# -- locating keys in the TOML text ----------------------------------------------------------
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


def _norm_table(raw: str) -> str:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', raw)
    return ".".join(a or b or c for a, b, c in parts)


class KeyLines:
    """Where each key is set in a TOML text, from one pass over it (tomllib keeps no
    positions): finding a key's line is then a dict look-up, so checking stays linear."""

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, str], int] = {}
        self.headers: dict[str, int] = {}
        self.anywhere: dict[str, int] = {}
        current = ""
        for n, line in enumerate(text.splitlines(), 1):
            header = _HEADER.match(line)
            if header:
                current = _norm_table(header.group(1))
                self.headers.setdefault(current, n)
                continue
            m = _KEY.match(line)
            if m:
                key = m.group(1) or m.group(2) or m.group(3)
                self.keys.setdefault((current, key), n)
                self.anywhere.setdefault(key, n)

    def line(self, table: str, key: str) -> int:
        return self.keys.get((table, key)) or self.headers.get(table) or self.anywhere.get(key) or 1


def key_line(text: str, table: str, key: str) -> int:
    """The 1-based line where ``key`` is set in ``[table]`` ("" = top level). Falls back to
    the table's header (a key set in an inline table), then to line 1."""
    return KeyLines(text).line(table, key)


# -- validation ------------------------------------------------------------------------------
def _bad_chars(s: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in s)


class _Checker:
    """Walks a parsed document against :data:`SCHEMA`, collecting problems with lines."""

    def __init__(self, text: str, origin: str) -> None:
        self.text, self.origin = text, origin
        self.problems: list[str] = []
        self.more = 0
        """Problems past :data:`MAX_PROBLEMS`, counted, not listed."""
        self._lines: KeyLines | None = None

    def say(self, table: str, key: str, message: str) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.more += 1
            return
        if self._lines is None:
            self._lines = KeyLines(self.text)
        line = self._lines.line(table, key)
        where = f"[{table}] {key}" if table else key
        self.problems.append(f"{self.origin}:{line}: {where}: {message}")

    def all_problems(self) -> list[str]:
        more = [f"{self.origin}: … and {self.more} more problems"] if self.more else []
        return self.problems + more

    def table(self, name: str, data: object) -> None:
        spec = (
            SCHEMA[name]
            if name
            else {
                k: v if isinstance(v, str) else "table" for k, v in SCHEMA.items() if "." not in k
            }
        )
        assert isinstance(spec, dict)
        parent, _, key = name.rpartition(".")
        if not isinstance(data, dict):
            self.say(parent, key, f"expected a table [{name}], got {_kind(data)}")
            return
        for k, v in data.items():
            if k not in spec:
                self.say(name, k, f"unknown key {k!r:.60} (known: {', '.join(sorted(spec))})")
                continue
            kind = spec[k]
            if kind == "table":
                self.table(f"{name}.{k}" if name else k, v)
            else:
                message = _check_value(kind, v)
                if message:
                    self.say(name, k, message)


def _kind(v: object) -> str:
    return {
        dict: "a table",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(v), type(v).__name__)


def _check_text(v: object, lo: int, hi: int, what: str) -> str:
    if not isinstance(v, str):
        return f"expected {what}, got {_kind(v)} {v!r:.40}"
    if _bad_chars(v):
        return f"control or unassigned characters are not allowed in {what}"
    if not lo <= cell_len(v) <= hi:
        return f"expected {what} {lo}..{hi} cells wide, got {cell_len(v)}"
    return ""


def _check_value(kind: str, v: object) -> str:
    """Empty when ``v`` is a good value of ``kind``, else what is wrong."""
    if kind == "colour":
        ok = isinstance(v, str) and _HEX.match(v)
        return "" if ok else f'expected a colour like "#ff7eb6", got {v!r:.40}'
    if kind == "text":
        return _check_text(v, 0, 200, "text")
    if kind == "line":
        return _check_text(v, 1, MAX_FRAME_WIDTH, "a line of text")
    if kind == "glyph":
        return _check_text(v, 1, 4, "a glyph")
    if kind == "border":
        return "" if v in BORDERS else f"expected one of {', '.join(BORDERS)}, got {v!r:.40}"
    if kind == "seconds":
        ok = isinstance(v, int | float) and not isinstance(v, bool) and 0.02 <= v <= 2.0
        return "" if ok else f"expected seconds between 0.02 and 2, got {v!r:.40}"
    if kind == "lines":
        if not (isinstance(v, list) and 1 <= len(v) <= 8):
            return f"expected a list of 1..8 lines, got {_kind(v)}"
        for line in v:
            msg = _check_text(line, 0, MAX_FRAME_WIDTH, "a line of text")
            if msg:
                return msg
        return ""
    if kind == "stage":
        if not (isinstance(v, list) and len(v) == 3):
            return f"expected three lines of equal width, got {_kind(v)}"
        for line in v:
            msg = _check_text(line, 1, 9, "a line of an orb")
            if msg:
                return msg
        return "" if len({cell_len(s) for s in v}) == 1 else "expected three lines of equal width"
    if kind == "stages":
        if not (isinstance(v, list) and 2 <= len(v) <= 8):
            return f"expected a list of 2..8 stages, got {_kind(v)}"
        for n, stage in enumerate(v, 1):
            msg = _check_value("stage", stage)
            if msg:
                return f"stage {n}: {msg}"
        return ""
    raise ValueError(kind)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _cross_checks(c: _Checker, data: dict) -> None:
    """Rules between keys, on the skin as it will be used (the user's keys over the default)."""
    face, orbs, tendrils = data["face"], data["orbs"], data["tendrils"]
    joined = "\n".join(face["frame"])
    if "{l}" not in joined or "{r}" not in joined:
        c.say("face", "frame", "needs the eye places {l} and {r}")
    if "{l}" not in face["mini"] or "{r}" not in face["mini"]:
        c.say("face", "mini", "needs the eye places {l} and {r}")
    widths = {cell_len(s[0]) for s in orbs["stages"]} | {cell_len(orbs["flutter"][0])}
    if len(widths) != 1:
        c.say(
            "orbs",
            "flutter" if "flutter" in c.text else "stages",
            "every stage and the flutter must be equally wide",
        )
    glyphs = tendrils["glyphs"]
    if len(glyphs) != 6 or any(cell_len(g) != 1 for g in glyphs):
        c.say("tendrils", "glyphs", "expected 6 one-cell glyphs: ─ │ ╭ ╮ ╰ ╯")
    if cell_len(tendrils["bead"]) != 1:
        c.say("tendrils", "bead", "expected one one-cell glyph")


def _build(data: dict, origin: str) -> Skin:
    colors, face, orbs, heart, tendrils = (
        data[k] for k in ("colors", "face", "orbs", "heart", "tendrils")
    )
    return Skin(
        name=str(data.get("name") or Path(origin).stem),
        description=str(data.get("description", "")),
        colors={k: v for k, v in colors.items() if k != "stems"},
        stem_colors=dict(colors["stems"]),
        face_frame=tuple(face["frame"]),
        face_mini=face["mini"],
        eyes={s: face[f"eyes_{s}"] for s in FACE_STATES},
        mouths={s: face[f"mouth_{s}"] for s in MOUTH_STATES},
        orb_stages=tuple(tuple(s) for s in orbs["stages"]),
        orb_flutter=tuple(orbs["flutter"]),
        heart_border=heart["border"],
        heart_pulse_border=heart["pulse_border"],
        heart_pulse_color=heart["pulse_color"],
        heart_pulse_s=float(heart["pulse_s"]),
        tendril_glyphs=tendrils["glyphs"],
        tendril_bead=tendrils["bead"],
        origin=origin,
    )


def _default_doc() -> dict:
    return tomllib.loads((builtin_dir() / "default.toml").read_text("utf-8"))


def parse_skin(text: str, origin: str) -> Skin:
    """The skin in ``text`` over the default one; :class:`SkinError` lists every problem
    (the first :data:`MAX_PROBLEMS`, then how many more)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SKIN_BYTES:
        raise SkinError(
            [f"{origin}: skin too large ({size:,} bytes; the limit is {MAX_SKIN_BYTES:,})"]
        )
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise SkinError(
            [f"{origin}: nested {depth} levels deep; a skin may nest at most {MAX_DEPTH} levels"]
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = found.group(1) if found else max(1, len(text.splitlines()))  # end of document
        raise SkinError([f"{origin}:{line}: TOML syntax: {exc}"]) from None
    except RecursionError:
        raise SkinError([f"{origin}: nested too deeply (at most {MAX_DEPTH} levels)"]) from None
    checker = _Checker(text, origin)
    checker.table("", data)
    if checker.problems:
        raise SkinError(checker.all_problems())
    merged = _merge(_default_doc(), data)
    _cross_checks(checker, merged)
    if checker.problems:
        raise SkinError(checker.all_problems())
    return _build(merged, origin)


def read_skin(path: Path) -> str:
    """A skin file's text; :class:`SkinError` for a special file, a huge one, or not UTF-8."""
    try:
        return read_text(path, MAX_SKIN_BYTES, "skin")
    except LoadError as exc:
        raise SkinError([str(exc)]) from None


def default_skin() -> Skin:
    path = builtin_dir() / "default.toml"
    return parse_skin(path.read_text("utf-8"), str(path))


def load_skin(name_or_path: str | Path | None) -> tuple[Skin, list[str]]:
    """The skin named or at ``name_or_path`` (see :func:`find_skin`) over the default one;
    (default, [problems]) when it can't be used."""
    if name_or_path is None:
        return default_skin(), []
    path = find_skin(name_or_path)
    if path is None:
        names = ", ".join(n for n, _, _ in skin_files())
        return default_skin(), [
            f"{name_or_path}: no such skin file or skin name (skins: "
            f"{names}); using the default skin"
        ]
    try:
        return parse_skin(read_skin(path), str(path)), []
    except SkinError as exc:
        return default_skin(), [*exc.problems[:-1], f"{exc.problems[-1]}; using the default skin"]
