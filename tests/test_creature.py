"""The creature alone: what it does at a media time (face, heart pulse, orbs, key), the
tendrils' paths, the heart frame's edges, the one-line face and orbs of small windows."""

import asyncio
import io

import numpy as np
import pytest
from conftest import make_analysis
from rich.console import Console
from textual.app import App

from hambajuba_tui.tui.border import GLYPHS, border_style, edge_text
from hambajuba_tui.tui.face import Expression, FaceRenderable, face_size
from hambajuba_tui.tui.moment import WIDE_S, CreatureClock, drop_times, key_at
from hambajuba_tui.tui.orbs import QUIET, OrbRenderable, orb_color
from hambajuba_tui.tui.skin import blend, default_skin, load_skin
from hambajuba_tui.tui.status import StatusInfo, StatusLine
from hambajuba_tui.tui.tendrils import (
    DOWN_LEFT,
    DOWN_RIGHT,
    UP_LEFT,
    UP_RIGHT,
    H,
    V,
    bead_index,
    tendril_paths,
)
from hambajuba_tui.vocab import GRID_RATE

STEMS = ["bass", "drums", "vocals", "other"]


@pytest.fixture
def song():
    """The hand-made 120 BPM analysis, plus a bass entry at 3 s, a novelty peak at 7 s and
    a key change at 6 s."""
    a = make_analysis()
    a.events = {"bass.layer_entry": np.array([3.0]), "drums.layer_entry": np.zeros(0)}
    t = np.arange(a.n_hops) / GRID_RATE
    a.signals["global.novelty_mid"] = np.exp(-(((t - 7.0) / 0.2) ** 2)).astype(np.float32)
    a.signals["global.novelty_long"] = np.full(a.n_hops, 0.3, np.float32)  # never a peak
    a.key, a.keys = "A minor", [(0.0, "A minor"), (6.0, "C major")]
    return a


def test_drops_are_layer_entries_and_novelty_peaks(song):
    assert drop_times(song) == pytest.approx([3.0, 7.0], abs=0.011)
    clock = CreatureClock(song)
    # between beats (0.25 s after one at 120 BPM), so only a drop can open the eyes wide
    assert clock.at(3.25, True, STEMS).expression == Expression("wide", "wide")
    assert clock.at(7.25, True, STEMS).expression.eyes == "wide"
    assert 3.0 + WIDE_S < 4.25
    assert clock.at(4.25, True, STEMS).expression.eyes == "open"
    assert clock.at(5.25, True, STEMS).expression.eyes == "open"
    assert clock.at(3.25, False, STEMS).expression == Expression("asleep", "asleep")


def test_the_face_blinks_just_after_each_beat(song):
    clock = CreatureClock(song)
    beats = song.beats[(song.beats > 0.5) & (song.beats < 2.9)]
    assert len(beats) >= 4
    for b in beats:
        assert clock.at(b + 0.03, True, STEMS).expression.eyes == "closed"
        assert clock.at(b + 0.3, True, STEMS).expression.eyes == "open"


def test_the_heart_swells_on_the_beat_and_rests_between_and_when_paused(song):
    clock = CreatureClock(song, pulse_s=0.25)
    on = clock.at(1.0 + 0.005, True, STEMS)
    later = clock.at(1.0 + 0.2, True, STEMS)
    rest = clock.at(1.0 + 0.49, True, STEMS)
    assert on.pulse == 1.0 and 0.0 < later.pulse < on.pulse and rest.pulse == 0.0
    assert clock.at(1.005, False, STEMS).pulse == 0.0
    assert on.beat_phase < 0.05 and rest.beat_phase > 0.9


def test_orbs_follow_their_stem_and_flutter_on_its_hits(song):
    clock = CreatureClock(song)
    on_beat, off_beat = clock.at(2.0, True, STEMS), clock.at(2.35, True, STEMS)
    drums = STEMS.index("drums")
    assert on_beat.flutter[drums] and not off_beat.flutter[drums]
    assert on_beat.activity[drums] > off_beat.activity[drums] + 0.3  # drums decay per beat
    assert on_beat.activity[STEMS.index("other")] == pytest.approx(0.4)
    assert not any(on_beat.flutter[i] for i in (0, 2, 3))  # only drums have transients
    assert clock.at(2.0, False, STEMS).activity == (0.0,) * 4
    unrouted = clock.at(2.0, True, ["bass", "", "tension", "nothing"])
    assert unrouted.activity[1:] == (0.0, 0.0, 0.0)


def test_the_status_line_shows_the_key_of_the_moment(song):
    assert key_at(song, 1.0) == "A minor" and key_at(song, 6.5) == "C major"
    clock = CreatureClock(song)
    assert clock.at(6.5, True, STEMS).key == "C major"
    song.keys = []
    assert key_at(song, 6.5) == "A minor"
    info = StatusInfo(
        playing=True,
        now=65,
        duration=200,
        bpm=120,
        engine="preview",
        fps=30,
        dropped=2,
        graphics="sixel",
        sound="silent",
        key="C major",
    )
    assert info.text().startswith("▶ 1:05 / 3:20  ·  120.0 BPM  ·  C major  ·  engine preview")


