"""Issue 15, defect 5 (partly): the analysis steps that made the most transient memory now
work a block at a time with the same numbers -- librosa's tempogram (800 float64 rows per
frame) and the dsp stem separation (spectrogram, masks)."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
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
