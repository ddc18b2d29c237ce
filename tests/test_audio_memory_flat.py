"""Issue 15, defect 5: the analysis's memory is flat with the song's length. Nothing at the
audio rate is held whole any more: the mono mix is decoded a block at a time into a file,
and the separation, the harmonic part, the accompaniment, the virtual bands, every stem's
features and the pitch tracker read files a block at a time. Each piece equals what the
whole-array code gave."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import songs
import soundfile as sf

from hambajuba_tui.audio import decode, rhythm, stems
from hambajuba_tui.audio import signals as S
from hambajuba_tui.audio.crossover import band, band_spilled
from hambajuba_tui.audio.decode import AudioError, decode_mono_file, load_audio

SR = 44100


def _write(path, data: np.ndarray, sr: int, **kw) -> None:
    """A few blocks per write call: libsndfile's vorbis / mp3 encoders crash on one large
    write."""
    channels = 1 if data.ndim == 1 else data.shape[1]
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, **kw) as f:
        for a in range(0, len(data), 1 << 16):
            f.write(data[a : a + (1 << 16)])


def _decoded(path, tmp_path) -> np.ndarray:
    n = decode_mono_file(path, tmp_path / "out.f32")
    out = np.fromfile(tmp_path / "out.f32", dtype=np.float32)
    assert n == len(out)
    return out


@pytest.mark.parametrize(
    ("name", "sr", "channels", "kw"),
    [
        ("s.wav", SR, 2, {"subtype": "PCM_16"}),
        ("s.flac", SR, 2, {}),
        ("s.ogg", SR, 2, {}),
        ("s.mp3", SR, 2, {}),
        ("mono.wav", SR, 1, {"subtype": "FLOAT"}),
        ("s48.wav", 48000, 2, {"subtype": "FLOAT"}),
        ("mono48.flac", 48000, 1, {}),
        ("six.wav", SR, 6, {"subtype": "FLOAT"}),  # the downmix clips: scaled by its peak
        ("six48.wav", 48000, 6, {"subtype": "FLOAT"}),
        ("quad.wav", SR, 4, {"subtype": "FLOAT"}),  # quiet: no scaling
        ("nine.wav", 22050, 9, {"subtype": "FLOAT"}),  # no standard layout
        ("nan.wav", SR, 2, {"subtype": "FLOAT"}),
    ],
)
def test_streaming_decode_equals_load_audio_mono(tmp_path, monkeypatch, name, sr, channels, kw):
    monkeypatch.setattr(decode, "DECODE_BLOCK", 1 << 15)  # many blocks in a short file
    rng = np.random.default_rng(len(name))
    gain = 0.6 if name.startswith("six") else 0.05 if name.startswith("quad") else 0.3
    data = (gain * rng.standard_normal((int(6.3 * sr), channels))).astype(np.float32)
    if name == "nan.wav":
        data[1000, 0], data[70000, 1], data[90000, 0] = np.nan, np.inf, -np.inf
    path = tmp_path / name
    try:
        _write(path, data, sr, **kw)
    except (sf.LibsndfileError, TypeError, ValueError) as err:  # pragma: no cover
        pytest.skip(f"this libsndfile cannot write {name}: {err}")
    ref = load_audio(path).mono
    got = _decoded(path, tmp_path)
    assert len(got) == len(ref)
    if sr == SR or channels == 1:
        # the same samples (one soxr stream of the mono mix equals soxr of the whole)
        assert np.array_equal(got, ref)
    else:
        # the mix is resampled instead of each channel: float32 rounding apart
        np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
    if name.startswith("six"):
        stereo = np.nan_to_num(data) @ decode._downmix_matrix(6)
        assert np.max(np.abs(stereo)) > 1.0  # the scale-down rule was exercised


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # audioread imports aifc, audioop
def test_streaming_decode_says_what_load_audio_says(tmp_path):
    def message(call, path, **kw) -> str:
        with pytest.raises(AudioError) as err:
            call(path, **kw)
        return str(err.value)

    def both(path, **kw) -> None:
        want = message(load_audio, path, **kw)
        assert message(lambda p, **k: decode_mono_file(p, tmp_path / "o.f32", **k), path, **kw) == (
            want
        )

    empty = tmp_path / "empty.wav"
    _write(empty, np.zeros((0, 2), np.float32), SR)
    both(empty)
    long = tmp_path / "long.wav"
    _write(long, np.zeros((SR * 130, 1), np.float32), SR, subtype="PCM_16")
    both(long, max_duration=60.0)  # "long.wav is 2 min long; the limit is 1 min"
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all\n" * 50)
    both(text)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    both(cut)
    both(tmp_path / "missing.wav")
    both(tmp_path)


class _FakeAudioread:
    """What ``audioread.audio_open`` gives: 16-bit interleaved buffers (split mid-frame)."""

    def __init__(self, pcm: np.ndarray, sr: int) -> None:
        self.samplerate, self.channels = sr, pcm.shape[1]
        self.duration = len(pcm) / sr
        raw = pcm.astype("<i2").tobytes()
        cuts = [0, 4098, 4098 + 7 * 4096, len(raw) // 2 // 2 * 2, len(raw)]
        self.bufs = [raw[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __iter__(self):
        return iter(self.bufs)


@pytest.mark.parametrize(("channels", "sr"), [(2, SR), (6, 48000), (1, 32000)])
def test_audioread_fallback_streams_chunk_by_chunk(tmp_path, monkeypatch, channels, sr):
    import audioread

    rng = np.random.default_rng(channels)
    pcm = np.clip(rng.standard_normal((sr * 3, channels)) * 20000, -32768, 32767)
    monkeypatch.setattr(audioread, "audio_open", lambda path: _FakeAudioread(pcm, sr))
    path = tmp_path / "song.m4a"  # not something libsndfile reads
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(4000))
    ref = load_audio(path).mono
    got = _decoded(path, tmp_path)
    assert len(got) == len(ref)
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)


def test_band_file_to_file_equals_filtfilt_blocks(tmp_path):
    y = songs.steady(120.0, seconds=20.0, seed=4).stems["drums"].astype(np.float32)
    spill = stems.Spill(tmp_path)
    spill.put("drums", y)
    for lo, hi in ((20.0, 200.0), (5000.0, 16000.0), (200.0, 30000.0)):
        got = band_spilled(stems.Spilled(spill, "drums"), lo, hi, spill, "band")
        assert isinstance(got, stems.Spilled) and len(got) == len(y)
        assert np.array_equal(got[0 : len(got)], band(y, lo, hi))
    for n in (0, 1, 2, 3, 30):  # shorter than the odd extension
        spill.put("short", y[1000 : 1000 + n])
        got = band_spilled(stems.Spilled(spill, "short"), 20.0, 200.0, spill, "band")
        assert np.array_equal(got[0 : len(got)], band(y[1000 : 1000 + n], 20.0, 200.0))


def _pitch_track_whole(y: np.ndarray, fmin: float, fmax: float, n: int | None = None):
    """The tracker as it was: the whole stem resampled into one zero-padded buffer."""
    import math

    import soxr

    n = S.n_hops(len(y)) if n is None else n
    low, length = 11025, 1024
    min_p = max(2, int(math.floor(low / fmax)))
    max_p = min(int(math.ceil(low / fmin)), length // 2)
    stream = soxr.ResampleStream(SR, low, 1, dtype="float32", quality="HQ")
    parts = [
        stream.resample_chunk(
            y[a : a + S.PITCH_RESAMPLE_BLOCK], last=a + S.PITCH_RESAMPLE_BLOCK >= len(y)
        )
        for a in range(0, max(len(y), 1), S.PITCH_RESAMPLE_BLOCK)
    ]
    padded = np.concatenate(
        [np.zeros(length // 2, np.float32), *parts, np.zeros(length + length // 2, np.float32)]
    )
    centres = np.round(np.arange(n) * S.HOP * low / SR).astype(np.int64)
    centres = np.minimum(centres, len(padded) - length)
    f0, conf = np.zeros(n), np.zeros(n)
    for s in range(0, n, 1024):
        fr = padded[centres[s : s + 1024, None] + np.arange(length)]
        f0[s : s + len(fr)], conf[s : s + len(fr)] = S._yin(fr, min_p, max_p, low)
    return f0, conf


def test_pitch_track_on_a_rolling_window_equals_the_whole_buffer(tmp_path, monkeypatch):
    song = songs.steady(120.0, seconds=55.0, seed=4)  # 3 resample blocks, 6 YIN groups
    y = song.stems["vocals"].astype(np.float32)
    spill = stems.Spilled
    store = stems.Spill(tmp_path)
    store.put("vocals", y)
    for n in (None, S.n_hops(len(y)) + 300):  # past the end: frames clipped to the last
        want = _pitch_track_whole(y, *S.PITCH_STEMS["vocals"], n=n)
        for got in (
            S.pitch_track(y, *S.PITCH_STEMS["vocals"], n=n),
            S.pitch_track(spill(store, "vocals"), *S.PITCH_STEMS["vocals"], n=n),
        ):
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    for m in (0, 7, 3000):
        want = _pitch_track_whole(y[:m], 30.0, 500.0)
        got = S.pitch_track(y[:m], 30.0, 500.0)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    # the tracker's memory does not grow with the stem (a quarter of it, the 11 kHz copy,
    # was held, and np.asarray read a spilled stem whole); smaller blocks than the default,
    # so that short stems show it
    monkeypatch.setattr(S, "YIN_FRAMES", 128)
    monkeypatch.setattr(S, "PITCH_RESAMPLE_BLOCK", 1 << 17)
    peaks = []
    for seconds in (20, 55):
        store.put("part", y[: seconds * SR])
        tracemalloc.start()
        S.pitch_track(spill(store, "part"), *S.PITCH_STEMS["vocals"])
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] - peaks[0] < 35 * SR * 4 / 10, peaks  # was + 35 s x 5 bytes


def test_mix_features_and_stem_features_equal_the_whole_log_mel(tmp_path):
    from hambajuba_tui.audio.pipeline import mix_features

    song = songs.steady(120.0, seconds=100.0, seed=4)  # three feature blocks
    mix = song.mix.mean(axis=1, dtype=np.float32)
    mix[40 * SR : 43 * SR] = 0.0  # a silence: the rhythm tracks the stretches apart
    spill = stems.Spill(tmp_path)
    spill.put("mix", mix)
    summary, flux = mix_features(stems.Spilled(spill, "mix"))
    mel = S.mel_db_blocks(mix)
    n = mel.shape[1]
    assert np.array_equal(summary.onset, S.onset_strength(mel_db=mel))
    assert np.array_equal(summary.bands, mel.reshape(16, 6, n).mean(axis=1))
    import librosa

    mel_hz = librosa.mel_frequencies(n_mels=S.N_MELS + 2, fmax=16000)[1:-1]
    for lo, hi in rhythm.FLUX_BANDS_HZ:
        assert np.array_equal(flux.band(lo, hi), rhythm._band_flux(mel, mel_hz, lo, hi))
        part = flux[:, 4100:4300].band(lo, hi)
        assert np.array_equal(part, rhythm._band_flux(mel[:, 4100:4300], mel_hz, lo, hi))
    energy = S.rms(mix)
    a = rhythm.analyze_rhythm(summary.onset, mel, energy=energy)
    b = rhythm.analyze_rhythm(summary.onset, flux, energy=energy)
    assert a.bpm == b.bpm
    assert np.array_equal(a.beats, b.beats) and np.array_equal(a.downbeats, b.downbeats)

    y = song.stems["drums"].astype(np.float32)
    feats = S._frame_features(y, SR, S.n_hops(len(y)), None)
    mel = S.mel_db_from_power(S.power_spectrogram(y))
    assert np.array_equal(feats["flux"], S.onset_strength(mel_db=mel))
    assert np.array_equal(feats["bands"], mel.reshape(16, 6, -1).mean(axis=1))


def test_stem_analysis_of_a_spilled_stem_equals_the_array(tmp_path):
    song = songs.steady(120.0, seconds=50.0, seed=4)
    spill = stems.Spill(tmp_path)
    for stem, full in (("vocals", True), ("drums", False)):
        y = song.stems[stem].astype(np.float32)
        spill.put(stem, y)
        want, want_stats = S.stem_analysis(y, stem, full=full)
        got, got_stats = S.stem_analysis(stems.Spilled(spill, stem), stem, full=full)
        assert sorted(got) == sorted(want)
        for key in want:
            if full or key != "flux" and key != "transient":
                assert np.array_equal(got[key], want[key]), key
        if full:
            assert np.array_equal(got_stats.pitch_hz, want_stats.pitch_hz)
        else:  # the array's flux comes from librosa's melspectrogram: float32 rounding
            np.testing.assert_allclose(got["flux"], want["flux"], atol=1e-5)


@pytest.mark.slow
def test_the_analysis_holds_no_array_as_long_as_the_song(tmp_path, monkeypatch):
    """A 2-minute song analysed from its file: at every stage boundary (the separation's
    blocks, every stem's signals, the rhythm, the chroma), no numpy array alive is larger
    than the separation's working block (39 s of samples), and after the separation none
    larger than a quarter of it: the mono mix, a stem, a virtual
    band and the 96-mel log-mel of the whole song are each larger (the 2-minute mix is 3x
    the block) and used to live across those stages. (The overall peak is the separation's
    block working set, ~150 MB, whatever the song's length: see bench/analysis.py --rss.)"""
    from hambajuba_tui.audio import pipeline

    seconds = 120.0
    song = songs.steady(124.0, seconds=30.0, seed=2)
    path = tmp_path / "song.wav"
    reps = int(np.ceil(seconds * SR / len(song.mix)))
    with sf.SoundFile(path, "w", samplerate=SR, channels=2, subtype="PCM_16") as f:
        for _ in range(reps):
            f.write(song.mix)
    mix_bytes = reps * len(song.mix) * 4
    block_bytes = (stems.DSP_BLOCK + 2 * stems.DSP_OVERLAP) * 4
    assert mix_bytes > 3 * block_bytes
    # numba compiles librosa's kernels on first use: not under tracemalloc
    warm = tmp_path / "warm.wav"
    sf.write(warm, song.mix[: 5 * SR], SR)
    pipeline.analyze(warm, use_cache=False)
    largest: list[tuple[int, str]] = []

    def sample(where: str) -> None:
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]
        )
        largest.append((max((t.size for t in snap.traces), default=0), where))

    def spy(module, name: str):
        inner = getattr(module, name)

        def wrapper(*args, **kwargs):
            sample(name)
            return inner(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    spy(S, "pulses")  # inside every stem's signals
    spy(pipeline, "analyze_rhythm")
    spy(pipeline, "harmonic_chroma")
    spy(pipeline, "harmony_parts")
    spy(pipeline, "_stem_signals")
    append = stems.Spill.append

    def spilled(self, name, block):  # the separation's blocks
        if name == "vocals":
            sample("separation")
        return append(self, name, block)

    monkeypatch.setattr(stems.Spill, "append", spilled)
    tracemalloc.start()
    try:
        result = pipeline.analyze(path, use_cache=False)
    finally:
        tracemalloc.stop()
    assert not result.silent and len(largest) > 20
    worst = max(largest)
    assert worst[0] <= block_bytes, (worst, block_bytes, mix_bytes)
    later = max(x for x in largest if x[1] != "separation")
    assert later[0] <= block_bytes / 4, (later, block_bytes)  # grid-rate arrays only