def _connected(path):
    """Each cell touches the next (4-neighbourhood) and no cell repeats."""
    steps = [abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(path, path[1:])]
    return all(s == 1 for s in steps) and len({c[:2] for c in path}) == len(path)


@pytest.mark.parametrize("mirror", [False, True])
def test_tendrils_run_from_each_orb_to_the_heart(mirror):
    width, height = 12, 20
    ends = [(3, 8), (15, 11), (9, 9)]
    paths = tendril_paths(width, height, ends, mirror)
    orb_x, heart_x = (width - 1, 0) if mirror else (0, width - 1)
    for (start, end), path in zip(ends, paths):
        assert path[0][:2] == (orb_x, start) and path[-1][:2] == (heart_x, end)
        assert _connected(path)
    assert {g for _, _, g in paths[2]} == {H}  # level: a straight line
    down, up = paths[0], paths[1]
    corners = [g for _, _, g in down if g not in (H, V)]
    assert corners == ([DOWN_RIGHT, UP_LEFT] if mirror else [DOWN_LEFT, UP_RIGHT])
    corners = [g for _, _, g in up if g not in (H, V)]
    assert corners == ([UP_RIGHT, DOWN_LEFT] if mirror else [UP_LEFT, DOWN_RIGHT])
    # the two bent tendrils never share a cell
    assert not {c[:2] for c in down} & {c[:2] for c in up}


def test_tendrils_fit_any_strip_and_vanish_when_too_narrow():
    assert tendril_paths(2, 10, [(1, 5)]) == [[]]
    for path in tendril_paths(5, 4, [(-3, 40), (40, -3)]):
        assert all(0 <= x < 5 and 0 <= y < 4 for x, y, _ in path) and _connected(path)
    assert [bead_index(16, p) for p in (0.0, 0.5, 0.99)] == [0, 8, 14]
    assert bead_index(0, 0.5) == -1


def test_the_heart_frame_pulses_its_glyphs_and_colour():
    skin = default_skin()
    rest, rest_color = border_style(skin, 0.0)
    peak, peak_color = border_style(skin, 1.0)
    assert rest == GLYPHS[skin.heart_border] and peak == GLYPHS[skin.heart_pulse_border]
    assert rest_color == skin.colors["accent"] and peak_color == skin.heart_pulse_color
    assert border_style(skin, 0.25)[1] == blend(skin.colors["accent"], skin.heart_pulse_color, 0.25)
    top = edge_text("top", 20, 1, rest, "♥ song")[0]
    assert top[0] == "╭" and top[-1] == "╮" and " ♥ song " in top and len(top) == 20
    long = edge_text("bottom", 12, 1, rest, "a very long engine name")[0]
    assert len(long) == 12 and long.endswith("…╯") and long[0] == "╰"
    assert edge_text("left", 1, 5, peak) == ["┃"] * 5
    assert edge_text("top", 1, 1, rest) == ["─"] and edge_text("top", 0, 1, rest) == [""]


def test_small_windows_get_the_one_line_face_and_orbs():
    skin = default_skin()
    mini = FaceRenderable(skin, Expression("closed", "open"), compact=True).lines()
    assert mini == [skin.face_mini.replace("{l}", "-").replace("{r}", "-").replace("{m}", "()")]
    assert face_size(skin, True) == (len(mini[0]), 1)
    assert face_size(skin, False)[1] == len(skin.face_frame)
    out = io.StringIO()
    Console(file=out, width=7, color_system=None).print(
        OrbRenderable(skin, "bass", 1.0, False, compact=True)
    )
    assert [ln.strip() for ln in out.getvalue().splitlines()] == [skin.orb_stages[-1][1].strip()]


def test_orbs_and_tendrils_fade_into_the_background_when_their_stem_is_quiet():
    for name in ("default", "kawaii"):
        skin = load_skin(name)[0]
        stem = skin.stem_colors["bass"]
        assert orb_color(skin, "bass", 1.0) == stem
        assert orb_color(skin, "bass", 0.0) == blend(skin.colors["background"], stem, QUIET)
        assert orb_color(skin, "drums_low", 1.0) == skin.stem_colors["drums"]
    assert blend("#000000", "#ffffff", 0.5) == "#808080"
    assert blend("#102030", "#ffffff", 0.0) == "#102030"


def test_a_narrow_status_line_tightens_its_separators():
    info = StatusInfo(
        playing=True,
        now=31,
        duration=65,
        bpm=124,
        engine="preview",
        fps=7,
        dropped=60,
        graphics="sixel",
        sound="silent",
        key="A minor",
    )

    class One(App):
        def compose(self):
            yield StatusLine()

    async def scenario(width):
        app = One()
        async with app.run_test(size=(width, 3)) as pilot:
            line = app.query_one(StatusLine)
            line.text = info.text()
            await pilot.pause()
            return str(line.render())

    assert asyncio.run(scenario(120)) == info.text()
    narrow = asyncio.run(scenario(80))
    assert narrow == info.text().replace("  ·  ", " · ") and narrow.endswith("silent")
