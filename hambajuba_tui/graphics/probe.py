"""Terminal probing, done before ``App.run()``: which image protocol the heart can use.

Textual reads stdin once it runs, so terminal replies must be collected before: the kitty
graphics query (plus a one-pixel shared-memory query that proves kitty can read our
memory, i.e. the terminal is local), XTVERSION for kitty's version, ``CSI 16t`` for the
cell size in pixels, and DA1 last — every terminal answers DA1, so its reply ends the wait,
and a ``4`` among its attributes means sixel. Environment variables (TERM, TERM_PROGRAM,
KITTY_WINDOW_ID, TMUX, SSH_*) fill in what replies cannot say.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import select
import sys
import time
from dataclasses import dataclass, field

MODES = ("kitty", "sixel", "halfblock")
KITTY_PLACEHOLDER_VERSION = (0, 28, 0)
"""kitty draws unicode placeholders (and so works inside tmux) from this version on."""

KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
XTVERSION = "\x1b[>0q"
CELL_SIZE = "\x1b[16t"
DA1 = "\x1b[c"

_KITTY_REPLY = re.compile(rb"\x1b_Gi=(\d+)(?:,[^;]*)?;([^\x1b]*)\x1b\\")
_XTVERSION_REPLY = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_DA1_REPLY = re.compile(rb"\x1b\[\?([\d;]*)c")


@dataclass(frozen=True)
class Capabilities:
    """What the terminal said about itself, and what the environment says."""

    kitty: bool = False
    kitty_shm: bool = False
    kitty_version: tuple[int, ...] | None = None
    sixel: bool = False
    cell_px: tuple[int, int] | None = None  # (width, height) of one cell in pixels
    term: str = ""
    term_program: str = ""
    tmux: bool = False
    ssh: bool = False
    replied: bool = False  # the terminal answered DA1 (so the probe really ran)
    version_text: str = ""

    @property
    def kitty_placeholders(self) -> bool:
        return self.kitty_version is not None and self.kitty_version >= KITTY_PLACEHOLDER_VERSION


@dataclass(frozen=True)
class GraphicsMode:
    """The protocol in use and how: what the status line names."""

    protocol: str  # kitty | sixel | halfblock
    cell_px: tuple[int, int] = (10, 20)
    kitty_shm: bool = False
    kitty_placeholders: bool = False
    tmux: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    def label(self) -> str:
        if self.protocol == "kitty":
            how = "shm" if self.kitty_shm else "direct"
            return f"kitty {how}{' placeholders' if self.kitty_placeholders else ''}"
        return "half-blocks" if self.protocol == "halfblock" else self.protocol


def env_capabilities(env: dict[str, str] | None = None) -> Capabilities:
    """What the environment alone says (no terminal queries)."""
    env = os.environ if env is None else env
    term = env.get("TERM", "")
    return Capabilities(
        kitty=bool(env.get("KITTY_WINDOW_ID")) or term == "xterm-kitty",
        term=term,
        term_program=env.get("TERM_PROGRAM", ""),
        tmux=bool(env.get("TMUX")),
        ssh=bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT")),
    )


def parse_replies(data: bytes, base: Capabilities, shm_id: int | None = None) -> Capabilities:
    """Fold the terminal's replies to the probe's queries into ``base``."""
    kitty = shm = False
    for m in _KITTY_REPLY.finditer(data):
        ok = m.group(2).startswith(b"OK")
        if int(m.group(1)) == 31:
            kitty = kitty or ok
        elif shm_id is not None and int(m.group(1)) == shm_id:
            shm = shm or ok
    version = None
    text = ""
    if m := _XTVERSION_REPLY.search(data):
        text = m.group(1).decode("ascii", "replace")
        if v := re.match(r"kitty\((\d+(?:\.\d+)*)\)", text):
            version = tuple(int(x) for x in v.group(1).split("."))
    cell = None
    if m := _CELL_REPLY.search(data):
        h, w = int(m.group(1)), int(m.group(2))
        if w > 0 and h > 0:
            cell = (w, h)
    sixel = False
    replied = False
    if m := _DA1_REPLY.search(data):
        replied = True
        sixel = "4" in m.group(1).decode().split(";")
    return Capabilities(
        kitty=kitty,
        kitty_shm=kitty and shm,
        kitty_version=version,
        sixel=sixel,
        cell_px=cell,
        term=base.term,
        term_program=base.term_program,
        tmux=base.tmux,
        ssh=base.ssh,
        replied=replied,
        version_text=text,
    )


def passthrough(seq: str, tmux: bool) -> str:
    """Wrap an escape sequence for tmux (``allow-passthrough on``) so it reaches the terminal."""
    if not tmux:
        return seq
    return "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def _make_probe_shm() -> tuple[str, str] | None:
    """A one-pixel POSIX shm object for the kitty shm query: (name, its base64 payload)."""
    from hambajuba_tui.graphics.kitty import shm_write

    name = f"hambajuba-probe-{os.getpid()}"
    try:
        shm_write(name, b"\x00\x00\x00")
    except OSError:
        return None
    return name, base64.standard_b64encode(name.encode()).decode()


def probe_terminal(
    fd: int | None = None, timeout: float = 1.0, env: dict[str, str] | None = None
) -> Capabilities:
    """Ask the terminal on ``fd`` (default: stdin, which must be a tty) what it can draw."""
    import termios
    import tty

    base = env_capabilities(env)
    fd = sys.stdin.fileno() if fd is None else fd
    if not os.isatty(fd):
        return base
    shm = _make_probe_shm()
    shm_id = 32
    queries = passthrough(KITTY_QUERY, base.tmux)
    if shm:
        queries += passthrough(
            f"\x1b_Gi={shm_id},s=1,v=1,a=q,t=s,f=24,S=3;{shm[1]}\x1b\\", base.tmux
        )
    queries += passthrough(XTVERSION, base.tmux) + CELL_SIZE + DA1
    old = termios.tcgetattr(fd)
    data = b""
    try:
        tty.setraw(fd)
        os.write(fd, queries.encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            data += os.read(fd, 4096)
            if _DA1_REPLY.search(data):
                # kitty answers in order, DA1 last; give a moment for stragglers under tmux
                if base.tmux and time.monotonic() + 0.05 < deadline:
                    deadline = time.monotonic() + 0.05
                    continue
                break
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)
        if shm:
            from hambajuba_tui.graphics.kitty import shm_unlink

            shm_unlink(shm[0])
    caps = parse_replies(data, base, shm_id=shm_id)
    if caps.cell_px is None:
        caps = _with_ioctl_cell(caps, fd)
    return caps


def _with_ioctl_cell(caps: Capabilities, fd: int) -> Capabilities:
    """Cell size from TIOCGWINSZ's pixel fields when the terminal did not answer CSI 16t."""
    import fcntl
    import struct
    import termios

    with contextlib.suppress(OSError):
        rows, cols, xpx, ypx = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        if rows and cols and xpx and ypx:
            from dataclasses import replace

            return replace(caps, cell_px=(xpx // cols, ypx // rows))
    return caps


def choose_mode(caps: Capabilities, requested: str = "auto") -> GraphicsMode:
    """The protocol to use: ``requested`` if given, else the best the terminal supports."""
    cell = caps.cell_px or (10, 20)
    notes: list[str] = []
    if requested not in ("auto", *MODES):
        raise ValueError(f"unknown graphics mode {requested!r}; choose auto, {', '.join(MODES)}")
    kitty = GraphicsMode(
        "kitty",
        cell,
        kitty_shm=caps.kitty_shm and not caps.ssh,
        kitty_placeholders=caps.kitty_placeholders or caps.tmux,
        tmux=caps.tmux,
    )
    if requested == "kitty":
        if caps.tmux and not caps.kitty_placeholders:
            notes.append(
                "kitty inside tmux needs kitty ≥ 0.28 (unicode placeholders) "
                "and tmux's allow-passthrough"
            )
        return _with(kitty, "asked for kitty", notes)
    if requested == "sixel":
        return GraphicsMode("sixel", cell, reason="asked for sixel", tmux=caps.tmux)
    if requested == "halfblock":
        return GraphicsMode("halfblock", cell, reason="asked for half-blocks")
    if caps.kitty and (not caps.tmux or caps.kitty_placeholders):
        return _with(kitty, "the terminal answered the kitty graphics query", notes)
    if caps.sixel:
        return GraphicsMode(
            "sixel", cell, reason="the terminal reports sixel (DA1)", tmux=caps.tmux
        )
    why = "no kitty graphics or sixel reply" if caps.replied else "the terminal did not answer"
    return GraphicsMode("halfblock", cell, reason=why)


def _with(mode: GraphicsMode, reason: str, notes: list[str]) -> GraphicsMode:
    from dataclasses import replace

    return replace(mode, reason=reason, notes=notes)


def detect(requested: str = "auto", timeout: float = 1.0) -> GraphicsMode:
    """Probe the terminal on stdin, then choose (``requested`` overrides the choice).

    It probes even when a protocol is requested: every protocol needs the cell size to keep
    the aspect ratio, and kitty whether shared memory reaches the terminal.
    """
    caps = probe_terminal(timeout=timeout) if sys.stdin.isatty() else env_capabilities()
    return choose_mode(caps, requested)
