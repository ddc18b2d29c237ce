"""Quality scores of the analysis on synthesised songs with known truth (tests/songs.py).

Each song is written to a WAV file and analysed once through ``analysis.analyze`` (dsp stems,
a module-wide temporary cache). Scores: BPM error, beat and downbeat F-measure (±70 ms), how
well each dsp stem's envelope follows the envelope of the true stem, layer entries against
the score's entries, the key (and a modulation), sections against the arrangement, and the
vocal pitch against the melody. Every threshold sits a little below
the value measured when it was set (the measured value is written beside it), so a regression
fails rather than passing quietly.
"""

from __future__ import annotations

import numpy as np
import pytest
import songs
import soundfile as sf
from songs import f_measure

from hambajuba_tui.audio.analysis import Analysis, analyze
from hambajuba_tui.audio.rhythm import bpm_from_beats
from hambajuba_tui.audio.signals import ENERGY_FLOOR, normalize, rms

# audioread (librosa's fallback decoder) imports stdlib modules deprecated in Python 3.11+
pytestmark = pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning")


FACTORIES = {
    **{
        f"steady-{bpm:g}": (lambda bpm=bpm: songs.steady(bpm, seed=int(bpm)))
        for bpm in songs.STEADY_TEMPI
    },
    "swing-110": lambda: songs.steady(110.0, swing=2 / 3, seed=7),
    "tempo-100-130": songs.tempo_change,
    "key-change": songs.key_change,
    "dropouts": songs.dropouts,
}
STEADY = [name for name in FACTORIES if name != "tempo-100-130"]


class Analysed:
    """Renders and analyses each song on first use; module-scoped, so once per run."""

    def __init__(self, root):
        self.root = root
        self.done: dict[str, tuple[songs.Song, Analysis]] = {}

    def __call__(self, name: str) -> tuple[songs.Song, Analysis]:
        if name not in self.done:
            song = FACTORIES[name]()
            path = self.root / f"{name}.wav"
            sf.write(path, song.mix, song.sr, subtype="PCM_16")
            self.done[name] = song, analyze(path, cache_dir=self.root / "cache")
        return self.done[name]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Analysed:
    return Analysed(tmp_path_factory.mktemp("quality"))


# --- tempo and beats ---------------------------------------------------------------------

# |measured - true| BPM: 72 .0007, 96 .0007, 128 .0045, 150 .0004, 168 .0031, swing .0010,
# key-change .0042, dropouts .0455. Before the octave check 72 read 144 and 168 read 84.
BPM_PRECISION = 0.1


@pytest.mark.parametrize("name", STEADY)
def test_bpm(analysed, name):
    song, result = analysed(name)
    assert abs(result.bpm - song.bpm) < 1.0, f"{name}: {result.bpm:.3f} BPM"
    assert abs(result.bpm - song.bpm) < BPM_PRECISION, f"{name}: {result.bpm:.3f} BPM"


# measured: 72 .968, 96 .979, 128 .984, 150 .987, 168 .990, swing .984, key-change .987,
# dropouts .991 (one miss out of 16-60 beats: usually the first, which librosa trims)
BEAT_F = 0.95


@pytest.mark.parametrize("name", STEADY)
def test_beats(analysed, name):
    song, result = analysed(name)
    assert result.beats.dtype == np.float64
    assert np.all(np.diff(result.beats) > 0)
    assert result.beats[0] >= 0.0 and result.beats[-1] <= song.duration
    score = f_measure(result.beats, song.beat_times)
    assert score >= BEAT_F, f"{name}: beat F-measure {score:.3f}"


def test_tempo_change_beats_follow_the_change(analysed):
    """100 BPM for 4 bars, then 130 BPM for 6 bars. ``bpm`` is one number, so it honestly
    reports the tempo the song spends the longest time in (130); the beats carry the change,
    so the tempo of each part, fitted from the beats, is right."""
    song, result = analysed("tempo-100-130")
    first, second = song.bpms
    change = song.tempo_change_s
    assert abs(result.bpm - second) < 1.0, result.bpm  # measured 130.0065
    before = bpm_from_beats(result.beats[result.beats < change - 0.2])
    after = bpm_from_beats(result.beats[result.beats > change + 0.2])
    assert before is not None and abs(before - first) < 0.2, before  # measured 100.0068
    assert after is not None and abs(after - second) < 0.2, after  # measured 130.0072
    score = f_measure(result.beats, song.beat_times)
    assert score >= BEAT_F, f"beat F-measure {score:.3f}"  # measured .987 (.780 before)


