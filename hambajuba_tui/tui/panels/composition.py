"""Composition: how far and how the seed noise walks (distance, mode) and the seed."""

from __future__ import annotations

import random
from dataclasses import replace

from textual.binding import Binding

from hambajuba_tui.bridge.session import COMPOSITION_MODES, DISTANCE_RANGE, MAX_SEED, Session
from hambajuba_tui.tui.panels.base import Panel
from hambajuba_tui.tui.panels.widgets import Choice, Field, Slider, parse_int


def parse_seed(text: str) -> int:
    seed = parse_int(text)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"a seed is 0..{MAX_SEED}, got {seed}")
    return seed


class CompositionPanel(Panel):
    TITLE = "Composition"
    NAME = "composition"
    BINDINGS = [
        Binding("r", "reseed", "New seed"),
    ]

    def body(self):
        c = self.session.composition
        yield Slider("distance", c.distance, *DISTANCE_RANGE, 0.05, id="distance")
        yield Choice("mode", COMPOSITION_MODES, c.mode, id="mode")
        yield Field("seed", str(self.session.seed), parse_seed, id="seed")

    def sync(self) -> None:
        c = self.session.composition
        self.query_one("#distance", Slider).set(c.distance)
        self.query_one("#mode", Choice).set(c.mode)
        self.query_one("#seed", Field).set(str(self.session.seed))

    def _composition(self, **changes) -> None:
        def make(s: Session) -> Session:
            return s.with_composition(**changes)

        self.apply(make)

    def on_slider_changed(self, event: Slider.Changed) -> None:
        event.stop()
        self._composition(distance=event.value)

    def on_choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        self._composition(mode=event.value)

    def on_field_applied(self, event: Field.Applied) -> None:
        event.stop()
        self.apply(lambda s: replace(s, seed=event.value), f"seed {event.value}")

    def action_reseed(self) -> None:
        seed = random.randrange(MAX_SEED + 1)
        self.apply(lambda s: replace(s, seed=seed), f"seed {seed}")
