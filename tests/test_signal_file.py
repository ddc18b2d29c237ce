"""The signals go to their cache file a row at a time (issue 15.5: memory flat with the song's
length): the SignalFile itself, the analysis that writes through it, and the scratch folders
it leaves beside the cache."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from hambajuba_tui.audio import cache
from hambajuba_tui.audio.analysis import analyze
from hambajuba_tui.audio.demo_song import synthesize_demo
from hambajuba_tui.audio.pipeline import KEPT_NAMES, analysis_signal_names
from hambajuba_tui.vocab import SAMPLE_RATE


def test_rows_written_in_any_order_read_back_by_name(tmp_path):
    names = ["a.x", "b.y", "c.z"]
    rows = cache.SignalFile(tmp_path / "s.npy", names, 5)
    rows.write("c.z", np.arange(5) * 3.0)
    rows.write("a.x", np.arange(5, dtype=np.float32))
    rows.write("b.y", np.full(5, 0.5))
    got = rows.close()
    assert list(got) == names
    np.testing.assert_array_equal(got["a.x"], np.arange(5))
    np.testing.assert_array_equal(got["c.z"], np.arange(5) * 3.0)
    assert all(isinstance(x, np.memmap) and not x.flags.writeable for x in got.values())
    # a plain .npy: anything that reads numpy files reads it
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy")[1], np.full(5, 0.5, np.float32))


def test_a_missing_row_a_wrong_shape_or_an_unknown_name_is_an_error(tmp_path):
    rows = cache.SignalFile(tmp_path / "s.npy", ["a", "b"], 4)
    with pytest.raises(ValueError, match="shape"):
        rows.write("a", np.zeros(3))
    with pytest.raises(KeyError):
        rows.write("nope", np.zeros(4))
    rows.write("a", np.ones(4))
    with pytest.raises(ValueError, match="never written: b"):
        rows.close()
    again = cache.SignalFile(tmp_path / "t.npy", ["a", "b"], 4)
    again.write("b", np.ones(4))
    np.testing.assert_array_equal(again.close(zeros_ok=True)["a"], np.zeros(4))
    with pytest.raises(ValueError, match="closed"):
        again.write("a", np.ones(4))


def test_the_analysis_is_written_through_the_file_and_moved_into_its_entry(tmp_path):
    mix = synthesize_demo().mix[20 * SAMPLE_RATE : 26 * SAMPLE_RATE]
    path = tmp_path / "clip.wav"
    sf.write(path, mix, SAMPLE_RATE)
    root = tmp_path / "cache"
    result = analyze(path, cache_dir=root)
    entry = root / result.song_hash
    # what analyze() hands back is the entry's own file, paged in only where it is read
    assert list(result.signals) == analysis_signal_names()
    x = result.signals["drums.envelope"]
    assert isinstance(x, np.memmap)
    with open("/proc/self/maps") as f:  # the mapping follows the file as it is moved
        maps = f.read()
    assert str(entry / cache.SIGNALS_FILE) in maps
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no scratch left
    loaded = cache.load_cached(result.song_hash, root)
    assert loaded is not None and list(loaded.signals) == list(result.signals)
    for name in result.signals:
        assert not isinstance(loaded.signals[name], np.memmap)  # read whole: safe to hold
        np.testing.assert_array_equal(loaded.signals[name], result.signals[name])
    # the same numbers as an analysis kept in memory
    plain = analyze(path, cache_dir=root, use_cache=False)
    assert not isinstance(plain.signals["drums.envelope"], np.memmap)
    assert list(plain.signals) == list(result.signals)
    for name in plain.signals:
        np.testing.assert_array_equal(plain.signals[name], result.signals[name])


def test_only_the_signals_later_stages_read_are_kept():
    # whatever is kept must exist; the other ~300 rows are not held while the song is analysed
    names = set(analysis_signal_names())
    assert names >= KEPT_NAMES
    assert len(KEPT_NAMES) < len(names) / 8


def test_a_dead_analysis_leaves_scratch_that_the_next_save_removes(tmp_path, analysis):
    root = tmp_path / "cache"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    stale = root / f".work-{dead.stdout.strip()}-deadbeef"
    stale.mkdir(parents=True)
    (stale / "mix.f32").write_bytes(b"\0" * 64)
    live = cache.work_dir(root)  # this process's: still in use
    analysis.song_hash = "a" * 16
    cache.save(analysis, root)
    assert not stale.exists() and live.is_dir()


def test_the_analyze_command_never_decodes_the_whole_song(tmp_path, monkeypatch, capsys):
    # `hambajuba analyze` of a new song goes through the block-at-a-time decode only: the
    # whole stereo (1.3 GB for a 60-minute mix) is never made
    from hambajuba_tui import cli
    from hambajuba_tui.audio import decode

    path = tmp_path / "clip.flac"
    sf.write(path, synthesize_demo().mix[: 6 * SAMPLE_RATE], SAMPLE_RATE)

    def whole(*args, **kwargs):
        raise AssertionError("the whole song was decoded")

    monkeypatch.setattr(decode, "load_audio", whole)
    monkeypatch.setattr(cli, "_load", whole)
    assert cli.main(["analyze", "--stems", "dsp", str(path)]) == 0
    assert "124" in capsys.readouterr().out.splitlines()[0]  # the demo's tempo, found
