"""Issue 15, defects 8 and 10: the cache checks its metadata and leaves nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_analysis
from hostile import cli, seeded_song

from hambajuba_tui.audio import cache
from hambajuba_tui.audio.decode import content_hash


# -- 8: the cache checks its metadata ----------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"bpm": float("nan")},
        {"bpm": float("inf")},
        {"duration": -1},
        {"duration": 0},
        {"rate": 0},
        {"rate": "100"},
        {"bpm": "120"},
        {"sections": [[1, 2]]},
    ],
    ids=str,
)
def test_the_cache_refuses_implausible_metadata(tmp_path, change):
    a = make_analysis()
    a.song_hash = "x" * 16
    entry = cache.save(a, tmp_path)
    assert cache.load_cached(a.song_hash, tmp_path) is not None
    meta = json.loads((entry / "meta.json").read_text())
    meta.update(change)
    (entry / "meta.json").write_text(json.dumps(meta))  # json writes NaN as NaN
    assert cache.load_cached(a.song_hash, tmp_path) is None


def test_the_cache_refuses_cut_or_non_finite_signals(tmp_path):
    a = make_analysis()
    a.song_hash = "y" * 16
    cut = make_analysis()
    cut.song_hash = a.song_hash
    cut.signals = {k: v[:10] for k, v in a.signals.items()}
    cache.save(cut, tmp_path)
    assert cache.load_cached(a.song_hash, tmp_path) is None
    nan = make_analysis()
    nan.song_hash = a.song_hash
    nan.signals["drums.envelope"] = nan.signals["drums.envelope"].copy()
    nan.signals["drums.envelope"][5] = np.nan
    cache.save(nan, tmp_path)
    assert cache.load_cached(a.song_hash, tmp_path) is None
    back = make_analysis()
    back.song_hash = a.song_hash
    back.beats = back.beats[::-1].copy()
    cache.save(back, tmp_path)
    assert cache.load_cached(a.song_hash, tmp_path) is None


def test_play_re_analyses_an_entry_with_a_nan_bpm(tmp_path):
    home = tmp_path / "home"
    song = seeded_song(tmp_path, home)
    meta = home / "cache" / "analysis" / content_hash(song) / "meta.json"
    data = json.loads(meta.read_text())
    data["bpm"] = float("nan")
    meta.write_text(json.dumps(data))
    res = cli("analyze", str(song), "--json", "--stems", "dsp", home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    assert np.isfinite(json.loads(res.stdout)["bpm"])
    assert np.isfinite(json.loads(meta.read_text())["bpm"])


# -- 10: stale leftovers -----------------------------------------------------------------------
def test_an_entry_that_is_a_file_leaves_no_old_file_behind(tmp_path):
    a = make_analysis()
    a.song_hash = "z" * 16
    (tmp_path / a.song_hash).write_text("not a directory")
    (tmp_path / f".{a.song_hash}.old-deadbeef").write_text("left by an older run")
    cache.save(a, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [a.song_hash]
    assert cache.load_cached(a.song_hash, tmp_path) is not None
