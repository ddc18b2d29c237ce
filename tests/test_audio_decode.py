"""Decoding: formats, channel layouts, sample rates, and clear messages for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from hambajuba_tui.audio.decode import (
    MAX_DURATION_S,
    Audio,
    AudioError,
    content_hash,
    load_audio,
    to_stereo,
)
from hambajuba_tui.vocab import SAMPLE_RATE

# audioread (librosa's fallback decoder) imports stdlib modules deprecated in Python 3.11+
pytestmark = pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning")


def tone(seconds: float, sr: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "ok.wav"
    sf.write(path, tone(1.0, SAMPLE_RATE, 2), SAMPLE_RATE)
    return path


def test_stereo_wav_round_trip(wav):
    audio = load_audio(wav)
    assert isinstance(audio, Audio)
    assert audio.sr == SAMPLE_RATE
    assert audio.samples.shape == (SAMPLE_RATE, 2)
    assert audio.samples.dtype == np.float32
    assert audio.mono.shape == (SAMPLE_RATE,)
    assert audio.mono.dtype == np.float32
    assert audio.duration == pytest.approx(1.0)


@pytest.mark.parametrize(
    "suffix, fmt, subtype",
    [(".flac", "FLAC", None), (".ogg", "OGG", "VORBIS"), (".mp3", "MP3", None)],
)
def test_compressed_formats(tmp_path, suffix, fmt, subtype):
    path = tmp_path / f"song{suffix}"
    sf.write(path, tone(1.0, SAMPLE_RATE, 2), SAMPLE_RATE, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.sr == SAMPLE_RATE
    assert audio.samples.shape[1] == 2
    assert abs(audio.duration - 1.0) < 0.1
    assert 0.3 < np.abs(audio.samples).max() < 0.7


def test_mono_is_duplicated(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, tone(0.5, SAMPLE_RATE, 1), SAMPLE_RATE)
    audio = load_audio(path)
    assert audio.samples.shape == (SAMPLE_RATE // 2, 2)
    np.testing.assert_array_equal(audio.samples[:, 0], audio.samples[:, 1])


@pytest.mark.parametrize("sr", [8000, 22050, 48000, 96000])
def test_odd_sample_rates_resample_to_44k1(tmp_path, sr):
    path = tmp_path / f"at{sr}.wav"
    sf.write(path, tone(1.0, sr, 1, freq=1000.0), sr)
    audio = load_audio(path)
    assert audio.sr == SAMPLE_RATE
    assert abs(audio.samples.shape[0] - SAMPLE_RATE) <= 2
    # still a 1 kHz tone after resampling
    spectrum = np.abs(np.fft.rfft(audio.mono))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio.mono)
    assert abs(peak_hz - 1000.0) < 2.0


def test_six_channels_downmix_to_stereo(tmp_path):
    path = tmp_path / "surround.wav"
    data = np.zeros((8000, 6), dtype=np.float32)
    data[:, 0] = 0.5  # front left only
    data[:, 5] = 0.25  # surround right only
    sf.write(path, data, 8000)
    audio = load_audio(path)
    assert audio.sr == SAMPLE_RATE
    assert audio.samples.shape == (SAMPLE_RATE, 2)
    mid = audio.samples[1000:-1000]
    assert mid[:, 0].mean() == pytest.approx(0.5, abs=0.01)
    assert mid[:, 1].mean() == pytest.approx(0.25 * 0.7071, abs=0.01)


def test_downmix_never_clips():
    data = np.ones((100, 6), dtype=np.float32)
    out = to_stereo(data)
    assert out.shape == (100, 2)
    assert np.abs(out).max() <= 1.0 + 1e-6
    odd = to_stereo(np.ones((10, 11), dtype=np.float32) * 0.05)  # an unusual layout
    assert odd.shape == (10, 2)


def test_path_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "mÿ sóngs 音楽"
    folder.mkdir()
    path = folder / "tête à tête — ♫.wav"
    sf.write(path, tone(0.25, SAMPLE_RATE, 2), SAMPLE_RATE)
    assert load_audio(path).samples.shape == (SAMPLE_RATE // 4, 2)
    assert len(content_hash(path)) >= 16


# --- bad input: each gets one clear line ---------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "nope.mp3")


def test_directory(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)"):
        load_audio(path)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match="not recognised as audio"):
        load_audio(path)


def test_random_bytes_with_unknown_extension(tmp_path):
    path = tmp_path / "blob.m4a"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioError, match="not recognised as audio"):
        load_audio(path)


def test_truncated_wav_header(tmp_path, wav):
    path = tmp_path / "cut.wav"
    path.write_bytes(wav.read_bytes()[:30])
    with pytest.raises(AudioError, match="truncated"):
        load_audio(path)


def test_truncated_wav_data_still_plays(tmp_path, wav):
    path = tmp_path / "cut-data.wav"
    path.write_bytes(wav.read_bytes()[:20_000])
    audio = load_audio(path)
    assert 0 < audio.samples.shape[0] < SAMPLE_RATE


def test_zero_length_wav(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 2), dtype=np.float32), SAMPLE_RATE)
    assert path.stat().st_size > 0
    with pytest.raises(AudioError, match="zero length"):
        load_audio(path)


def test_too_long(wav):
    with pytest.raises(AudioError, match="limit is"):
        load_audio(wav, max_duration=0.5)
    assert MAX_DURATION_S == 3600


def test_messages_are_one_line(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("x" * 100)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert "\n" not in str(err.value)
    assert "notes.wav" in str(err.value)


def test_content_hash_is_stable_and_content_based(tmp_path, wav):
    copy = tmp_path / "copy.wav"
    copy.write_bytes(wav.read_bytes())
    assert content_hash(wav) == content_hash(copy)
    other = tmp_path / "other.wav"
    sf.write(other, tone(1.0, SAMPLE_RATE, 2, freq=441.0), SAMPLE_RATE)
    assert content_hash(other) != content_hash(wav)
    assert all(c in "0123456789abcdef" for c in content_hash(wav))


def test_probing_a_fake_mp3_prints_nothing(tmp_path, capfd):
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioError, match="not recognised as audio"):
        load_audio(path)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
