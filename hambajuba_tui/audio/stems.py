"""Stem separation: split a stereo mix into ``bass``, ``drums``, ``vocals`` and ``other``.

Backends:

``dsp`` (no weights, a few seconds per song) -- rough, and honest about it. It cannot know what
a voice is; it splits the spectrogram of the mono mix by *shape*:

1. HPSS (median filtering, Fitzgerald 2010) splits every time-frequency bin softly into a
   percussive part (vertical: short, broadband) and a harmonic part (horizontal: sustained).
2. ``drums`` = the percussive part, all frequencies.
3. ``bass`` = the harmonic part below ~200 Hz (raised-cosine crossover 150-260 Hz).
4. ``vocals`` = the harmonic part in the lead band (~250 Hz-3.5 kHz) that *moves*: bins louder
   than their own median over ~1.5 s. A lead line changes pitch every few hundred ms and
   wobbles with vibrato; pads and held chords stay put and go to ``other``.
5. ``other`` = the rest of the harmonic part.

The masks sum to one in every bin, so the four stems add up to the mono mix. Expect leakage:
a kick's low tail lands partly in ``bass``, sustained synth leads in ``other``, and any moving
mid-band instrument (a guitar solo) in ``vocals``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import median_filter

from hambajuba_tui.audio.decode import AudioError
from hambajuba_tui.vocab import PHYSICAL_STEMS

N_FFT = 2048
STFT_HOP = 512
BASS_XOVER_HZ = (150.0, 260.0)
"""Harmonic energy below the first edge is bass, above the second is not (log-cosine blend)."""
LEAD_BAND_HZ = (250.0, 3500.0)
LEAD_EDGE_OCTAVES = 0.5
"""Width of the soft edges of the lead band, in octaves."""
MOVING_WINDOW_S = 1.5
MOVING_MARGIN = 1.5
"""A lead-band bin counts as moving when it is this much louder than its median over time."""

Separator = Callable[[np.ndarray, int], dict[str, np.ndarray]]


def _log_ramp(freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, raised cosine in log-frequency between; shape of freqs."""
    x = (np.log2(np.maximum(freqs, 1.0)) - np.log2(lo)) / (np.log2(hi) - np.log2(lo))
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def band_weights(freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bass weight, lead-band weight), each float [n_bins] in [0, 1], for bin centres in Hz."""
    bass = 1.0 - _log_ramp(freqs, *BASS_XOVER_HZ)
    lo, hi = LEAD_BAND_HZ
    up = _log_ramp(freqs, lo / 2**LEAD_EDGE_OCTAVES, lo * 2 ** (LEAD_EDGE_OCTAVES / 2))
    down = 1.0 - _log_ramp(freqs, hi / 2 ** (LEAD_EDGE_OCTAVES / 2), hi * 2**LEAD_EDGE_OCTAVES)
    return bass, up * down * (1.0 - bass)


def dsp_masks(mag: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Soft masks for the four stems from a magnitude spectrogram.

    ``mag`` is float32 [n_bins, n_frames] (``N_FFT``/``STFT_HOP`` STFT at ``sr`` Hz). Returns stem
    -> float32 [n_bins, n_frames] in [0, 1]; the four masks sum to 1 in every bin.
    """
    import librosa

    harm, perc = librosa.decompose.hpss(mag, kernel_size=31, power=2.0, mask=True)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2 * (mag.shape[0] - 1))
    w_bass, w_lead = band_weights(freqs)

    # "Moving" content inside the lead band: louder than its own running median over time.
    rows = np.flatnonzero(w_lead > 1e-3)
    moving = np.zeros_like(mag)
    if len(rows):
        h_band = mag[rows] * harm[rows]
        width = max(3, int(round(MOVING_WINDOW_S * sr / STFT_HOP)) | 1)
        still = median_filter(h_band, size=(1, width), mode="nearest") * MOVING_MARGIN
        p_mov, p_still = h_band**2, still**2
        moving[rows] = p_mov / np.maximum(p_mov + p_still, 1e-12)

    vocals = harm * w_lead[:, None] * moving
    bass = harm * w_bass[:, None]
    other = harm - bass - vocals
    return {
        "bass": bass.astype(np.float32),
        "drums": perc.astype(np.float32),
        "vocals": vocals.astype(np.float32),
        "other": np.maximum(other, 0.0).astype(np.float32),
    }


def separate_dsp(stereo: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """The ``dsp`` backend: stereo float32 [n, 2] -> stem -> mono float32 [n].

    See the module docstring for what it does and how rough it is. The four stems sum to the
    mono mix (up to STFT round-off).
    """
    import librosa

    mono = np.asarray(stereo, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    n = len(mono)
    if n == 0:
        return {name: np.zeros(0, dtype=np.float32) for name in PHYSICAL_STEMS}
    spec = librosa.stft(mono, n_fft=N_FFT, hop_length=STFT_HOP)
    masks = dsp_masks(np.abs(spec), sr)
    return {
        name: librosa.istft(spec * masks[name], hop_length=STFT_HOP, n_fft=N_FFT, length=n).astype(
            np.float32
        )
        for name in PHYSICAL_STEMS
    }


STEM_BACKENDS: dict[str, Separator] = {"dsp": separate_dsp}
"""Backend name -> separator. ``demucs`` and ``auto`` come later."""


def separate(stereo: np.ndarray, sr: int, backend: str = "dsp") -> dict[str, np.ndarray]:
    """Separate stereo float32 [n, 2] at ``sr`` Hz into stem -> mono float32 [n]."""
    try:
        separator = STEM_BACKENDS[backend]
    except KeyError:
        choices = ", ".join(sorted(STEM_BACKENDS))
        raise AudioError(f"unknown stem backend {backend!r}; choose one of: {choices}") from None
    return separator(stereo, sr)
