"""Issue 15, defect 5 (partly): the analysis steps that made the most transient memory now
work a block at a time with the same numbers -- librosa's tempogram (800 float64 rows per
frame), the dsp stem separation (spectrogram, masks), rms, chroma and the virtual stems'
band filters -- and the stems wait in files (read back one at a time) instead of memory."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import songs

from hambajuba_tui.audio import stems
from hambajuba_tui.audio.rhythm import tempo_estimate
from hambajuba_tui.audio.signals import mel_db_from_power, onset_strength, power_spectrogram


def _env(minutes: float) -> np.ndarray:
    song = songs.tempo_change()
    mono = song.mix.mean(axis=1).astype(np.float32)
    env = onset_strength(mel_db=mel_db_from_power(power_spectrogram(mono))).astype(np.float64)
    reps = int(np.ceil(minutes * 6000 / len(env)))
    return np.tile(env, reps)[: int(minutes * 6000)]


@pytest.mark.slow
def test_tempo_estimate_equals_librosa_in_bounded_memory():
    import librosa

    env = _env(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = librosa.feature.tempo(onset_envelope=env, sr=44100, hop_length=441)
        local = librosa.feature.tempo(
            onset_envelope=env, sr=44100, hop_length=441, aggregate=None, start_bpm=120.0
        )
    assert tempo_estimate(env) == float(whole[0])
    assert np.array_equal(tempo_estimate(env, local=True), local)
    peaks = []
    for minutes in (2.0, 8.0):
        env = _env(minutes)
        tracemalloc.start()
        tempo_estimate(env, local=True)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0] + 8 * 2**20, peaks  # flat, not 4x (was ~2 MB/s of audio)


@pytest.mark.slow
def test_dsp_separation_by_blocks_equals_the_whole_and_is_bounded():
    song = songs.steady(120.0, seconds=70.0, seed=4)
    mono = song.mix.mean(axis=1, dtype=np.float32)
    whole = stems._separate_dsp_whole(mono, 44100)
    blocked = stems.separate_dsp(song.mix, 44100)
    for name in whole:
        assert np.array_equal(whole[name], blocked[name]), name
    tracemalloc.start()
    stems.separate_dsp(song.mix, 44100)
    blocked_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    stems._separate_dsp_whole(mono, 44100)
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert blocked_peak < whole_peak, (blocked_peak, whole_peak)  # 248 vs 301 MB at 70 s


def test_stem_features_harmony_and_the_mix_mel_by_blocks_equal_the_whole():
    from hambajuba_tui.audio import harmony
    from hambajuba_tui.audio import signals as S

    song = songs.steady(120.0, seconds=100.0, seed=4)  # 10,000 frames: three feature blocks
    y = song.stems["drums"].astype(np.float32)
    n = S.n_hops(len(y))
    whole = S._frame_features(y, 44100, n, S.power_spectrogram(y))
    blocked = S._frame_features(y, 44100, n, None)
    for key, value in whole.items():
        np.testing.assert_allclose(blocked[key], value, rtol=1e-6, atol=1e-12, err_msg=key)
    mix = song.mix.mean(axis=1).astype(np.float32)
    assert np.array_equal(S.mel_db_blocks(mix), S.mel_db_from_power(S.power_spectrogram(mix)))
    mag, freqs = harmony._spectra(mix, 44100)
    rough, ent = harmony._roughness_entropy(mix, 44100)
    assert np.array_equal(rough, harmony.roughness_frames(mag, freqs))
    assert np.array_equal(ent, harmony.spectral_entropy(mag))


@pytest.mark.slow
def test_rms_chroma_and_bands_by_blocks_equal_the_whole():
    """The float64 running sums of rms, the chroma spectrogram and scipy's sosfiltfilt (several
    float64 copies of a stem) are made a block at a time now: the same numbers."""
    import librosa
    import scipy.signal as sps

    from hambajuba_tui.audio import crossover
    from hambajuba_tui.audio import signals as S
    from hambajuba_tui.audio.rhythm import harmonic_chroma

    song = songs.steady(120.0, seconds=100.0, seed=4)
    y = song.stems["drums"].astype(np.float32)
    half = S.RMS_FRAME // 2
    cs = np.concatenate(([0.0], np.cumsum(np.pad(np.square(y, dtype=np.float64), half))))
    centres = np.arange(S.n_hops(len(y))) * S.HOP + half
    whole = np.sqrt(np.maximum((cs[centres + half] - cs[centres - half]) / S.RMS_FRAME, 0.0))
    # the whole song's running sum loses ~1e-7 of quiet frames late in the song; the blocks
    # are the closer ones
    np.testing.assert_allclose(S.rms(y), whole, rtol=1e-6, atol=1e-12)

    ref = librosa.feature.chroma_stft(y=y, sr=44100, n_fft=4096, hop_length=4 * S.HOP, tuning=0)
    ref = np.repeat(ref, 4, axis=1)[:, : S.n_hops(len(y))]
    np.testing.assert_allclose(harmonic_chroma(y), ref, atol=1e-6)

    for name, (_, lo, hi) in crossover.VIRTUAL_BANDS.items():
        sos = crossover.band_sos(lo, hi)
        ref = sps.sosfiltfilt(sos, y, padlen=3 * (2 * len(sos) + 1))
        got = crossover.band(y, lo, hi)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=1e-6 * np.max(np.abs(ref)), err_msg=name)
    for n in (2, 3, 30):  # shorter than the odd extension
        part = y[1000 : 1000 + n]
        ref = sps.sosfiltfilt(crossover.band_sos(20.0, 200.0), part, padlen=n - 1)
        np.testing.assert_allclose(crossover.band(part, 20.0, 200.0), ref, rtol=1e-5, atol=1e-9)


def test_a_spilled_stem_and_the_mono_decode_read_a_block_at_a_time(tmp_path):
    import soundfile as sf

    from hambajuba_tui.audio.crossover import band
    from hambajuba_tui.audio.decode import load_audio, load_mono

    song = songs.steady(120.0, seconds=40.0, seed=4)
    y = song.stems["other"].astype(np.float32)
    spill = stems.Spill(tmp_path)
    spill.put("other", y)
    view = stems.Spilled(spill, "other")
    assert len(view) == len(y) and view[-1] == y[-1] and np.array_equal(view[5:9], y[5:9])
    assert np.array_equal(spill.get("other"), y)
    assert np.array_equal(band(view, 200.0, 4000.0), band(y, 200.0, 4000.0))
    assert np.array_equal(stems.add_spilled(y.copy(), spill, "other", -1.0), np.zeros_like(y))

    path = tmp_path / "song.wav"
    sf.write(path, song.mix, 44100, subtype="PCM_16")
    mono = load_mono(path)
    assert mono.samples.shape == (len(song.mix), 1)
    assert np.array_equal(mono.samples[:, 0], load_audio(path).mono)
