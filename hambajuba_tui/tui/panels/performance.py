"""Performance files: one song's saved Session, written and read for the instrument (ctrl+s,
ctrl+o). Each call says what happened as a :class:`Note` for the app to show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hambajuba_tui.bridge.session import Session, SessionError, load, save
from hambajuba_tui.paths import performance_path


@dataclass(frozen=True)
class Note:
    """A notification: its text, Textual severity and seconds on screen."""

    text: str
    severity: str = "information"
    timeout: float = 4.0


def file_for(song_hash: str) -> Path:
    """Where the performance of the song with this content hash lives."""
    return performance_path(song_hash)


def save_to(session: Session, path: Path) -> Note:
    try:
        save(session, path)
    except OSError as exc:
        return Note(f"Could not save the performance to {path}: {exc}", "error", 8)
    return Note(f"Saved the performance to {path}")


def load_from(path: Path, base: Session) -> tuple[Session | None, Note]:
    """The saved Session (None, and why, when there is none or it is broken: the current
    setup stays)."""
    if not path.exists():
        return None, Note(
            f"No saved performance for this song yet ({path}); save one with ctrl+s", "warning", 6
        )
    try:
        session = load(path, base=base)
    except SessionError as exc:
        return None, Note(
            f"Could not load the performance: {exc}. Kept the current setup.", "error", 10
        )
    return session, Note(f"Loaded the performance from {path}")
