"""The synthesised demo song: known tempo, beats and stems."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile as sf

from hambajuba_tui.audio import demo_song
from hambajuba_tui.audio.demo_song import (
    DEMO_BPM,
    DEMO_FILENAME,
    DemoSong,
    synthesize_demo,
    write_demo_song,
)
from hambajuba_tui.threads import one_blas_thread
from hambajuba_tui.vocab import PHYSICAL_STEMS, SAMPLE_RATE

pytestmark = pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def song_and_time() -> tuple[DemoSong, float]:
    """The song and the CPU seconds it took, on one BLAS thread: on an idle core that is its wall
    time; it is not inflated by the suite's other worker on the other core, nor by a second BLAS
    thread spinning against busy cores (3.8 s of CPU for 2.0 s of work, measured)."""
    with one_blas_thread():
        start = time.process_time()
        song = synthesize_demo()
        return song, time.process_time() - start


def test_shape_length_and_speed(song_and_time):
    song, seconds = song_and_time
    assert seconds < 5.0
    assert song.sr == SAMPLE_RATE
    assert song.duration >= 64.0
    assert song.mix.dtype == np.float32
    assert song.mix.shape == (round(song.duration * song.sr), 2)
    assert set(song.stems) == set(PHYSICAL_STEMS)
    for stem in song.stems.values():
        assert stem.dtype == np.float32
        assert stem.shape == (song.mix.shape[0],)


def test_peak_and_no_clipping(song_and_time):
    song, _ = song_and_time
    assert np.abs(song.mix).max() == pytest.approx(0.9, abs=1e-3)
    assert np.all(np.isfinite(song.mix))


def test_stems_sum_to_the_mono_mix(song_and_time):
    song, _ = song_and_time
    total = sum(song.stems.values())
    np.testing.assert_allclose(total, song.mix.mean(axis=1), atol=1e-5)


def test_every_stem_is_audible_and_stereo_is_not_mono(song_and_time):
    song, _ = song_and_time
    for name, stem in song.stems.items():
        assert np.sqrt(np.mean(stem**2)) > 0.02, name
    assert not np.allclose(song.mix[:, 0], song.mix[:, 1])


def test_beats_and_arrangement(song_and_time):
    song, _ = song_and_time
    assert song.bpm == DEMO_BPM
    np.testing.assert_allclose(np.diff(song.beat_times), 60.0 / DEMO_BPM)
    assert len(song.downbeat_times) * 4 == len(song.beat_times)
    sr = song.sr

    def rms(name: str, bar: int) -> float:
        t0 = song.downbeat_times[bar]
        seg = song.stems[name][int(t0 * sr) : int((t0 + 4 * 60 / DEMO_BPM) * sr)]
        return float(np.sqrt(np.mean(seg**2)))

    assert rms("drums", 0) > 0.05 and rms("bass", 0) > 0.02
    assert rms("other", 1) < 1e-3 and rms("vocals", 1) < 1e-3  # intro: drums + bass only
    assert rms("other", 5) > 0.02 and rms("vocals", 5) < 1e-3  # chords from bar 5
    assert rms("vocals", 9) > 0.02  # lead from bar 9
    assert rms("drums", 17) < 1e-3  # breakdown
    assert rms("drums", 21) > 0.05


def test_deterministic(song_and_time):
    song, _ = song_and_time
    again = synthesize_demo()
    np.testing.assert_array_equal(song.mix, again.mix)


def test_write_reuse_and_rewrite(tmp_path, song_and_time, monkeypatch):
    song, _ = song_and_time
    monkeypatch.setattr(demo_song, "synthesize_demo", lambda sr=SAMPLE_RATE: song)
    path = write_demo_song(tmp_path)
    assert path == tmp_path / DEMO_FILENAME
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 2, "PCM_16")
    for name in PHYSICAL_STEMS:
        stem, sr = sf.read(tmp_path / "stems" / f"{name}.wav", dtype="float32")
        assert sr == SAMPLE_RATE
        np.testing.assert_allclose(stem, song.stems[name], atol=1e-4)
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]

    mtime = path.stat().st_mtime_ns
    start = time.perf_counter()
    assert write_demo_song(tmp_path) == path
    assert time.perf_counter() - start < 0.5
    assert path.stat().st_mtime_ns == mtime  # reused

    meta = tmp_path / "hambajuba-demo.json"
    meta.write_text(json.dumps({"demo_version": -1}))
    write_demo_song(tmp_path)
    assert json.loads(meta.read_text())["demo_version"] != -1  # rewritten


def test_shipped_demo_is_this_version_of_the_synthesis():
    """`hambajuba demo` plays the shipped Ogg; it must be the current synthesis (re-render it
    with `python -m hambajuba_tui.audio.demo_song` when DEMO_VERSION changes)."""
    import soundfile as sf

    from hambajuba_tui.audio.demo_song import shipped_demo_path

    path = shipped_demo_path()
    assert path is not None, "the shipped demo mix is missing from the package"
    shipped, sr = sf.read(str(path), dtype="float32")
    song = synthesize_demo()
    assert sr == song.sr
    assert abs(len(shipped) - len(song.mix)) <= 2048
    n = min(len(shipped), len(song.mix))
    for ch in range(2):
        r = np.corrcoef(shipped[:n, ch], song.mix[:n, ch])[0, 1]
        assert r > 0.99, f"channel {ch}: correlation {r:.4f} with the synthesis"
