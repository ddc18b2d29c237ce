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
from textual.widget import Widget
from textual.widgets import Input, Label


class Choice(Widget, can_focus=True):
    """One of a few named options: ``label  ‹ value ›``."""

    DEFAULT_CSS = """
    Choice { height: 1; width: 1fr; }
    Choice:focus { background: $accent 30%; }
    """
    BINDINGS = [
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("right", "step(1)", "Next", show=False),
    ]

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
        self._value = value if value in self.options else self.options[0]
        self._label_width = width

    @property
    def value(self) -> str:
        return self._value

    def set(self, value: str, options: Sequence[str] | None = None) -> None:
        """Show ``value`` (and maybe new options) without posting Changed."""
        if options is not None:
            self.options = tuple(options)
        self._value = value if value in self.options else self.options[0]
        self.refresh()

    def render(self) -> Text:
        text = Text(f"{self.label:<{self._label_width}}", style="bold")
        text.append(f"‹ {self._value} ›")
        return text

    def action_step(self, delta: int) -> None:
        i = (self.options.index(self._value) + int(delta)) % len(self.options)
        self._value = self.options[i]
        self.refresh()
        self.post_message(self.Changed(self, self._value))

    def on_click(self, event: events.Click) -> None:
        self.focus()
        self.action_step(-1 if event.x < self._label_width + 2 else 1)


class Slider(Widget, can_focus=True):
    """A number between ``lo`` and ``hi``: left / right nudge by ``step``, a click sets it."""

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
        self._value = self._clamp(value)
        self._label_width = width

    def _clamp(self, v: float) -> float:
        return round(min(max(float(v), self.lo), self.hi), 6)

    @property
    def value(self) -> float:
        return self._value

    def set(self, value: float) -> None:
        self._value = self._clamp(value)
        self.refresh()

    def _change(self, value: float) -> None:
        value = self._clamp(value)
        if value != self._value:
            self._value = value
            self.refresh()
            self.post_message(self.Changed(self, value))

    def render(self) -> Text:
        frac = (self._value - self.lo) / (self.hi - self.lo)
        knob = min(int(round(frac * (self.BAR - 1))), self.BAR - 1)
        text = Text(f"{self.label:<{self._label_width}}", style="bold")
        text.append("━" * knob, style="bold")
        text.append("●")
        text.append("─" * (self.BAR - 1 - knob), style="dim")
        text.append(f" {self._value:.2f}")
        return text

    def action_nudge(self, direction: int) -> None:
        self._change(self._value + int(direction) * self.step)

    def action_to(self, end: int) -> None:
        self._change(self.hi if int(end) else self.lo)

    def on_click(self, event: events.Click) -> None:
        self.focus()
        x = event.x - self._label_width
        if 0 <= x < self.BAR:
            self._change(self.lo + (x / (self.BAR - 1)) * (self.hi - self.lo))


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
