"""Help: every key of the app and of each panel, read from their BINDINGS (it cannot go stale)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.widgets import Static

from hambajuba_tui.tui.panels.base import Panel
from hambajuba_tui.tui.panels.masks import MaskGrid
from hambajuba_tui.tui.panels.widgets import Choice, Slider


def keys_text(binding: Binding) -> str:
    """``question_mark,f1`` → ``? / f1``."""
    return " / ".join(format_key(k.strip()) for k in binding.key.split(","))


def _bindings(cls) -> list[Binding]:
    """The BINDINGS a class and its bases declare (most derived first, each key once)."""
    seen, out = set(), []
    for klass in cls.__mro__:
        for b in klass.__dict__.get("BINDINGS", []):
            if isinstance(b, tuple):
                b = Binding(*b)
            if b.key not in seen and b.action and (b.description or not b.system):
                seen.add(b.key)
                out.append(b)
    return out


def sections(app) -> list[tuple[str, list[Binding]]]:
    """(title, bindings) for the main screen, each of its panels (the app's ``PANELS``) and
    the shared controls."""
    main = _bindings(type(app))
    palette = getattr(app, "COMMAND_PALETTE_BINDING", "")
    if palette and app.ENABLE_COMMAND_PALETTE:
        main.append(Binding(palette, "command_palette", "Command palette"))
    out = [("Main screen", main)]
    out += [(f"{cls.TITLE} panel", _bindings(cls)) for cls in getattr(app, "PANELS", {}).values()]
    out += [
        ("A choice (‹ value ›)", _bindings(Choice)),
        ("A slider", _bindings(Slider)),
        ("The mask grid", _bindings(MaskGrid)),
    ]
    return out


def help_text(app) -> Text:
    text = Text()
    for title, bindings in sections(app):
        text.append(f"{title}\n", style="bold underline")
        for b in bindings:
            text.append(f"  {keys_text(b):<16}", style="bold")
            text.append(f"{b.description or b.action}\n")
        text.append("\n")
    text.append(
        "Tab / shift+tab move between fields; Enter applies a typed value; "
        "the mouse clicks choices, sliders, list items and mask cells."
    )
    return text


class HelpPanel(Panel):
    TITLE = "Help"
    NAME = "help"
    BODY = VerticalScroll  # focusable: arrows and page keys scroll the help

    def body(self):
        yield Static(help_text(self.app), id="help-text")

    def first_focus(self):
        return self.query_one(".panel-body")
