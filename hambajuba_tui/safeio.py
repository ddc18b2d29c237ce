"""Reading the files a user (or a hostile probe) can hand the app: skins, performances, packs,
label tables, cache metadata.

Every reader here refuses special files (a FIFO, a device, a directory) by type before it
opens them, refuses files over a stated size, and refuses nesting deeper than a stated depth
(checked by a linear scan before parsing, so no parser ever recurses into it). Each refusal is
a :class:`LoadError` whose message names the file and what was expected.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

MAX_DEPTH = 32
"""Deepest nesting of arrays and tables accepted in any TOML or JSON file the app reads."""
MAX_TOML_BYTES = 256 * 1024
"""Skins, performances and packs: a few KB in practice."""
MAX_JSON_BYTES = 64 * 1024 * 1024
"""Label tables: the published ones are a few MB each."""


class LoadError(ValueError):
    """A file that cannot be used; the message names it and says why."""


def kind_of(mode: int) -> str:
    """Words for a special file's type."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular(path: str | os.PathLike[str], what: str = "file") -> os.stat_result:
    """Stat ``path`` (following links) and refuse anything but a regular file."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise LoadError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise LoadError(f"{path}: {kind_of(st.st_mode)}, not a {what}; expected a regular file")
    return st


def read_bytes(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; never blocks on a FIFO."""
    check_regular(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise LoadError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)  # the file opened may not be the one checked (a swap in between)
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(f"{path}: {kind_of(st.st_mode)}, not a {what}; expected a regular file")
        if st.st_size > max_bytes:
            raise LoadError(
                f"{path}: {what} too large ({st.st_size:,} bytes; the limit is {max_bytes:,})"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise LoadError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise LoadError(f"{path}: {what} too large (over the limit of {max_bytes:,} bytes)")
    return data


def read_text(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> str:
    data = read_bytes(path, max_bytes, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"{exc.reason} at byte {exc.start}"
        raise LoadError(f"{path}: {what} is not UTF-8 text ({where})") from None


def nesting_depth(text: str, toml: bool = True) -> int:
    """The deepest nesting of ``[`` / ``{`` outside strings and comments: one linear pass.

    Quotes: ``"`` with backslash escapes, and for TOML ``'`` literals and ``#`` comments. A
    triple quote reads as open-close-open, which leaves the scan inside the string, as it should.
    """
    depth = deepest = 0
    quote = ""
    escaped = comment = False
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == '"' or (toml and ch == "'"):
            quote = ch
        elif toml and ch == "#":
            comment = True
    return deepest


def _check_depth(text: str, origin: str, toml: bool, max_depth: int) -> None:
    depth = nesting_depth(text, toml)
    if depth > max_depth:
        raise LoadError(
            f"{origin}: nested {depth} levels deep; at most {max_depth} levels of arrays and "
            "tables are accepted"
        )


def parse_toml(text: str, origin: str, max_depth: int = MAX_DEPTH) -> dict:
    """TOML text → dict, with the depth limit; a LoadError names ``origin`` on any problem."""
    _check_depth(text, origin, True, max_depth)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(f"{origin}: not valid TOML ({exc})") from None
    except RecursionError:
        raise LoadError(f"{origin}: nested too deeply (at most {max_depth} levels)") from None


def parse_json(text: str | bytes, origin: str, max_depth: int = MAX_DEPTH):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"{exc.reason} at byte {exc.start}"
            raise LoadError(f"{origin}: not UTF-8 text ({where})") from None
    _check_depth(text, origin, False, max_depth)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LoadError(f"{origin}: not valid JSON ({exc})") from None
    except RecursionError:
        raise LoadError(f"{origin}: nested too deeply (at most {max_depth} levels)") from None


def load_toml(
    path: str | os.PathLike[str],
    what: str = "TOML file",
    max_bytes: int = MAX_TOML_BYTES,
    max_depth: int = MAX_DEPTH,
) -> dict:
    return parse_toml(read_text(path, max_bytes, what), str(path), max_depth)


def load_json(
    path: str | os.PathLike[str],
    what: str = "JSON file",
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
):
    return parse_json(read_text(path, max_bytes, what), str(path), max_depth)


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