# --- stems -------------------------------------------------------------------------------

# Envelope correlation, dsp stem vs true stem, measured per song; each threshold is the
# measured value minus STEM_MARGIN. ``other`` (a chord pad) is scored only where it comes and
# goes (dropouts): in the other songs it plays all the time, its envelope is nearly flat and
# the correlation mostly measures leakage (measured .49-.73 there).
STEM_CORRELATION = {
    "steady-72": {"bass": 0.919, "drums": 0.944, "vocals": 0.908},
    "steady-96": {"bass": 0.898, "drums": 0.952, "vocals": 0.974},
    "steady-128": {"bass": 0.896, "drums": 0.945, "vocals": 0.963},
    "steady-150": {"bass": 0.879, "drums": 0.949, "vocals": 0.944},
    "steady-168": {"bass": 0.831, "drums": 0.927, "vocals": 0.937},
    "swing-110": {"bass": 0.880, "drums": 0.937, "vocals": 0.971},
    "tempo-100-130": {"bass": 0.890, "drums": 0.948, "vocals": 0.952},
    "key-change": {"bass": 0.898, "drums": 0.954, "vocals": 0.970},
    "dropouts": {"bass": 0.918, "drums": 0.954, "vocals": 0.983, "other": 0.862},
}
STEM_MARGIN = 0.04


def envelope_correlation(song: songs.Song, result: Analysis, stem: str) -> float:
    true = normalize(rms(song.stems[stem]), floor=ENERGY_FLOOR)  # as signals' "envelope"
    got = result.signal(f"{stem}.envelope")
    assert len(true) == len(got)
    return float(np.corrcoef(true, got)[0, 1])


@pytest.mark.parametrize("name", list(STEM_CORRELATION))
def test_dsp_stems_follow_the_true_stems(analysed, name):
    song, result = analysed(name)
    assert result.stems_backend == "dsp"
    low = []
    for stem, measured in STEM_CORRELATION[name].items():
        corr = envelope_correlation(song, result, stem)
        if corr < measured - STEM_MARGIN:
            low.append(f"{stem} {corr:.3f} (measured {measured:.3f})")
    assert not low, f"{name}: " + ", ".join(low)


def test_dropped_instruments_go_quiet(analysed):
    """Bars 8-9 of the dropouts song have no drums and no bass: their dsp stems' envelopes
    stay low there and come back when they re-enter."""
    song, result = analysed("dropouts")
    out_start, back = song.exits["drums"][0], song.entries["drums"][1]
    assert (out_start, back) == (song.exits["bass"][0], song.entries["bass"][1])
    grid = result.grid
    gap = (grid > out_start + 0.5) & (grid < back - 0.3)
    after = (grid > back + 0.3) & (grid < back + 4.0)
    for stem in ("drums", "bass"):
        env = result.signal(f"{stem}.envelope")
        quiet, loud = float(np.percentile(env[gap], 90)), float(np.percentile(env[after], 90))
        # measured 90th percentiles, gap / after: drums .18 / .80, bass .06 / .97
        assert quiet < 0.25, (stem, quiet)
        assert loud > 3 * quiet + 0.2, (stem, loud)


# --- layer entries ------------------------------------------------------------------------

# |estimated - true| entry time (s), measured on every song: drums .00, bass .01-.10,
# vocals .02-.03; ``other`` (a pad whose first chord partly falls below the bass crossover)
# .28-1.70 s, which is up to 2.04 beats (steady-72).
ENTRY_TOLERANCE_S = 0.25
OTHER_ENTRY_BEATS = 2.5


def _entry_tolerance(song: songs.Song, stem: str) -> float:
    return OTHER_ENTRY_BEATS * 60.0 / song.bpm if stem == "other" else ENTRY_TOLERANCE_S


@pytest.mark.parametrize("name", list(FACTORIES))
def test_layer_entries_fire_where_instruments_enter(analysed, name):
    """Every true entry (the start, and each return after a two-bar break) has one estimated
    entry near it, and no entry fires anywhere else: leakage between dsp stems (the kick's
    tail in ``bass``, bass harmonics in ``other``) must not look like an instrument entering."""
    song, result = analysed(name)
    for stem in ("drums", "bass", "other", "vocals"):
        got = result.events[f"{stem}.layer_entry"]
        want = np.asarray(song.entries[stem])
        tol = _entry_tolerance(song, stem)
        assert len(got) == len(want), f"{name} {stem}: entries {got.round(2)}, true {want}"
        err = np.abs(got - want)
        assert np.all(err <= tol), f"{name} {stem}: entries {got.round(2)}, true {want}"


