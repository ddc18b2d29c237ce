"""Shared-memory segments owned by this process, named so a later start can clean up a crash.

Names are ``hambajuba-<owner pid>-<n>-<kind>``; a segment whose owner pid is gone is stale.
Only the creating (TUI) process unlinks; other processes attach.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from multiprocessing import shared_memory
from pathlib import Path

PREFIX = "hambajuba-"
_counter = itertools.count()


def new_name(kind: str) -> str:
    return f"{PREFIX}{os.getpid()}-{next(_counter)}-{kind}"


def create(kind: str, size: int) -> shared_memory.SharedMemory:
    return shared_memory.SharedMemory(name=new_name(kind), create=True, size=size)


def attach(name: str) -> shared_memory.SharedMemory:
    """Attach to a segment another process owns.

    Attachers are spawned children, which share the owner's resource tracker: their
    registration is the owner's own entry, so nothing is unlinked when they exit.
    """
    return shared_memory.SharedMemory(name=name, create=False)


def release(segment: shared_memory.SharedMemory, owner: bool) -> None:
    """Close our mapping (callers drop their numpy views first); the owner also unlinks."""
    with contextlib.suppress(BufferError):
        segment.close()
    if owner:
        with contextlib.suppress(FileNotFoundError):
            segment.unlink()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts): owners of leftovers."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(shm_dir: Path = Path("/dev/shm")) -> list[str]:
    """Unlink segments left by runs whose owner process no longer exists; return their names."""
    removed: list[str] = []
    if not shm_dir.is_dir():
        return removed
    for entry in shm_dir.glob(f"{PREFIX}*"):
        pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        try:
            entry.unlink()
            removed.append(entry.name)
        except OSError:
            pass
    return removed
