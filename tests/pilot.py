"""What the pilot tests share: the app on a silent Show, waiting for a condition, and a spy on
the Sessions the Show sends to its worker. (The ``make_app`` fixture in conftest builds on it.)"""

from __future__ import annotations

import numpy as np

from hambajuba_tui.bridge.session import Session
from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.graphics.probe import GraphicsMode
from hambajuba_tui.show import Show, ShowOptions
from hambajuba_tui.tui.app import HambajubaApp
from hambajuba_tui.vocab import SAMPLE_RATE


def app_for(
    analysis, graphics: GraphicsMode | None = None, size: int = 96, title: str = "synthetic"
) -> HambajubaApp:
    """The real app on a Show of ``analysis`` playing silence (no sound device), the default
    pack's Session, frames ``size``×``size`` from the preview engine in a real worker."""
    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    show = Show(
        analysis,
        silence,
        SAMPLE_RATE,
        load_pack().session(),
        ShowOptions(width=size, height=size, sound=False),
    )
    return HambajubaApp(show, title=title, graphics=graphics)


async def until(pilot, predicate, timeout: float = 20.0) -> bool:
    """Whether ``predicate()`` came true within ``timeout`` seconds of the app running."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await pilot.pause(0.05)
    return False


class Spy:
    """Records every Session the Show hands to its worker."""

    def __init__(self, show: Show) -> None:
        self.sent: list[Session] = []
        original = show.worker.set_session

        def spy(session: Session) -> None:
            self.sent.append(session)
            original(session)

        show.worker.set_session = spy

    @property
    def last(self) -> Session:
        assert self.sent, "no Session reached the worker"
        return self.sent[-1]


def spied_app(analysis, size: int = 64) -> tuple[HambajubaApp, Spy]:
    """:func:`app_for` with a :class:`Spy` on what reaches the worker (the panel tests)."""
    app = app_for(analysis, size=size)
    return app, Spy(app.show)
