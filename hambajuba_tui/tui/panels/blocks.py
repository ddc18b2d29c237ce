"""Block config: route, feature, stage bounds, sources, rank, mask mode and on/off of a block."""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding
from textual.widgets import Static

from hambajuba_tui.bridge.dance import INTENSITY_SOURCES, SILENCE_MODES
from hambajuba_tui.bridge.prominence import RANKS
from hambajuba_tui.bridge.session import (
    MASK_MODES,
    POSITION_SOURCES,
    SOURCES,
    STAGE_RANGE,
    UNIT_RANGE,
    BlockSettings,
)
from hambajuba_tui.tui.panels.base import Panel
from hambajuba_tui.tui.panels.widgets import Choice, Field, Slider, parse_float, parse_int
from hambajuba_tui.vocab import BLOCKS, N_FEATURES, is_feature_id

OFF = "off"


def parse_feature(text: str) -> int:
    fid = parse_int(text)
    if not is_feature_id(fid):
        raise ValueError(f"a feature id is 0..{N_FEATURES - 1}, got {fid}")
    return fid


def parse_mix_feature(text: str) -> int | None:
    return None if not text.strip() else parse_feature(text)


def parse_bound(text: str) -> float:
    value = parse_float(text)
    lo, hi = STAGE_RANGE
    if not lo <= value <= hi:
        raise ValueError(f"a stage bound is in {lo:g}..{hi:g}, got {value:g}")
    return value


class BlockPanel(Panel):
    TITLE = "Block"
    NAME = "blocks"
    BINDINGS = [
        Binding("pageup", "block(-1)", "Prev block"),
        Binding("pagedown", "block(1)", "Next block"),
        Binding("o", "toggle_on", "On/off"),
        Binding("n", "negate", "Negative"),
        Binding("f", "app.open_panel('browser')", "Browse features"),
        Binding("m", "app.open_panel('masks')", "Paint mask"),
    ]

    def body(self):
        b = self.session.block(self.block)
        yield Choice("block", BLOCKS, self.block, id="block")
        yield Choice("route", (OFF, *SOURCES), b.source or OFF, id="route")
        yield Field("feature", str(b.feature), parse_feature, id="feature")
        yield Static("", id="feature-label", markup=False)
        yield Field("stage left", f"{b.stage.left:g}", parse_bound, id="left")
        yield Field("stage home", f"{b.stage.home:g}", parse_bound, id="home")
        yield Field("stage right", f"{b.stage.right:g}", parse_bound, id="right")
        yield Choice("position", POSITION_SOURCES, b.position_source, id="position")
        yield Choice("intensity", INTENSITY_SOURCES, b.intensity_source, id="intensity")
        yield Choice("rank", tuple(RANKS), b.rank, id="rank")
        yield Choice("mask", MASK_MODES, b.mask, id="mask")
        yield Choice("on silence", SILENCE_MODES, b.silence, id="silence")
        yield Field(
            "mix feature",
            "" if b.mix_feature is None else str(b.mix_feature),
            parse_mix_feature,
            placeholder="none",
            id="mix-feature",
        )
        yield Slider("mix weight", b.mix, *UNIT_RANGE, id="mix")

    def on_mount(self) -> None:
        super().on_mount()
        if self.catalogs.catalog is None:  # feature labels, once loaded, name the features
            self.run_worker(self._load_labels, thread=True, group="catalog")

    def _load_labels(self) -> None:
        try:
            self.catalogs.load()
        except (OSError, ValueError):
            return  # the browser says why; here the features keep their ids
        self.deliver(lambda: self.is_attached and self.sync())

    def sync(self) -> None:
        b: BlockSettings = self.session.block(self.block)
        self.query_one("#block", Choice).set(self.block)
        self.query_one("#route", Choice).set(b.source or OFF)
        self.query_one("#feature", Field).set(str(b.feature))
        self.query_one("#feature-label", Static).update(
            f"  {self.catalogs.describe(self.block, b.feature)}"
            + (
                f"\n  mix: {self.catalogs.describe(self.block, b.mix_feature)}"
                if b.mix_feature is not None
                else ""
            )
        )
        for side in ("left", "home", "right"):
            self.query_one(f"#{side}", Field).set(f"{getattr(b.stage, side):g}")
        for wid, value in (
            ("position", b.position_source),
            ("intensity", b.intensity_source),
            ("rank", b.rank),
            ("mask", b.mask),
            ("silence", b.silence),
        ):
            self.query_one(f"#{wid}", Choice).set(value)
        self.query_one("#mix-feature", Field).set(
            "" if b.mix_feature is None else str(b.mix_feature)
        )
        self.query_one("#mix", Slider).set(b.mix)

    # -- edits -----------------------------------------------------------------------------
    def on_choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        wid, value = event.choice.id, event.value
        if wid == "block":
            self.say("")
            self.choose_block(value)
        elif wid == "route":
            self.edit_block(source=None if value == OFF else value)
        elif wid == "mask" and value == "painted" and not self.session.block(self.block).painted:
            self.say("paint the mask first: press m for the mask painter")
            self.sync()
        else:
            field = {
                "position": "position_source",
                "intensity": "intensity_source",
                "rank": "rank",
                "mask": "mask",
                "silence": "silence",
            }[wid]
            self.edit_block(**{field: value})

    def on_field_applied(self, event: Field.Applied) -> None:
        event.stop()
        wid = event.field.id
        if wid == "feature":
            self.edit_block(feature=event.value)
        elif wid == "mix-feature":
            self.edit_block(mix_feature=event.value)
        else:
            block, bound = self.block, {wid: event.value}
            self.apply(lambda s: s.with_block(block, stage=replace(s.block(block).stage, **bound)))

    def on_slider_changed(self, event: Slider.Changed) -> None:
        event.stop()
        self.edit_block(mix=event.value)

    def action_toggle_on(self) -> None:
        self.toggle_block()

    def action_negate(self) -> None:
        block = self.block
        self.apply(lambda s: s.with_block(block, stage=s.block(block).stage.flipped()))
