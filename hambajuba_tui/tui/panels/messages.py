"""What the panels say to the instrument: messages that bubble up to the app, never calls.

A panel asks; the app (:class:`~hambajuba_tui.tui.panels.instrument.Instrument`) is the one
owner that builds the new Session, validates it and sends it to the engine. What the panels
show comes back as reactive state (the app's ``session`` and ``current_block``), so an edit
travels one way: panel → :class:`SessionEdit` → app → Show → engine worker.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump

from hambajuba_tui.bridge.session import Session


class SessionEdit(Message):
    """Build a new Session from the current one with ``make`` and send it to the engine.

    ``make`` may raise SessionError or ValueError: nothing changes, and ``origin`` (the panel
    that asked, if any) gets an :class:`EditOutcome` saying why; when sent it gets ``done``.
    """

    def __init__(
        self,
        make: Callable[[Session], Session],
        done: str = "",
        origin: MessagePump | None = None,
    ) -> None:
        super().__init__()
        self.make = make
        self.done = done
        self.origin = origin


class EditOutcome(Message, bubble=False):
    """The answer to a :class:`SessionEdit`, for the panel that asked: ``problem`` ('' when
    the new Session was sent) or ``done``."""

    def __init__(self, problem: str, done: str = "") -> None:
        super().__init__()
        self.problem = problem
        self.done = done


class BlockChosen(Message):
    """The panels now edit block ``index`` (BLOCKS order)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


class BlockToggled(Message):
    """Turn ``block`` off (kept still), or on again with the source it had (route memory)."""

    def __init__(self, block: str) -> None:
        super().__init__()
        self.block = block


class PanelClosed(Message):
    """The open panel asks to be closed (Escape)."""
