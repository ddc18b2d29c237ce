"""The panel controls on their own, each in a tiny host app (as Textual tests its widgets),
and the panels' imports: one way, no circle."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from textual.app import App

from hambajuba_tui.tui.panels.widgets import Choice, Slider

PANELS = Path(__file__).parent.parent / "hambajuba_tui" / "tui" / "panels"


class Host(App):
    """One control, focused; every Changed it posts is recorded."""

    def __init__(self, control) -> None:
        super().__init__()
        self.control = control
        self.changes: list = []

    def compose(self):
        yield self.control

    def on_mount(self) -> None:
        self.control.focus()

    def on_choice_changed(self, event: Choice.Changed) -> None:
        assert event.control is self.control
        self.changes.append(event.value)

    def on_slider_changed(self, event: Slider.Changed) -> None:
        assert event.control is self.control
        self.changes.append(event.value)


def run(control, scenario) -> Host:
    host = Host(control)

    async def main():
        async with host.run_test(size=(60, 3)) as pilot:
            await scenario(pilot, control)

    asyncio.run(main())
    return host


def test_choice_keeps_its_value_in_a_reactive_and_posts_changed():
    async def scenario(pilot, choice: Choice):
        assert choice.value == "a"  # an unknown value shows the first option
        await pilot.press("right", "right")
        assert choice.value == "c"
        await pilot.press("right")  # wraps
        assert choice.value == "a"
        await pilot.press("left")
        assert choice.value == "c"
        await pilot.click(Choice, offset=(25, 0))  # right half: forward
        assert choice.value == "a"
        await pilot.click(Choice, offset=(2, 0))  # the label side: back
        assert choice.value == "c"
        choice.value = "b"  # set in code: still a change
        await pilot.pause()
        assert "‹ b ›" in str(choice.render())
        # quiet sets: shown, not posted
        choice.set("a")
        with choice.prevent(Choice.Changed):
            choice.value = "c"
        choice.set("x", options=("x", "y"))
        await pilot.pause()
        assert choice.value == "x" and choice.options == ("x", "y")
        choice.value = "nonsense"  # validated to an option
        await pilot.pause()
        assert choice.value == "x"

    host = run(Choice("pick", ("a", "b", "c"), "z"), scenario)
    assert host.changes == ["b", "c", "a", "c", "a", "c", "b"]


def test_slider_keeps_a_clamped_value_in_a_reactive_and_posts_changed():
    async def scenario(pilot, slider: Slider):
        assert slider.value == 1.0  # clamped on the way in
        await pilot.press("end")  # already there: no change, no message
        await pilot.press("left", "left")
        assert slider.value == 0.5
        await pilot.press("home")
        assert slider.value == 0.0
        await pilot.press("left")  # stays at the bottom
        await pilot.press("right")
        assert slider.value == 0.25
        await pilot.click(Slider, offset=(18 + 19, 0))  # the bar's right end
        assert slider.value == 1.0
        await pilot.click(Slider, offset=(2, 0))  # the label: nothing
        assert slider.value == 1.0
        slider.set(0.4)  # quiet
        with slider.prevent(Slider.Changed):
            slider.value = 7.0
        await pilot.pause()
        assert slider.value == 1.0 and "1.00" in str(slider.render())

    host = run(Slider("level", 3.0, 0.0, 1.0, 0.25), scenario)
    assert host.changes == [0.75, 0.5, 0.0, 0.25, 1.0]


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """The panel modules ``path`` imports at its top level, and any hambajuba_tui.tui import
    made inside a function (an import circle dodged)."""
    tree = ast.parse(path.read_text())
    top = {
        node.module.rsplit(".", 1)[-1]
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("hambajuba_tui.tui.panels.")
    }
    top |= {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "hambajuba_tui.tui.panels"
        for alias in node.names
    }
    hidden = [
        f"{path.name}:{node.lineno}"
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hambajuba_tui.tui")
    ]
    return top, hidden


def test_the_panel_modules_import_one_way_with_no_circle():
    graph, hidden = {}, []
    for path in sorted(PANELS.glob("*.py")):
        graph[path.stem], dodged = _imports(path)
        hidden += dodged
    assert not hidden, f"imports inside functions: {hidden}"
    # no panel module needs the app, and none but the instrument knows every panel
    assert all("app" not in deps for deps in graph.values())
    assert not any("instrument" in deps for deps in graph.values())
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import circle: {' → '.join((*path, name))}"
        if name in done:
            return
        for dep in graph.get(name, ()):
            visit(dep, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())
