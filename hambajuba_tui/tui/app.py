"""The hambajuba app: the creature dancing to a Show.

The app samples the Analysis at the *displayed* time for the face and orbs, and shows the
newest due frame of the ring in the heart. It never imports torch: the engine lives in the
worker process the Show spawns.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from hambajuba_tui.graphics.probe import GraphicsMode
from hambajuba_tui.show import Show
from hambajuba_tui.tui.face import Face, expression_at
from hambajuba_tui.tui.heart import Heart
from hambajuba_tui.tui.orbs import Orb
from hambajuba_tui.tui.panels.base import PanelDock
from hambajuba_tui.tui.panels.commands import InstrumentCommands
from hambajuba_tui.tui.panels.instrument import INSTRUMENT_BINDINGS, Instrument
from hambajuba_tui.tui.skin import Skin, default_skin
from hambajuba_tui.tui.status import StatusInfo, StatusLine

SEEK_S = 5.0


class HambajubaApp(Instrument, App):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "hambajuba"
    BINDINGS = [
        Binding("space", "toggle_pause", "Play/Pause"),
        Binding("left", "seek(-5)", "−5 s"),
        Binding("right", "seek(5)", "+5 s"),
        Binding("q", "quit", "Quit"),
        *INSTRUMENT_BINDINGS,
    ]
    COMMANDS = App.COMMANDS | {InstrumentCommands}

    def __init__(self, show: Show, skin: Skin | None = None, title: str = "",
                 notices: list[str] | None = None, graphics: GraphicsMode | None = None) -> None:
        # Every colour here is truecolor already: skip Textual's per-segment ANSI conversion.
        super().__init__(ansi_color=True)
        self.show = show
        self.skin = skin or default_skin()
        self.song_title = title
        self.graphics = graphics or GraphicsMode("halfblock", reason="default")
        self._notices = list(notices or [])
        self._stems = show.session.sources
        self.init_instrument()

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        orbs = [Orb(self.skin, stem, id=f"orb-{i}") for i, stem in enumerate(self._stems)]
        with Horizontal(id="creature"):
            with Vertical(classes="orbs", id="orbs-left"):
                yield from orbs[:2]
            with Vertical(id="body"):
                yield Face(self.skin, id="face")
                with Vertical(id="heart-box"):
                    yield Heart(self.graphics, id="heart")
            with Vertical(classes="orbs", id="orbs-right"):
                yield from orbs[2:]
            yield PanelDock(id="panel-dock")
        yield Footer()

    def on_mount(self) -> None:
        c = self.skin.colors
        self.screen.styles.background = c.get("background")
        self.screen.styles.color = c.get("text")
        box = self.query_one("#heart-box")
        if self.skin.heart_border != "none":
            box.styles.border = (self.skin.heart_border, c.get("accent"))
        box.border_title = f"♥ {self.song_title}" if self.song_title else "♥"
        box.border_subtitle = self.show.options.engine
        self.query_one("#status").styles.color = c.get("dim")
        for note in self._notices + self.graphics.notes:
            self.notify(note, severity="warning", timeout=8)
        if self.show.player.kind == "silent":
            self.notify(f"Playing on a silent clock: {self.show.player.reason}", timeout=6)
        self._status = self.query_one(StatusLine)
        self._heart_box = box
        self._heart = self.query_one(Heart)
        self._face = self.query_one(Face)
        self._orbs = [self.query_one(f"#orb-{i}", Orb) for i in range(len(self._stems))]
        self.show.start()
        self.set_interval(1.0 / self.show.options.fps, self.tick)

    def _display(self, screen, renderable) -> None:
        """After each screen update, let the heart redraw what the update painted over.

        (Textual's one place where screen updates are written; overridden, not replaced.)
        """
        super()._display(screen, renderable)
        heart = getattr(self, "_heart", None)
        if heart is not None and renderable is not None and not self.is_headless:
            heart.painted_over(renderable)

    def on_unmount(self) -> None:
        self.close_instrument()
        self.show.close()

    # -- per display tick -----------------------------------------------------------------
    def tick(self) -> None:
        show = self.show
        for news in show.poll_worker():
            self.notify(news, severity="error", timeout=6)
        if show.poll_frame() is not None:
            self._heart.show_frame(show.frame)
        t = show.now
        self._update_creature(t, show.playing)
        status = show.status
        info = StatusInfo(
            playing=show.playing, now=t, duration=show.analysis.duration,
            bpm=show.analysis.bpm, engine=status.engine, fps=show.shown_fps,
            dropped=status.dropped, graphics=self.graphics.label(), sound=show.player.kind,
            worker=status.worker,
        )
        self._status.text = info.text()
        # The border repaints the whole heart box (and so the image's cells) when it changes:
        # it names the engine and its state only; the fps live in the status line.
        subtitle = status.engine if status.worker == "running" else (
            f"{status.engine} · {status.worker}")
        if self._heart_box.border_subtitle != subtitle:
            self._heart_box.border_subtitle = subtitle

    def _update_creature(self, t: float, playing: bool) -> None:
        a = self.show.analysis
        beat_i, _ = a.beat_phase(t)
        since_beat = t - float(a.beats[beat_i]) if beat_i >= 0 and len(a.beats) else -1.0
        flash = _sample(a, "global.flash", t)
        sustain = _sample(a, "global.sustain", t)
        drop = max(0.0, flash - sustain - 0.25) * 2.0
        vocals = _sample(a, "vocals.energy_smooth", t)
        face = self._face
        expression = expression_at(since_beat, drop, vocals, playing)
        if face.expression != expression:
            face.expression = expression
        for i, stem in enumerate(self._stems):
            orb = self._orbs[i]
            activity = _sample(a, f"{stem}.energy_smooth", t) if playing else 0.0
            hit = _sample(a, f"{stem}.transient", t)
            orb.activity = round(activity, 2)
            orb.flutter = playing and hit > 0.5

    # -- actions ---------------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        self.show.toggle_pause()

    def action_seek(self, seconds: float) -> None:
        self.show.seek_by(float(seconds))


def _sample(analysis, name: str, t: float) -> float:
    return analysis.sample(name, t) if name in analysis.signals else 0.0

