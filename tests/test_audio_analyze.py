"""analyze() on songs with known answers: the demo song (known BPM, beats and stems), silence,
short clips; the cache; and the small pieces (follower, BPM fit, pulses)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile as sf
from songs import f_measure

from hambajuba_tui.audio import cache
from hambajuba_tui.audio.analysis import Analysis, analyze
from hambajuba_tui.audio.decode import Audio, AudioError, content_hash, load_audio
from hambajuba_tui.audio.demo_song import DEMO_BPM
from hambajuba_tui.audio.pipeline import all_silent_signals
from hambajuba_tui.audio.rhythm import bpm_from_beats, fold_bpm
from hambajuba_tui.audio.signals import (
    SIGNAL_NAMES,
    follow,
    follower_coeff,
    normalize,
    pulses,
    stem_signals,
)
from hambajuba_tui.audio.stems import STEM_BACKENDS, separate, separate_dsp
from hambajuba_tui.vocab import GRID_RATE, HOP, PHYSICAL_STEMS, SAMPLE_RATE

# audioread (librosa's fallback decoder) imports stdlib modules deprecated in Python 3.11+
pytestmark = [
    pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning"),
    pytest.mark.xdist_group("demo-analysis"),  # with test_audio_signals_full: one analysis
]

STEMS = (*PHYSICAL_STEMS, "global")


@pytest.fixture(scope="module")
def demo_cache(demo_analysis):
    return demo_analysis.cache_dir


@pytest.fixture(scope="module")
def song(demo_song):
    return demo_song


@pytest.fixture(scope="module")
def demo(demo_analysis):
    """(path, Analysis, seconds taken, progress calls) for the demo song, analysed once (cold,
    in conftest's ``demo_analysis``, which test_audio_signals_full shares)."""
    d = demo_analysis
    return d.path, d.analysis, d.seconds, d.calls


# --- the demo song ------------------------------------------------------------------------


@pytest.mark.slow
def test_bpm(demo):
    _, result, _, _ = demo
    assert abs(result.bpm - DEMO_BPM) < 1.0
    assert abs(result.bpm - DEMO_BPM) < 0.25  # the fit makes it precise, not lag-quantised


def test_beats_match_the_synthesised_beats(demo, song):
    _, result, _, _ = demo
    assert result.beats.dtype == np.float64
    assert np.all(np.diff(result.beats) > 0)
    assert f_measure(result.beats, song.beat_times) >= 0.95  # measured 0.996


def test_downbeats_match_bar_starts(demo, song):
    _, result, _, _ = demo
    assert f_measure(result.downbeats, song.downbeat_times) >= 0.9  # measured 0.985


# dsp stem envelope vs true stem envelope; measured: bass .86, drums .94, vocals .94, other .86
STEM_CORRELATION = {"bass": 0.78, "drums": 0.88, "vocals": 0.85, "other": 0.78}


@pytest.mark.parametrize("stem", PHYSICAL_STEMS)
def test_dsp_stems_follow_the_true_stems(demo, song, stem):
    _, result, _, _ = demo
    true = stem_signals(song.stems[stem], stem)["envelope"]
    got = result.signal(f"{stem}.envelope")
    assert len(true) == len(got)
    corr = float(np.corrcoef(true, got)[0, 1])
    assert corr >= STEM_CORRELATION[stem], f"{stem}: envelope correlation {corr:.3f}"


def test_drum_transients_line_up_with_kicks(demo, song):
    _, result, _, _ = demo
    transient = result.signal("drums.transient")
    bars = np.arange(len(song.beat_times)) // 4
    kicks = song.beat_times[(bars < 16) | (bars >= 20)]  # not in the breakdown
    radius = int(0.03 * GRID_RATE)
    seen = []
    for t in kicks:
        i = int(round(t * GRID_RATE))
        seen.append(transient[max(i - radius, 0) : i + radius + 1].max())
    assert np.mean(np.array(seen) > 0.1) >= 0.95
    # and every strong pulse sits on the eighth-note grid (kick, snare or hat)
    peaks = np.flatnonzero(
        (transient[1:-1] > 0.3)
        & (transient[1:-1] >= transient[:-2])
        & (transient[1:-1] > transient[2:])
    )
    grid = song.beat_times[0] + np.arange(2 * len(song.beat_times)) * 30.0 / DEMO_BPM
    off = np.array([np.abs(grid - (p + 1) / GRID_RATE).min() for p in peaks])
    assert len(peaks) > 0.9 * len(kicks)
    assert np.all(off < 0.03)
    # no strong drum hits in the breakdown (bars 17-20)
    a, b = (song.downbeat_times[[16, 20]] * GRID_RATE).astype(int)
    assert transient[a + 10 : b - 10].max() < 0.3


def test_signals_shapes_and_ranges(demo, song):
    _, result, _, _ = demo
    assert isinstance(result, Analysis)
    assert result.rate == GRID_RATE
    assert result.stems_backend == "dsp"
    assert not result.silent
    assert result.title == "hambajuba-demo"
    assert result.duration == pytest.approx(song.duration, abs=0.01)
    n = 1 + len(song.mix) // HOP
    assert result.n_hops == n
    assert set(result.signals) == set(all_silent_signals(1))  # the full set (full test elsewhere)
    for name, x in result.signals.items():
        assert x.dtype == np.float32 and x.shape == (n,), name
        assert x.min() >= 0.0 and x.max() <= 1.0, name
    for name in (f"{s}.{signal}" for s in STEMS for signal in SIGNAL_NAMES):
        assert result.signals[name].max() > 0.5, name  # every stem of the demo does something
    assert result.sample("global.envelope", 30.0) > 0.1


def test_progress_reports_stages_in_order(demo):
    _, _, _, calls = demo
    stages = [stage for stage, _ in calls]
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions)
    assert calls[-1] == ("done", 1.0)
    for stage in ("decode", "stems", "signals", "rhythm", "cache"):
        assert stage in stages


