"""Every use of Textual's private API, in one place, each with the reason it is needed.

The heart pane draws its image with escapes written straight to the terminal (kitty graphics,
sixel, half-blocks), beside Textual's compositor rather than through it. That needs four things
Textual does not offer publicly, and a crash needs a fifth; they are here, and nowhere else in
``tui/``:

- :class:`AfterDisplay` overrides ``App._display``: the one place Textual writes a screen update,
  so the heart learns which cells an update painted over (text replaces graphics there).
- :func:`write_raw` uses ``App._driver``: escapes must reach the terminal between Textual's
  updates, outside its synchronized-output block, unmodified and unmeasured.
- :func:`toast_regions` finds the notifications container by its id (``textual-toastrack``):
  a terminal draws images over text, so the heart stops above a toast instead of hiding it.
- :func:`update_touches` reads a compositor update's ``spans`` (``ChopsUpdate``) or ``region``
  (``LayoutUpdate``): which cells it wrote.
- :class:`LogCrash` overrides ``App._handle_exception``: Textual prints a crash's traceback
  over the restored terminal; the app writes it to a log instead and exits non-zero.

``tests/test_textual_private.py`` checks each of these against the installed Textual, so an
upgrade that changes one fails there, loudly, instead of leaving a blank or flickering heart;
``pyproject.toml`` pins Textual to the range those tests pass on.
"""

from __future__ import annotations

import contextlib

from textual.css.query import NoMatches
from textual.geometry import Region
from textual.widget import NoScreen, Widget

TOAST_RACK_ID = "textual-toastrack"
"""The id Textual gives the notifications container it mounts on every screen
(``Screen._extend_compose``)."""
TOAST_TYPE = "Toast"
"""The widget type of one notification inside the rack (``textual.widgets._toast.Toast``)."""


class AfterDisplay:
    """An App mixin (put it before ``App`` in the bases): :meth:`after_display` runs after each
    screen update Textual writes, with that update.

    ``App._display(screen, renderable)`` is where Textual writes every compositor update to the
    terminal; it is extended here (``super()`` still does all the writing), never replaced."""

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)  # type: ignore[misc]
        if renderable is not None:
            self.after_display(renderable)

    def after_display(self, update) -> None:
        """Called with each update Textual just wrote (override it)."""


def write_raw(app, payload: str) -> bool:
    """Write ``payload`` to the terminal now, beside Textual's own output; False when there is
    no terminal (headless, or the driver is gone).

    ``App._driver`` is the object that owns the terminal's output stream; Textual offers no
    public way to write escapes it should neither parse nor wrap in its synchronized updates."""
    driver = app._driver
    if driver is None or app.is_headless:
        return False
    driver.write(payload)
    driver.flush()
    return True


def toast_regions(screen: Widget | None) -> list[Region]:
    """The screen regions of the notifications showing on ``screen`` (none: an empty list).

    The rack is found by the id Textual gives it (the widget class is private)."""
    if screen is None:
        return []
    with contextlib.suppress(NoMatches, NoScreen):
        rack = screen.get_child_by_id(TOAST_RACK_ID)
        if not rack.children:
            return []
        return [toast.region for toast in rack.query(TOAST_TYPE)]
    return []


def update_touches(update, region: Region) -> bool:
    """Whether a compositor update (what :meth:`AfterDisplay.after_display` gets) wrote into any
    cell of ``region``; an update of an unknown kind is assumed to have.

    ``ChopsUpdate.spans`` lists (y, x start, x end) of each span written; ``LayoutUpdate.region``
    is the whole region it rewrote."""
    x0, y0, x1, y1 = region.x, region.y, region.right, region.bottom
    spans = getattr(update, "spans", None)
    if spans is not None:
        return any(y0 <= y < y1 and a < x1 and b > x0 for y, a, b in spans)
    written = getattr(update, "region", None)
    if written is not None:
        return written.x < x1 and written.right > x0 and written.y < y1 and written.bottom > y0
    return True


class LogCrash:
    """An App mixin (before ``App`` in the bases): an unhandled exception goes to
    :meth:`on_crash` (e.g. to write a log) instead of Textual's traceback on the terminal; the
    app still ends as Textual ends a crashed app (return code 1, ``run_test`` re-raises it).

    ``App._handle_exception`` is Textual's one handler for errors in handlers and workers; the
    rest mirrors its ending (``_return_code``, ``_exception`` and ``_exception_event`` that
    ``run_test`` waits on, then ``_close_messages_no_wait`` as ``_fatal_error`` does) without
    its printing."""

    def _handle_exception(self, error: Exception) -> None:
        self.on_crash(error)
        self._return_code = 1
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        self._close_messages_no_wait()

    def on_crash(self, error: Exception) -> None:
        """Called with the exception that ended the app (override it)."""
