"""Command palette entries for the instrument's main actions (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


def entries(app) -> list[tuple[str, object, str]]:
    """(name, callback, help) of every palette entry."""
    run = app.run_action
    return [
        (
            "Open block config",
            partial(run, "open_panel('blocks')"),
            "route, feature, stage, sources, rank, mask, on/off",
        ),
        (
            "Open feature browser",
            partial(run, "open_panel('browser')"),
            "search labels, neighbours, negative, mix",
        ),
        ("Open mask painter", partial(run, "open_panel('masks')"), "paint a 16×16 mask"),
        ("Open scenes", partial(run, "open_panel('scenes')"), "prompts A and B, crossfader"),
        ("Open composition", partial(run, "open_panel('composition')"), "seed-noise walk and seed"),
        ("Help: every key", partial(run, "open_panel('help')"), "all key bindings"),
        ("Save performance", partial(run, "save_performance"), "this song's setup (ctrl+s)"),
        ("Load performance", partial(run, "load_performance"), "this song's saved setup (ctrl+o)"),
        (
            "Render this song to video",
            partial(run, "render_video"),
            "an MP4 with the creature and the sound, in the background",
        ),
        ("Cancel video render", partial(run, "cancel_render"), "stop the background render"),
        ("Play / pause", partial(run, "toggle_pause"), "space"),
        ("Seek back 5 s", partial(run, "seek(-5)"), "left"),
        ("Seek forward 5 s", partial(run, "seek(5)"), "right"),
        ("Next block", partial(run, "next_block(1)"), "which block the panels edit"),
        ("Toggle block on/off", partial(run, "cycle('block_on')"), "the current block"),
        (
            "Negate block feature",
            partial(run, "cycle('negate')"),
            "push the current block's concept the other way",
        ),
        ("Cycle mask mode", partial(run, "cycle('mask')"), "the current block's mask"),
        ("Cycle scene blend mode", partial(run, "cycle('scene_mode')"), "slider, reactive, linked"),
        (
            "Cycle composition mode",
            partial(run, "cycle('composition_mode')"),
            "auto, pulse, continuous",
        ),
    ]


class InstrumentCommands(Provider):
    async def discover(self) -> Hits:
        for name, callback, text in entries(self.app):
            yield DiscoveryHit(name, callback, help=text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, text in entries(self.app):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=text)
