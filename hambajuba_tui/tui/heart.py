"""The heart pane: the engine's frames, drawn with kitty graphics, sixel or half-blocks.

Textual owns the layout: the pane reserves its cells (blank, or kitty's placeholder cells)
and re-fits the image when it is resized. The image itself bypasses Textual's compositor:
a thread encodes the newest frame, and the escapes are written to the terminal between
Textual's updates (outside its synchronized-output block), so big transmissions never
stall or split a screen update. The pane has no border or padding (so Textual never crops
it); the border and the engine label live on the container around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import NoScreen, Widget

from hambajuba_tui.graphics.layout import Placement, fit
from hambajuba_tui.graphics.painter import Painter, make_encoder
from hambajuba_tui.graphics.probe import GraphicsMode
from hambajuba_tui.tui.textual_private import toast_regions, update_touches, write_raw

REDRAW_IDLE_S = 0.5
"""With no new frame for this long (paused), the image is drawn again in case something
was painted over it (a notification, a resize)."""


class Heart(Widget):
    DEFAULT_CSS = "Heart { width: 1fr; height: 1fr; padding: 0; border: none; }"

    def __init__(self, mode: GraphicsMode | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode = mode or GraphicsMode("halfblock")
        self.encoder = make_encoder(self.mode)
        self._painter: Painter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._frame: np.ndarray | None = None
        self._place: Placement | None = None
        self._place_for: tuple | None = None
        self._shown_place: Placement | None = None
        """The (visible) placement last submitted: a shorter one blanks the cells it left."""
        self._shown_id = 0
        self._last_emit = 0.0
        self._last_sent: tuple[str, Placement] | None = None
        self._told_error = False
        self.frames_drawn = 0
        self.rewrites = 0
        self.bytes_written = 0
        self.last_payload = ""
        self.on_frame_sent: Callable[[Heart, np.ndarray, Placement], None] | None = None
        """Told of each whole frame written to the terminal, with where it went (e.g. the
        real-terminal tests' recorder, :mod:`hambajuba_tui.tui.recording`)."""

    # -- lifecycle -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._painter = Painter(self.encoder, self._from_thread)
        self.set_interval(REDRAW_IDLE_S, self._redraw_if_idle)

    def on_unmount(self) -> None:
        if self._painter is not None:
            self._painter.close()
        self._write(self.encoder.clear())  # kitty: delete both images

    def on_resize(self) -> None:
        self._place_for = None
        self.refresh()
        self.call_after_refresh(self._resubmit)

    def clear_image(self) -> None:
        """Take the image off the screen (kitty images outlive the cells under them) and
        forget the last one sent, e.g. when the pane is hidden."""
        self._write(self.encoder.clear())
        self._last_sent = None

    # -- frames ----------------------------------------------------------------------------
    def show_frame(self, frame: np.ndarray) -> None:
        """Take a new frame (uint8 [H, W, 3]); a thread encodes it, the newest wins."""
        self._frame = frame
        self._resubmit()

    def _resubmit(self) -> None:
        place = self.visible_placement()
        if self._frame is None or self._painter is None or place is None or place.empty:
            return
        if self._shown_place is not None and place.rows < self._shown_place.rows:
            self.refresh()  # blank the cells a toast cut off (an image stays till overwritten)
        self._shown_place = place
        frame, full = self._frame, self._place
        if full is not None and place.height != full.height:  # the top part of the frame
            frame = frame[: max(1, round(place.height * frame.shape[0] / full.height))]
        self._painter.submit(frame, place)

    def placement(self) -> Placement | None:
        """Where the image goes now: fitted to the pane, centred, aspect kept."""
        if self._frame is None:
            return None
        region = self.content_region
        fh, fw = self._frame.shape[:2]
        key = (region, fw, fh)
        if self._place_for != key:
            cw, ch = self.mode.cell_px
            per_cell = (1, 2) if self.mode.protocol == "halfblock" else None
            self._place = fit(
                fw, fh, region.x, region.y, region.width, region.height, cw, ch, per_cell
            )
            self._place_for = key
        return self._place

    def visible_placement(self) -> Placement | None:
        """The placement, cut off above any notification lying over the image.

        Terminals draw images over text, so a toast (bottom right) would vanish under the
        heart; instead the heart dances above it until it goes. Kitty's placeholder cells
        are text, so Textual layers them itself.
        """
        place = self.placement()
        if place is None or place.empty or self.mode.kitty_placeholders:
            return place
        toasts = []
        with contextlib.suppress(NoScreen):
            toasts = toast_regions(self.screen)
        if not toasts:
            return place
        left, right, top = place.col, place.col + place.cols, place.row + place.rows
        for r in toasts:
            if r.area and r.x < right and r.right > left and r.y < top and r.bottom > place.row:
                top = r.y
        rows = top - place.row
        if rows >= place.rows:
            return place
        height = max(0, round(place.height * rows / place.rows))
        return Placement(place.col, place.row, place.cols, max(rows, 0), place.width, height)

    def _from_thread(self, payload: str, place: Placement, serial: int) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # the loop may close while this frame was encoded
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._emit, payload, place)

    def _emit(self, payload: str, place: Placement) -> None:
        """On the UI thread, between Textual's updates: write the escapes."""
        if not self.is_mounted or place != self.visible_placement():
            return  # the pane moved (or a toast came) while encoding; a new frame is coming
        self._write(payload)
        self._last_sent = (payload, place)
        self.frames_drawn += 1
        self._last_emit = time.monotonic()
        new_id = getattr(self.encoder, "image_id", 0)
        if self.mode.kitty_placeholders and new_id != self._shown_id:
            self._shown_id = new_id
            self.refresh()  # placeholder cells name the new image
        if self.on_frame_sent is not None and place == self._place and self._frame is not None:
            self.on_frame_sent(self, self._frame, place)

    def _write(self, payload: str) -> None:
        if not payload:
            return
        write_raw(self.app, payload)
        self.last_payload = payload
        self.bytes_written += len(payload)

    def _redraw_if_idle(self) -> None:
        painter = self._painter
        if painter is not None and painter.errors and not self._told_error:
            self._told_error = True
            self.app.notify(
                f"the heart could not draw a frame ({painter.errors[0]}); try --graphics halfblock",
                severity="error",
                timeout=10,
            )
        if time.monotonic() - self._last_emit > REDRAW_IDLE_S:
            self._resubmit()

    @property
    def encode_ms(self) -> float:
        return self._painter.encode_ms if self._painter is not None else 0.0

    # -- the cells Textual draws -----------------------------------------------------------
    def _pad_style(self) -> Style:
        """The background around the image: whatever is behind the pane."""
        return Style(bgcolor=self.rich_style.bgcolor)

    def painted_over(self, update) -> None:
        """Textual just wrote ``update`` (a compositor update): if it touched the image's
        cells, sixel and half-block pixels there are gone (text replaces graphics in the
        terminal), so the last image is written again at once."""
        place = self._place
        if (
            self.mode.protocol not in ("sixel", "halfblock")
            or place is None
            or not (self._last_sent and _touches(update, place))
        ):
            return
        self.rewrites += 1
        if self._last_sent[1] == self.visible_placement():
            self._write(self._last_sent[0])
        else:
            self._resubmit()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        pad = self._pad_style()
        place = self._place
        if not (self.mode.kitty_placeholders and self._shown_id and place is not None):
            return Strip.blank(width, pad)
        top = place.row - self.content_region.y
        left = place.col - self.content_region.x
        if not top <= y < top + place.rows:
            return Strip.blank(width, pad)
        from hambajuba_tui.graphics.kitty import id_color, placeholder_row

        text = placeholder_row(place.cols, y - top)
        style = Style(color=Color.from_rgb(*id_color(self._shown_id)))
        right = width - left - place.cols
        segs = [Segment(" " * left, pad)] if left > 0 else []
        segs.append(Segment(text, style))
        if right > 0:
            segs.append(Segment(" " * right, pad))
        return Strip(segs, width)


def _touches(update, place: Placement) -> bool:
    """Whether a Textual compositor update wrote into the cells of ``place``."""
    return update_touches(update, Region(place.col, place.row, place.cols, place.rows))