# --- cache -------------------------------------------------------------------------------


def test_second_analyze_is_a_cache_hit(demo, demo_cache):
    path, first, _, _ = demo
    calls: list[str] = []
    start = time.perf_counter()
    again = analyze(path, cache_dir=demo_cache, progress=lambda stage, f: calls.append(stage))
    assert "stems" not in calls
    assert time.perf_counter() - start < 1.0
    assert again.song_hash == first.song_hash == content_hash(path)
    assert again.bpm == first.bpm
    np.testing.assert_array_equal(again.beats, first.beats)
    np.testing.assert_array_equal(again.downbeats, first.downbeats)
    assert again.signals.keys() == first.signals.keys()
    for name in first.signals:
        np.testing.assert_array_equal(again.signals[name], first.signals[name])
    entry = demo_cache / first.song_hash
    assert (entry / "signals.npy").is_file() and (entry / "meta.json").is_file()
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]
    loaded = cache.load_cached(first.song_hash, demo_cache)
    assert loaded is not None and loaded.bpm == first.bpm


def test_default_cache_lives_under_hambajuba_home(tmp_path, monkeypatch, song):
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path / "home"))
    path = tmp_path / "clip.wav"
    sf.write(path, song.mix[: 2 * SAMPLE_RATE], SAMPLE_RATE)
    result = analyze(path)
    entry = tmp_path / "home" / "cache" / "analysis" / result.song_hash
    assert (entry / "meta.json").is_file()
    assert cache.load_cached(result.song_hash) is not None


@pytest.fixture
def clip(tmp_path, song):
    """A 5-second excerpt of the demo (fast to analyse) and its own cache dir."""
    path = tmp_path / "clip.wav"
    sf.write(path, song.mix[20 * SAMPLE_RATE : 25 * SAMPLE_RATE], SAMPLE_RATE)
    return path, tmp_path / "cache"


def _analysed_again(path, cache_dir) -> bool:
    stages: list[str] = []
    analyze(path, cache_dir=cache_dir, progress=lambda stage, f: stages.append(stage))
    return "stems" in stages


def test_corrupt_meta_re_analyses(clip):
    path, cache_dir = clip
    first = analyze(path, cache_dir=cache_dir)
    meta = cache_dir / first.song_hash / "meta.json"
    meta.write_text("{not json")
    assert _analysed_again(path, cache_dir)
    assert json.loads(meta.read_text())["format_version"] == cache.FORMAT_VERSION
    assert not _analysed_again(path, cache_dir)


def test_version_mismatch_re_analyses(clip):
    path, cache_dir = clip
    first = analyze(path, cache_dir=cache_dir)
    meta = cache_dir / first.song_hash / "meta.json"
    data = json.loads(meta.read_text())
    data["format_version"] = cache.FORMAT_VERSION + 100
    meta.write_text(json.dumps(data))
    assert cache.load_cached(first.song_hash, cache_dir) is None
    assert _analysed_again(path, cache_dir)


def test_corrupt_arrays_re_analyse(clip):
    path, cache_dir = clip
    first = analyze(path, cache_dir=cache_dir)
    npz = cache_dir / first.song_hash / "signals.npy"
    npz.write_bytes(npz.read_bytes()[:1000])
    assert cache.load_cached(first.song_hash, cache_dir) is None
    assert _analysed_again(path, cache_dir)


def test_a_failed_write_leaves_no_entry(clip, monkeypatch):
    path, cache_dir = clip

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        analyze(path, cache_dir=cache_dir)
    assert list(cache_dir.iterdir()) == []


# --- other songs -------------------------------------------------------------------------


