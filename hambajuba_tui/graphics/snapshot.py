"""``hambajuba snapshot``: one frame of a song, printed inline with term-image.

For a quick look outside the TUI: the frame the engine would render at a given time of
the song, with the song's saved performance (or the default pack's routes).
"""

from __future__ import annotations

import numpy as np

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.session import Session

WARMUP_S = 4.0


def render_frame(
    analysis: Analysis, session: Session, at: float, engine: str = "preview", size: int = 256
) -> np.ndarray:
    """uint8 [size, size, 3]: the frame ``engine`` renders for time ``at`` of the song."""
    from hambajuba_tui.bridge.conductor import Conductor
    from hambajuba_tui.engine.worker import make_engine

    if not 0.0 <= at <= analysis.duration:
        raise ValueError(
            f"--at must be between 0 and the song's length ({analysis.duration:.1f} s), got {at:g}"
        )
    conductor = Conductor(analysis, session)
    renderer = make_engine(engine, size, size, session.seed)
    # The conductor's motion is simulated: let it settle for a few seconds before ``at``,
    # as it would have in the live show.
    for t in np.arange(max(0.0, at - WARMUP_S), at, 1.0 / 30.0):
        conductor.step(float(t))
    frame = np.empty((size, size, 3), np.uint8)
    renderer.generate(conductor.step(at), frame)
    return frame


def print_frame(frame: np.ndarray, width: int | None = None, style: str = "auto") -> str:
    """The frame as term-image draws it for this terminal (kitty, iTerm2, sixel or blocks)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():  # it warns when there is no terminal to ask: blocks then
        warnings.filterwarnings("ignore", message=".*terminal.*", category=UserWarning)
        from term_image.image import AutoImage, BlockImage

    pil = Image.fromarray(frame)
    image = BlockImage(pil) if style == "block" else AutoImage(pil)
    if width:
        image.set_size(width=width)
    return str(image)
