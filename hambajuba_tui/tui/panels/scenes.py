"""Scenes: prompts A and B, how they blend (slider, reactive, linked) and the crossfader."""

from __future__ import annotations

from textual.binding import Binding

from hambajuba_tui.bridge.scenes import MODES
from hambajuba_tui.bridge.session import SLEW_RANGE, SOURCES, UNIT_RANGE, Session
from hambajuba_tui.tui.panels.base import CROSSFADE_STEP, Panel
from hambajuba_tui.tui.panels.widgets import Choice, Field, Slider


def parse_prompt(text: str) -> str:
    if not text.strip():
        raise ValueError("a prompt needs some words")
    return text.strip()


class ScenesPanel(Panel):
    TITLE = "Scenes"
    NAME = "scenes"
    BINDINGS = [
        Binding("left_square_bracket", f"app.crossfade({-CROSSFADE_STEP})", "Toward A"),
        Binding("right_square_bracket", f"app.crossfade({CROSSFADE_STEP})", "Toward B"),
    ]

    def body(self):
        s = self.session.scenes
        yield Field("prompt A", s.prompt_a, parse_prompt, id="prompt_a")
        yield Field("prompt B", s.prompt_b, parse_prompt, id="prompt_b")
        yield Choice("blend", MODES, s.mode, id="mode")
        yield Choice("linked to", SOURCES, s.link_source, id="link_source")
        yield Slider("crossfader A↔B", s.slider, *UNIT_RANGE, id="slider")
        yield Slider("depth", s.depth, *UNIT_RANGE, id="depth")
        yield Slider("slew /s", s.slew_per_s, *SLEW_RANGE, 0.05, id="slew_per_s")

    def first_focus(self):
        return self.query_one("#slider", Slider)  # the crossfader: what a performer reaches for

    def sync(self) -> None:
        s = self.session.scenes
        self.query_one("#prompt_a", Field).set(s.prompt_a)
        self.query_one("#prompt_b", Field).set(s.prompt_b)
        self.query_one("#mode", Choice).set(s.mode)
        self.query_one("#link_source", Choice).set(s.link_source)
        for key in ("slider", "depth", "slew_per_s"):
            self.query_one(f"#{key}", Slider).set(getattr(s, key))

    def _scenes(self, **changes) -> None:
        def make(s: Session) -> Session:
            return s.with_scenes(**changes)

        self.apply(make)

    def on_field_applied(self, event: Field.Applied) -> None:
        event.stop()
        self._scenes(**{event.field.id: event.value})

    def on_choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        self._scenes(**{event.choice.id: event.value})

    def on_slider_changed(self, event: Slider.Changed) -> None:
        event.stop()
        changes = {event.slider.id: event.value}
        if event.slider.id == "slider":  # the crossfader takes over the blend
            changes["mode"] = "slider"
        self._scenes(**changes)
