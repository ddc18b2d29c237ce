"""Small controls the panels share: a choice to cycle, a slider, a labelled number field.

Keyboard first (left / right cycle or nudge, Enter applies a field), mouse too (a click on a
choice's left half goes back, on its right half forward; a click on a slider sets it there).
Each posts ``Changed`` with the new value; the panel turns it into a new Session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label


class Choice(Widget, can_focus=True):
    """One of a few named options: ``label  ‹ value ›``.

    The option shown is the reactive :attr:`value`; each change of it posts ``Changed`` (set it
    quietly with ``with choice.prevent(Choice.Changed)``, as :meth:`set` does).
    """

    DEFAULT_CSS = """
    Choice { height: 1; width: 1fr; }
    Choice:focus { background: $accent 30%; }
    """
    BINDINGS = [
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("right", "step(1)", "Next", show=False),
    ]

    value: reactive[str] = reactive("", init=False)
    """The option shown (always one of :attr:`options`)."""

    class Changed(Message):
        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(
        self, label: str, options: Sequence[str], value: str, *, width: int = 18, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.options = tuple(options)
        self._label_width = width
        self.set_reactive(Choice.value, self.validate_value(value))

    def validate_value(self, value: str) -> str:
        return value if value in self.options else self.options[0]

    def watch_value(self, value: str) -> None:
        self.post_message(self.Changed(self, value))

    def set(self, value: str, options: Sequence[str] | None = None) -> None:
        """Show ``value`` (and maybe new options) without posting Changed."""
        if options is not None:
            self.options = tuple(options)
        with self.prevent(self.Changed):
            self.value = value
        self.refresh()

    def render(self) -> Text:
        text = Text(f"{self.label:<{self._label_width}}", style="bold")
        text.append(f"‹ {self.value} ›")
        return text

    def action_step(self, delta: int) -> None:
        at = self.options.index(self.value) if self.value in self.options else 0
        self.value = self.options[(at + int(delta)) % len(self.options)]

    def on_click(self, event: events.Click) -> None:
        self.focus()
        self.action_step(-1 if event.x < self._label_width + 2 else 1)


class Slider(Widget, can_focus=True):
    """A number between ``lo`` and ``hi``: left / right nudge by ``step``, a click sets it.

    The number is the reactive :attr:`value` (clamped, rounded); each change of it posts
    ``Changed`` (set it quietly with ``with slider.prevent(Slider.Changed)``, as :meth:`set` does).
    """

    DEFAULT_CSS = """
    Slider { height: 1; width: 1fr; }
    Slider:focus { background: $accent 30%; }
    """
    BINDINGS = [
        Binding("left", "nudge(-1)", "Less", show=False),
        Binding("right", "nudge(1)", "More", show=False),
        Binding("home", "to(0)", "Lowest", show=False),
        Binding("end", "to(1)", "Highest", show=False),
    ]
    BAR = 20

    value: reactive[float] = reactive(0.0, init=False)
    """The number shown, in ``lo..hi``."""

    class Changed(Message):
        def __init__(self, slider: Slider, value: float) -> None:
            super().__init__()
            self.slider = slider
            self.value = value

        @property
        def control(self) -> Slider:
            return self.slider

    def __init__(
        self,
        label: str,
        value: float,
        lo: float = 0.0,
        hi: float = 1.0,
        step: float = 0.05,
        *,
        width: int = 18,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.label, self.lo, self.hi, self.step = label, lo, hi, step
        self._label_width = width
        self.set_reactive(Slider.value, self.validate_value(value))

    def validate_value(self, value: float) -> float:
        return round(min(max(float(value), self.lo), self.hi), 6)

    def watch_value(self, value: float) -> None:
        self.post_message(self.Changed(self, value))

    def set(self, value: float) -> None:
        """Show ``value`` without posting Changed."""
        with self.prevent(self.Changed):
            self.value = value

    def render(self) -> Text:
        frac = (self.value - self.lo) / (self.hi - self.lo)
        knob = min(int(round(frac * (self.BAR - 1))), self.BAR - 1)
        text = Text(f"{self.label:<{self._label_width}}", style="bold")
        text.append("━" * knob, style="bold")
        text.append("●")
        text.append("─" * (self.BAR - 1 - knob), style="dim")
        text.append(f" {self.value:.2f}")
        return text

    def action_nudge(self, direction: int) -> None:
        self.value += int(direction) * self.step

    def action_to(self, end: int) -> None:
        self.value = self.hi if int(end) else self.lo

    def on_click(self, event: events.Click) -> None:
        self.focus()
        x = event.x - self._label_width
        if 0 <= x < self.BAR:
            self.value = self.lo + (x / (self.BAR - 1)) * (self.hi - self.lo)


class Field(Horizontal):
    """A labelled input whose text is parsed on Enter (or on leaving it).

    ``parse`` turns the text into a value or raises ValueError with the message shown inline;
    a bad value changes nothing.
    """

    DEFAULT_CSS = """
    Field { height: 1; width: 1fr; }
    Field > Label.field-label { width: 18; text-style: bold; }
    Field > Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    Field > Input:focus { border: none; background: $accent 30%; }
    """

    class Applied(Message):
        def __init__(self, field: Field, value: object) -> None:
            super().__init__()
            self.field = field
            self.value = value

        @property
        def control(self) -> Field:
            return self.field

    def __init__(
        self,
        label: str,
        text: str,
        parse: Callable[[str], object],
        *,
        placeholder: str = "",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.parse = parse
        self._text = text
        self._placeholder = placeholder
        self._applied = text

    def compose(self):
        yield Label(self.label, classes="field-label", markup=False)
        # Focus must not select the text: the next key would replace a whole prompt.
        yield Input(self._text, placeholder=self._placeholder, select_on_focus=False)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    def set(self, text: str) -> None:
        """Show ``text`` without applying it."""
        self._applied = text
        if self.is_mounted:
            self.input.value = text

    def _apply(self) -> None:
        text = self.input.value
        if text == self._applied:
            return
        try:
            value = self.parse(text)
        except ValueError as exc:
            self.post_message(Problem(f"{self.label}: {exc}"))
            return
        self._applied = text
        self.post_message(self.Applied(self, value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        self._apply()


class Problem(Message):
    """Bad input: the panel shows ``text`` inline and changes nothing."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a whole number") from None
