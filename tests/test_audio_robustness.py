"""Robustness of the analysis from the outside: Ctrl-C mid-analysis, a two-hour file, odd
layouts and sample rates analysed end to end, and damaged files through the CLI.

(tests/test_audio_decode.py covers decoding itself; tests/test_audio_analyze.py covers silence,
1-second and 10 ms clips, missing and non-audio files through ``analyze``; tests/test_demo.py
covers missing, empty and non-audio files through ``hambajuba play``.)
"""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import songs
import soundfile as sf

from hambajuba_tui.audio.analysis import Analysis, analyze
from hambajuba_tui.audio.decode import MAX_DURATION_S, AudioError
from hambajuba_tui.vocab import HOP, SAMPLE_RATE

# audioread (librosa's fallback decoder) imports stdlib modules deprecated in Python 3.11+
pytestmark = pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning")

BPM = 128.0


@pytest.fixture(scope="module")
def song() -> songs.Song:
    """About 8 s at 128 BPM: long enough to have a tempo, short enough to analyse often."""
    return songs.steady(BPM, seconds=8.0, seed=5)


def _cli(*args: str, home: Path, **popen) -> subprocess.Popen:
    env = {
        **os.environ,
        "HAMBAJUBA_AUDIO": "none",
        "HAMBAJUBA_HOME": str(home),
        "FORCE_COLOR": "1",
        "COLUMNS": "100",
    }  # FORCE_COLOR: rich draws its progress bar
    return subprocess.Popen(
        [sys.executable, "-m", "hambajuba_tui.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def _f_measure(estimated: np.ndarray, reference: np.ndarray, tol: float = 0.07) -> float:
    hits = sum(
        bool(len(estimated)) and float(np.min(np.abs(estimated - t))) <= tol for t in reference
    )
    if hits == 0:
        return 0.0
    precision, recall = hits / len(estimated), hits / len(reference)
    return 2 * precision * recall / (precision + recall)


# --- Ctrl-C -------------------------------------------------------------------------------


def test_ctrl_c_during_analysis_stops_cleanly_and_caches_nothing(tmp_path, song):
    """SIGINT once the progress bar shows the analysis under way: exit 130, "cancelled", no
    traceback, and nothing in the cache (no entry, no temporary directory)."""
    path = tmp_path / "long.wav"
    reps = int(np.ceil(90.0 / song.duration))  # ~90 s: several seconds of analysis
    sf.write(path, np.tile(song.mix, (reps, 1)), song.sr, subtype="PCM_16")
    home = tmp_path / "home"
    proc = _cli("analyze", str(path), "--stems", "dsp", home=home)
    seen = bytearray()
    started = threading.Event()

    def read_stderr() -> None:
        while chunk := proc.stderr.read1(4096):
            seen.extend(chunk)
            text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", bytes(seen))
            if re.search(rb"analysing\s+(stems|signals|rhythm)", text):
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert started.wait(120), f"analysis never started: {bytes(seen)[-2000:]!r}"
        proc.send_signal(signal.SIGINT)
        out = proc.stdout.read()
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    err = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", bytes(seen)).decode(errors="replace")
    assert code == 130, err[-2000:]
    assert "hambajuba: cancelled" in err and "Traceback" not in err, err[-2000:]
    assert b"BPM" not in out  # no summary: it did not finish
    cache = home / "cache"
    left = [p.relative_to(home).as_posix() for p in cache.rglob("*")] if cache.exists() else []
    assert left in ([], ["cache/analysis"]), left


# --- a two-hour file ------------------------------------------------------------------------


def _sparse_wav(path: Path, seconds: float, sr: int = 8000) -> int:
    """A valid 16-bit mono WAV of ``seconds`` of silence, written as a header plus a hole (a
    sparse file: 2 h at 8 kHz is 115 MB long but takes no disk). Returns its size in bytes."""
    data = int(seconds * sr) * 2
    header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", data)
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + data)
    return len(header) + data


def test_two_hour_file_is_refused_without_loading_it(tmp_path):
    path = tmp_path / "two hours.wav"
    size = _sparse_wav(path, 2 * 3600.0)
    assert sf.info(str(path)).duration == pytest.approx(7200.0)
    tracemalloc.start()
    try:
        with pytest.raises(AudioError) as err:
            analyze(path, cache_dir=tmp_path / "cache")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message == "two hours.wav is 120 min long; the limit is 60 min", message
    assert MAX_DURATION_S == 3600
    # decoding it would take 4 bytes x 2 channels x 44.1 kHz x 7200 s = 2.5 GB; the hash reads
    # the file in 1 MB chunks. Measured peak: 2.0 MB.
    assert peak < 16 * 2**20 < size, peak
    assert not list((tmp_path / "cache").glob("*/"))


def test_cli_refuses_long_and_damaged_files_in_one_line(tmp_path, song):
    long = tmp_path / "two hours.wav"
    _sparse_wav(long, 2 * 3600.0)
    whole = tmp_path / "whole.wav"
    sf.write(whole, song.mix[:SAMPLE_RATE], song.sr, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:30])  # inside the header
    for path, words in ((long, "the limit is 60 min"), (cut, "truncated")):
        proc = _cli("analyze", str(path), "--json", home=tmp_path / "home")
        out, err = proc.communicate(timeout=120)
        lines = err.decode().strip().splitlines()
        assert proc.returncode == 3, err.decode()[-2000:]
        assert len(lines) == 1 and lines[0].startswith(f"hambajuba: {path.name}"), lines
        assert words in lines[0] and out == b"", lines


