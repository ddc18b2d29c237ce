"""The hambajuba app: the creature dancing to a Show.

The app samples the Analysis at the *displayed* time for the face and orbs, and shows the
newest due frame of the ring in the heart. It never imports torch: the engine lives in the
worker process the Show spawns.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.theme import Theme
from textual.widgets import Footer, Static

from hambajuba_tui.graphics.probe import GraphicsMode
from hambajuba_tui.show import Show
from hambajuba_tui.tui.border import HeartEdge
from hambajuba_tui.tui.face import Face, face_size
from hambajuba_tui.tui.heart import Heart
from hambajuba_tui.tui.moment import CreatureClock
from hambajuba_tui.tui.orbs import ORB_SIZE, Orb, orb_size
from hambajuba_tui.tui.panels.base import PanelDock, dock_columns
from hambajuba_tui.tui.panels.commands import InstrumentCommands
from hambajuba_tui.tui.panels.instrument import INSTRUMENT_BINDINGS, Instrument
from hambajuba_tui.tui.recording import recorder_from_env
from hambajuba_tui.tui.skin import Skin, default_skin, load_skin, skin_files
from hambajuba_tui.tui.status import StatusInfo, StatusLine, input_text, link_text
from hambajuba_tui.tui.tendrils import BEAD_STEPS, Tendrils
from hambajuba_tui.tui.textual_private import AfterDisplay, LogCrash


def write_crash_log(error: BaseException) -> Path:
    """Write ``error``'s traceback to a new log file; returns its path."""
    import traceback

    from hambajuba_tui.paths import crash_log_path

    path = crash_log_path()
    path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    return path


SEEK_S = 5.0
MIN_SIZE = (40, 12)
"""Below this many columns × rows the app asks for a bigger window instead of drawing."""
COMPACT_BELOW = (64, 20)
"""Below this the creature is drawn small: one-line face and orbs, no footer."""


def skin_theme(skin: Skin) -> Theme:
    """A Textual theme in the skin's colours (one name: re-registered per skin)."""
    c = skin.colors
    r, g, b = (int(c["background"][i : i + 2], 16) for i in (1, 3, 5))
    return Theme(
        name="hambajuba-skin",
        primary=c["accent"],
        secondary=c["dim"],
        accent=c["accent"],
        foreground=c["text"],
        background=c["background"],
        surface=c["background"],
        panel=c["dim"],
        dark=0.299 * r + 0.587 * g + 0.114 * b < 128,
    )