# --- key ----------------------------------------------------------------------------------

# Key change measured 4.9 s (2.25 bars) after the true one: each bar's key is scored over the
# four bars around it, so two mixed bars follow a modulation before the new key wins.
KEY_CHANGE_BARS = 2.5


@pytest.mark.parametrize("name", [n for n in FACTORIES if n != "key-change"])
def test_key(analysed, name):
    song, result = analysed(name)
    ((_, true_key),) = song.keys
    assert result.key == true_key, f"{name}: {result.key}"
    assert result.keys == [(0.0, true_key)], f"{name}: {result.keys}"


def test_key_change_is_followed(analysed):
    """A minor for five bars, then C# minor: the keys over time say so, at about the right
    bar, and the song's key is the one it starts in (a tie goes to the earlier key)."""
    song, result = analysed("key-change")
    (_, first), (change, second) = song.keys
    assert [k for _, k in result.keys] == [first, second], result.keys
    assert result.keys[0][0] == 0.0
    bar = 4 * 60.0 / song.bpm
    assert abs(result.keys[1][0] - change) <= KEY_CHANGE_BARS * bar, result.keys
    assert result.key == first


# --- downbeats ----------------------------------------------------------------------------

# Downbeat F-measure (±70 ms) measured: 72 .857, 96 .909, 128 .933, 150 .947, 168 .957,
# swing .933, tempo change .947, key change .947, dropouts .963 (misses are the first bar,
# whose beat librosa trims). Before the accompaniment-only chord cue: 0.0 on all but dropouts
# (the lead line's note changes put the bar half a bar late).
DOWNBEAT_F = 0.8


@pytest.mark.parametrize("name", list(FACTORIES))
def test_downbeats(analysed, name):
    song, result = analysed(name)
    assert set(np.round(result.downbeats, 6)) <= set(np.round(result.beats, 6))
    score = f_measure(result.downbeats, song.downbeat_times)
    assert score >= DOWNBEAT_F, f"{name}: downbeat F-measure {score:.3f}"


# --- sections -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in FACTORIES if n != "dropouts"])
def test_one_section_when_nothing_changes(analysed, name):
    """Same layers all through (a tempo or key change does not change the arrangement)."""
    song, result = analysed(name)
    assert [lab for _, _, lab in result.sections] == ["A"], result.sections
    assert result.sections[0][1] == pytest.approx(song.duration, abs=0.01)


def test_sections_start_where_the_arrangement_changes(analysed):
    """Dropouts: layers change at bars 2, 4, 6, 8 and 10. Measured boundaries: bars 2, 6 and 10
    exactly (at least 8 beats apart, so not all five); each must sit on a true change."""
    song, result = analysed("dropouts")
    changes = np.array(
        sorted({t for ts in (*song.entries.values(), *song.exits.values()) for t in ts if t > 1.0})
    )
    starts = [s for s, _, _ in result.sections[1:]]
    assert len(starts) >= 3, result.sections
    for s in starts:
        assert np.min(np.abs(changes - s)) < 0.1, (s, changes)
    labels = [lab for _, _, lab in result.sections]
    assert len(set(labels)) == len(labels)  # no two of these parts have the same layers


# --- pitch --------------------------------------------------------------------------------

# Share of the lead's sounding frames (truth) that the dsp vocals stem reports voiced
# (pitch_conf > 0.5) within a semitone of the true note: measured .999 (steady-72) to 1.000 on
# every other song.
PITCH_HIT = 0.95


@pytest.mark.parametrize("name", list(FACTORIES))
def test_vocal_pitch_follows_the_melody(analysed, name):
    song, result = analysed(name)
    n = min(len(song.lead_hz), result.n_hops)
    truth = song.lead_hz[:n]
    est = result.pitch_hz["vocals"][:n].astype(np.float64)
    conf = result.signal("vocals.pitch_conf")[:n]
    sounding = truth > 0
    hit = sounding & (conf > 0.5) & (est > 0)
    semitones = np.abs(12 * np.log2(np.maximum(est, 1.0) / np.where(sounding, truth, 1.0)))
    share = float(np.sum(hit & (semitones < 1.0)) / np.sum(sounding))
    assert share >= PITCH_HIT, f"{name}: {share:.3f} of the lead's frames within a semitone"