# --- odd files, analysed end to end ---------------------------------------------------------


def _variants(song: songs.Song, folder: Path) -> dict[str, Path]:
    import soxr

    folder.mkdir()
    mono = song.mix.mean(axis=1)
    five_one = np.zeros((len(mono), 6), dtype=np.float32)
    five_one[:, 0], five_one[:, 1] = song.mix[:, 0], song.mix[:, 1]  # L R
    five_one[:, 2] = 0.5 * mono  # C
    five_one[:, 3] = song.stems["bass"] + song.stems["drums"]  # LFE
    five_one /= float(np.abs(five_one).max()) / 0.9
    files = {
        "mono": (mono, SAMPLE_RATE, "mono.wav"),
        "5.1": (five_one, SAMPLE_RATE, "surround.wav"),
        "8 kHz": (soxr.resample(song.mix, SAMPLE_RATE, 8000), 8000, "at8k.wav"),
        "96 kHz": (soxr.resample(song.mix, SAMPLE_RATE, 96000), 96000, "at96k.flac"),
        "non-ASCII path": (song.mix, SAMPLE_RATE, "mÿ sóngs 音楽/tête à tête — ♫.wav"),
    }
    out = {}
    for name, (data, sr, rel) in files.items():
        path = folder / rel
        path.parent.mkdir(exist_ok=True)
        sf.write(path, data, sr, subtype="PCM_16" if path.suffix == ".wav" else None)
        out[name] = path
    whole = folder / "whole.wav"
    sf.write(whole, song.mix, SAMPLE_RATE, subtype="PCM_16")
    cut = folder / "truncated data.wav"  # the data chunk ends early: what is there plays
    header = whole.stat().st_size - 4 * len(song.mix)
    cut.write_bytes(whole.read_bytes()[: header + 4 * int(6.0 * SAMPLE_RATE)])
    out["truncated data"] = cut
    return out


@pytest.fixture(scope="module")
def variants(song, tmp_path_factory) -> dict[str, tuple[Path, Analysis]]:
    root = tmp_path_factory.mktemp("variants")
    cache_dir = root / "cache 缓存"
    return {
        name: (path, analyze(path, cache_dir=cache_dir))
        for name, path in _variants(song, root / "files").items()
    }


# measured beat F-measure / |BPM error|: mono .968 / .012, 5.1 .968 / .008, 8 kHz .968 / .020,
# 96 kHz .968 / .012, non-ASCII .968 / .012, truncated data (6 s) .957 / .027 (each misses
# the first beat, which librosa trims)
VARIANT_BEAT_F = 0.93


@pytest.mark.parametrize(
    "name", ["mono", "5.1", "8 kHz", "96 kHz", "non-ASCII path", "truncated data"]
)
def test_odd_files_analyse_end_to_end(variants, song, name):
    path, result = variants[name]
    duration = sf.info(str(path)).duration
    assert isinstance(result, Analysis) and not result.silent
    assert result.duration == pytest.approx(duration, abs=0.01)
    assert abs(result.n_hops - (1 + int(round(duration * SAMPLE_RATE)) // HOP)) <= 1
    assert result.title == path.stem
    for key, x in result.signals.items():
        assert x.dtype == np.float32 and x.shape == (result.n_hops,), key
        assert np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0, key
    assert np.all(np.diff(result.beats) > 0) and result.beats[-1] <= duration
    assert abs(result.bpm - BPM) < 0.1, result.bpm  # measured <= .027
    truth = song.beat_times[song.beat_times < duration - 0.1]
    score = _f_measure(result.beats, truth)
    assert score >= VARIANT_BEAT_F, score


def test_a_non_ascii_cache_dir_is_reused(variants):
    path, first = variants["non-ASCII path"]
    cache_dir = path.parent.parent.parent / "cache 缓存"
    stages: list[str] = []
    again = analyze(path, cache_dir=cache_dir, progress=lambda stage, f: stages.append(stage))
    assert "stems" not in stages and (cache_dir / first.song_hash / "meta.json").is_file()
    assert again.song_hash == first.song_hash and again.bpm == first.bpm
    np.testing.assert_array_equal(again.beats, first.beats)