class HambajubaApp(Instrument, AfterDisplay, LogCrash, App):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "hambajuba"
    BINDINGS = [
        Binding("space", "toggle_pause", "Play/Pause"),
        Binding("left", "seek(-5)", "−5 s"),
        Binding("right", "seek(5)", "+5 s"),
        Binding("k", "cycle_skin", "Skin"),
        Binding("q", "quit", "Quit"),
        *INSTRUMENT_BINDINGS,
    ]
    COMMANDS = App.COMMANDS | {InstrumentCommands}

    def __init__(
        self,
        show: Show,
        skin: Skin | None = None,
        title: str = "",
        notices: list[str] | None = None,
        graphics: GraphicsMode | None = None,
        song_path: Path | None = None,
    ) -> None:
        # Every colour here is truecolor already: skip Textual's per-segment ANSI conversion.
        super().__init__(ansi_color=True)
        self.show = show
        self.skin = skin or default_skin()
        self.song_title = title
        self.graphics = graphics or GraphicsMode("halfblock", reason="default")
        self._notices = list(notices or [])
        self._stems = show.session.sources
        self.creature_clock = CreatureClock(show.analysis, self.skin.heart_pulse_s)
        self.too_small = False
        self.compact = False
        self._skin_at: int | None = None
        """Where the skin key is in the list of skins (None: not pressed yet)."""
        self.song_path = song_path
        """The song's file (what "Render this song to video" renders); None: not known."""
        self.render_job = None
        """The video render running in the background (hambajuba_tui.render.job.RenderJob)."""
        self.init_instrument()

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        orbs = [Orb(self.skin, stem, id=f"orb-{i}") for i, stem in enumerate(self._stems)]
        box = Vertical(id="heart-box")
        with Horizontal(id="stage"):
            with Horizontal(id="creature"):
                with Vertical(classes="orbs", id="orbs-left"):
                    yield from orbs[:2]
                yield Tendrils(self.skin, orbs[:2], box, id="tendrils-left")
                with Vertical(id="body"):
                    yield Face(self.skin, id="face")
                    with box:
                        yield HeartEdge(self.skin, "top", id="heart-top")
                        with Horizontal(id="heart-row"):
                            yield HeartEdge(self.skin, "left", id="heart-left")
                            yield Heart(self.graphics, id="heart")
                            yield HeartEdge(self.skin, "right", id="heart-right")
                        yield HeartEdge(self.skin, "bottom", id="heart-bottom")
                yield Tendrils(self.skin, orbs[2:], box, mirror=True, id="tendrils-right")
                with Vertical(classes="orbs", id="orbs-right"):
                    yield from orbs[2:]
            yield PanelDock(id="panel-dock")
        yield Static(id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        for note in self._notices + self.graphics.notes:
            self.notify(note, severity="warning", timeout=8)
        if self.show.player.kind == "silent":
            self.notify(f"Playing on a silent clock: {self.show.player.reason}", timeout=6)
        self._status = self.query_one(StatusLine)
        self._heart_box = self.query_one("#heart-box")
        self._heart = self.query_one(Heart)
        self._heart.on_frame_sent = recorder_from_env()  # real-terminal tests only
        self._face = self.query_one(Face)
        self._edges = list(self.query(HeartEdge))
        self._tendrils = list(self.query(Tendrils))
        self._orbs = [self.query_one(f"#orb-{i}", Orb) for i in range(len(self._stems))]
        self._edges[0].label = f"♥ {self.song_title}" if self.song_title else "♥"
        self._edges[-1].label = self.show.options.engine
        self.apply_skin(self.skin)
        self.show.start()
        self._ticker = self.set_interval(1.0 / self.show.options.fps, self.tick)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_layout(event.size)

    def fit_layout(self, size: Size | None = None) -> None:
        """Size the heart to the window, keeping the frame's aspect; small windows get the
        compact creature, windows below :data:`MIN_SIZE` a message asking for more room."""
        if not hasattr(self, "_orbs"):
            return  # not mounted yet; on_mount fits it
        width, height = size or self.size
        too_small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        small_window = width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]
        dock = self.query_one(PanelDock)
        dock_w = dock_columns(width) if dock.has_class("open") else 0
        dock.styles.width = max(dock_w, 1)
        room = width - dock_w  # an open panel takes the right of the window; the creature the rest
        compact = small_window or room < COMPACT_BELOW[0]
        message = self.query_one("#too-small", Static)
        message.display = too_small
        message.update(
            f"make the window bigger\n(need {MIN_SIZE[0]}×{MIN_SIZE[1]}, have {width}×{height})"
        )
        for widget in (self.query_one("#stage"), self._status):
            widget.display = not too_small
        self.query_one(Footer).display = not (too_small or small_window)
        if too_small and not self.too_small:
            self._heart.clear_image()
        panel = self.open_panel_widget
        if self.too_small and not too_small and panel is not None:
            panel.take_keyboard()  # the window grew back: the open panel has the keys again
        self.too_small, self.compact = too_small, compact
        if too_small:
            return
        self._face.compact = compact
        for orb in self._orbs:
            orb.compact = compact
        self.screen.set_class(compact, "-compact")
        face_w, face_h = face_size(self.skin, compact)
        orb_w, orb_h = orb_size(compact)
        rows = height - 1 - (0 if small_window else 1) - face_h - 2  # status, footer, face, frame
        cols = max(1, room - 2 * orb_w - 2 * (1 if compact else 4) - 2)
        cell_w, cell_h = self.graphics.cell_px
        fw, fh = self.show.options.width, self.show.options.height
        want_cols = rows * cell_h * fw / (cell_w * fh)
        if want_cols > cols:
            rows = max(1, round(cols * cell_w * fh / (cell_h * fw)))
        else:
            cols = max(1, round(want_cols))
        self._heart_box.styles.width = cols + 2
        self._heart_box.styles.height = rows + 2
        body = self.query_one("#body")
        body.styles.width = max(cols + 2, min(face_w, room - 2 * orb_w - 2))
        body.styles.height = rows + 2 + face_h
        spread = 0 if compact else max(1, (height - 2 - 2 * ORB_SIZE[1]) // 6)  # apart when big
        for orbs in self.query(".orbs"):
            orbs.styles.width = orb_w
        for orb in self._orbs:
            orb.styles.width, orb.styles.height = orb_w, orb_h
            orb.styles.margin = (spread, 0)
        for tendril in self._tendrils:
            tendril.refresh()

    def apply_skin(self, skin: Skin) -> None:
        """Dress the creature in ``skin`` now (colours, glyphs, frame); re-fits the layout."""
        self.skin = skin
        c = skin.colors
        self.register_theme(skin_theme(skin))  # footer, notifications and panels follow it
        self.theme = "hambajuba-skin"
        self.screen.styles.background = c["background"]
        self.screen.styles.color = c["text"]
        self._status.styles.color = c["dim"]
        self.creature_clock.pulse_s = skin.heart_pulse_s
        for widget in (self._face, *self._orbs, *self._edges, *self._tendrils):
            widget.skin = skin
            widget.refresh()
        self._heart.refresh()  # its blank cells take the new background
        self.fit_layout()

    def after_display(self, update) -> None:
        """After each screen update, let the heart redraw what the update painted over."""
        heart = getattr(self, "_heart", None)
        if heart is not None and not self.is_headless:
            heart.painted_over(update)

    def on_unmount(self) -> None:
        if self.render_job is not None:
            self.render_job.cancel()  # the child removes its unfinished file
        self.close_instrument()
        self.show.close()

    # -- per display tick -----------------------------------------------------------------
    def tick(self) -> None:
        show = self.show
        for news in show.poll_worker():
            self.notify(news, severity="error", timeout=6)
        if show.poll_frame() is not None:
            self._heart.show_frame(show.frame)
        status = show.status
        a = show.analysis
        if a is not self.creature_clock.analysis:  # the full analysis took over
            self.creature_clock = CreatureClock(a, self.skin.heart_pulse_s)
        source = level = ""
        if show.live:
            listened = show.listener.status
            source = listened.source or "default source"
            level = input_text(a.input_state, a.level_db, listened.message)
        info = StatusInfo(
            playing=show.playing,
            now=show.now,
            duration=a.duration,
            bpm=a.bpm if getattr(a, "has_tempo", True) else 0.0,
            engine=status.engine,
            fps=show.shown_fps,
            dropped=status.dropped,
            graphics=self.graphics.label(),
            sound=show.player.kind,
            worker=status.worker,
            link=link_text(status.link),
            analysing=show.analysing,
            source=source,
            input=level,
        )
        self.show_moment(info)

    def show_moment(self, info: StatusInfo) -> None:
        """Draw the creature and the status line for the media time ``info.now``."""
        sources = self.show.session.sources
        moment = self.creature_clock.at(info.now, info.playing, sources)
        text = replace(info, key=moment.key).text()
        job = self.render_job
        if job is not None and not job.state.finished:
            text += "  ·  " + job.state.text()
        self._status.text = text
        face = self._face
        if face.expression != moment.expression:
            face.expression = moment.expression
        for i, orb in enumerate(self._orbs):
            orb.stem = sources[i] if i < len(sources) else ""
            orb.activity = moment.activity[i] if i < len(moment.activity) else 0.0
            orb.flutter = i < len(moment.flutter) and moment.flutter[i]
        for edge in self._edges:
            edge.pulse = moment.pulse
        step = min(int(moment.beat_phase * BEAD_STEPS), BEAD_STEPS - 1)
        half = len(self._orbs) // 2
        for tendril, part in zip(self._tendrils, (moment.activity[:half], moment.activity[half:])):
            tendril.activity = tuple(round(a, 1) for a in part)  # repaint on real change
            tendril.phase = step
        # The frame names the engine and its state only; the fps live in the status line.
        engine = info.engine if info.worker == "running" else f"{info.engine} · {info.worker}"
        self._edges[-1].label = engine

    # -- actions ---------------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        self.show.toggle_pause()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Live input has no seek: its keys leave the footer and do nothing."""
        return not (action == "seek" and self.show.live)

    def action_seek(self, seconds: float) -> None:
        self.show.seek_by(float(seconds))

    crash_log: Path | None = None
    """Where the traceback of a crash went (None: no crash)."""

    def on_crash(self, error: Exception) -> None:
        """A crash: the traceback goes to a log file, not over the restored terminal; the
        app exits with code 1 and the CLI prints one line naming the log."""
        self.crash_log = write_crash_log(error)

    def action_cycle_skin(self) -> None:
        """Put on the next skin (the user's skins, then the built-ins)."""
        files = skin_files()
        names = [name for name, _, _ in files]
        i = (
            self._skin_at
            if self._skin_at is not None
            else (names.index(self.skin.name) if self.skin.name in names else -1)
        )
        self._skin_at = (i + 1) % len(files)
        name, origin, path = files[self._skin_at]
        # Read and check the file off the UI thread: the creature keeps dancing meanwhile.
        self.run_worker(
            partial(self._load_skin, name, origin, path),
            thread=True,
            group="skin",
            exclusive=True,
            exit_on_error=False,
        )

    def _load_skin(self, name: str, origin: str, path) -> None:
        skin, problems = load_skin(path)
        self.call_from_thread(self._wear_skin, name, origin, skin, problems)

    def _wear_skin(self, name: str, origin: str, skin: Skin, problems: list[str]) -> None:
        for problem in problems:  # the default stands in
            self.notify(problem, severity="error", timeout=8)
        self.apply_skin(skin)
        self.notify(f"skin: {name} ({origin})", timeout=2)

    # -- render to video -------------------------------------------------------------------
    def action_render_video(self) -> None:
        """Render this song (its current performance, this skin) to an MP4 in a child process;
        progress shows in the status line, a notification gives the path."""
        from hambajuba_tui.render.job import RenderJob, output_path, render_command

        job = self.render_job
        if job is not None and not job.state.finished:
            self.notify(f"Already {job.state.text()}", timeout=3)
            return
        if self.song_path is None:
            self.notify("No song file to render", severity="warning", timeout=4)
            return
        options = self.show.options
        engine = options.engine if options.engine != "auto" else "preview"
        size = options.width if engine == "sdxl-turbo" else max(options.width, 512)
        names = {name for name, _, _ in skin_files()}
        stems = getattr(self.show.analysis, "stems_backend", "auto")
        out = output_path(self.song_title or self.song_path.stem)
        command, cleanup = render_command(
            self.song_path,
            out,
            self.show.session,
            engine,
            size,
            self.skin.name if self.skin.name in names else None,
            stems if stems in ("demucs", "dsp") else "auto",
        )
        self.render_job = RenderJob(command, out, cleanup)
        self.notify(f"Rendering this song to {out}", timeout=4)
        self.run_worker(self._run_render(self.render_job), group="render", exit_on_error=False)

    def action_cancel_render(self) -> None:
        if self.render_job is None or not self.render_job.running:
            self.notify("No video render is running", timeout=2)
            return
        self.render_job.cancel()

    async def _run_render(self, job) -> None:
        state = await job.run()
        if state.done:
            self.notify(f"Rendered the video: {state.done}", title="Render done", timeout=12)
        else:
            self.notify(f"Render failed: {state.error}", severity="error", timeout=12)