def test_silence_is_silent_but_playable(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((3 * SAMPLE_RATE, 2), dtype=np.float32), SAMPLE_RATE)
    for _ in range(2):  # analysed, then from the cache
        result = analyze(path, cache_dir=tmp_path / "cache")
        assert result.silent
        assert result.bpm == 120.0
        assert len(result.beats) == 0 and len(result.downbeats) == 0
        assert result.n_hops == 301
        assert all(not x.any() for x in result.signals.values())
        assert set(all_silent_signals(1)) == set(result.signals)


@pytest.mark.parametrize("seconds", [1.0, 0.01])
def test_short_clips(tmp_path, song, seconds):
    path = tmp_path / "short.wav"
    sf.write(
        path,
        song.mix[10 * SAMPLE_RATE : 10 * SAMPLE_RATE + int(seconds * SAMPLE_RATE)],
        SAMPLE_RATE,
    )
    result = analyze(path, cache_dir=tmp_path / "cache")
    assert result.n_hops == 1 + int(seconds * SAMPLE_RATE) // HOP
    assert 60.0 <= result.bpm <= 180.0
    for x in result.signals.values():
        assert np.all((x >= 0) & (x <= 1))


def test_given_audio_without_a_file(tmp_path, song):
    audio = Audio(samples=song.mix[: 3 * SAMPLE_RATE].copy(), sr=SAMPLE_RATE)
    result = analyze(tmp_path / "not-a-file.wav", audio=audio, cache_dir=tmp_path / "c")
    assert result.n_hops == 1 + 3 * SAMPLE_RATE // HOP
    assert len(result.song_hash) >= 16


def test_bad_input_through_analyze(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        analyze(tmp_path / "missing.flac", cache_dir=tmp_path / "c")
    junk = tmp_path / "junk.wav"
    junk.write_text("hello")
    with pytest.raises(AudioError, match="not recognised"):
        analyze(junk, cache_dir=tmp_path / "c")


# --- pieces ------------------------------------------------------------------------------


def test_dsp_stems_partition_the_mix(song):
    part = song.mix[30 * SAMPLE_RATE : 34 * SAMPLE_RATE]
    stems = separate_dsp(part, SAMPLE_RATE)
    assert set(stems) == set(PHYSICAL_STEMS)
    for y in stems.values():
        assert y.dtype == np.float32 and y.shape == (len(part),)
    np.testing.assert_allclose(sum(stems.values()), part.mean(axis=1), atol=1e-4)


def test_unknown_backend_names_the_choices(song):
    with pytest.raises(AudioError, match="dsp"):
        separate(song.mix[:1000], SAMPLE_RATE, backend="magic")
    assert "dsp" in STEM_BACKENDS


def test_follower_matches_the_formula():
    x = np.r_[np.zeros(5), np.ones(50), np.zeros(50)]
    out = follow(x, attack_ms=20.0, release_ms=100.0)
    a, r = follower_coeff(20.0), follower_coeff(100.0)
    assert out[5] == pytest.approx(a)
    assert out[6] == pytest.approx(a + a * (1 - a))
    assert out[55] == pytest.approx(out[54] * (1 - r))
    assert follower_coeff(20.0) == pytest.approx(1 - np.exp(-1 / 2.0))


def test_normalize_uses_percentiles_and_clips():
    x = np.r_[np.zeros(10), np.linspace(0, 1, 80), np.full(10, 5.0)]
    out = normalize(x)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert not normalize(np.full(50, 1e-5), floor=1e-3).any()


def test_pulses_decay_with_40ms():
    out = pulses(np.array([10, 50]), np.array([1.0, 0.5], dtype=np.float32), 100)
    assert out[10] == 1.0 and out[50] == 0.5
    assert out[14] == pytest.approx(np.exp(-1.0), rel=1e-4)  # tau = 4 frames at 100 Hz
    assert out[9] == 0.0 and out[45] < 1e-3


def test_bpm_fit_is_precise_with_jitter_and_gaps():
    rng = np.random.default_rng(3)
    period = 60.0 / 127.3
    beats = 1.0 + np.arange(200) * period + rng.normal(0, 0.008, 200)
    beats = np.delete(beats, [20, 21, 90])  # missed beats
    beats = np.sort(np.r_[beats, 50.123])  # one spurious beat
    assert bpm_from_beats(beats) == pytest.approx(127.3, abs=0.05)
    assert bpm_from_beats(beats[:3]) is None


@pytest.mark.parametrize("raw, folded", [(240.0, 120.0), (45.0, 90.0), (181.0, 90.5), (60.0, 60.0)])
def test_fold_bpm(raw, folded):
    assert fold_bpm(raw) == pytest.approx(folded)


def test_load_audio_matches_the_demo_file(demo, song):
    path, _, _, _ = demo
    audio = load_audio(path)
    assert audio.samples.shape == song.mix.shape
    np.testing.assert_allclose(audio.samples, song.mix, atol=1e-4)
