"""Per-stem signals on the 100 Hz analysis grid.

Frame ``i`` is centred on sample ``i * HOP`` (time ``i / GRID_RATE`` s); a stem of ``n`` samples
has :func:`n_hops` ``= 1 + n // HOP`` frames. Every signal is float32 [n_hops] in [0, 1];
"normalised" means the 5th-95th percentiles of the raw value are mapped to [0, 1] and clipped.

Core (:data:`SIGNAL_NAMES`):

``envelope``       RMS over 1024 samples (23 ms), normalised.
``energy_smooth``  asymmetric one-pole follower of the RMS (the stem's "envelope" preset).
``flash``          a fast follower of the same RMS (the "flash" preset).
``sustain``        a slower follower of the same RMS (the "sustain" preset).
``flux``           onset strength (positive log-mel flux), normalised.
``transient``      peak-picked onset hits as pulses: the hit's strength (relative to the 95th
                   percentile of the stem's hit strengths) at the hit frame, decaying with
                   tau = 40 ms, so sampling at any frame rate sees every hit.

Spectral and the rest (:data:`FULL_SIGNAL_NAMES`), from one shared STFT per stem (2048 / hop 441):

``brightness``     spectral centroid (log-frequency), normalised over the frames where the stem
                   is present (> -40 dB re its loud level); held through silence.
``flatness``       spectral flatness (geometric / arithmetic mean of the power), normalised.
``harmonic``       harmonic energy (RMS units) by median-filter HPSS on a pooled spectrogram
                   (4 bins x 4 frames, up to 11 kHz), normalised like ``envelope``.
``percussive``     the percussive energy, likewise.
``percussive_ratio``  percussive / (harmonic + percussive) energy, raw (already 0..1); 0 where
                   the stem is absent.
``chroma_0`` .. ``chroma_11``  pitch-class energy (C, C#, ..., B) per frame, each frame divided by
                   its largest class; 0 where the stem is absent.
``chroma_centroid``  circular mean of the chroma as a position on the pitch-class circle, 0..1
                   (C = 0, C# = 1/12, ...); held through silence.
``energy_db``      RMS level in dB re the *mix's* loud level (its 95th-percentile RMS), floored
                   at -40 dB, clipped at 0 dB and mapped linearly to 0..1: ``(dB + 40) / 40``
                   (so it is already the prominence gate; dB = ``40 * value - 40``).
``novelty_short`` / ``novelty_mid`` / ``novelty_long``  two-window contrast of the log-mel
                   timbre (16 bands): distance between the mean over the window before and the
                   window after each frame; windows of 1, 8 and 32 beats (~0.5 s, 4 s, 16 s at
                   120 BPM, BPM-scaled); normalised.
``layer_entry``    1.0 when the stem becomes active (``energy_smooth`` > 0.5, hysteresis down to
                   0.2) after at least 6 beats of quiet (or since the start: a lead's
                   breath between phrases is no entry, a two-bar break is), decaying with
                   tau = 0.5 s. The high threshold ignores leakage: on dsp stems a
                   neighbour's bleed reaches ~0.3. The event times are
                   ``Analysis.events["<stem>.layer_entry"]``.

Pitch (only stems in :data:`PITCH_STEMS`: ``vocals``, ``bass``), by YIN at 11.025 kHz:

``pitch_conf``     1 - the YIN aperiodicity at the chosen period, 0 where the stem is absent.
``pitch_norm``     ``log(f0 / 80) / log(2000 / 80)`` clipped to 0..1; 0.5 if never voiced.

The fundamental in Hz (not a 0..1 signal) is kept beside the signals, in
``Analysis.pitch_hz[stem]`` (float32 [n_hops]): the estimate where voiced (confidence > 0.5),
held through unvoiced frames (the first voiced value before it), 0 if never voiced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hambajuba_tui.vocab import GRID_RATE, HOP, SAMPLE_RATE

SIGNAL_NAMES: tuple[str, ...] = (
    "envelope",
    "energy_smooth",
    "flash",
    "sustain",
    "flux",
    "transient",
)
CHROMA_NAMES: tuple[str, ...] = tuple(f"chroma_{k}" for k in range(12))
FULL_SIGNAL_NAMES: tuple[str, ...] = (
    *SIGNAL_NAMES,
    "brightness",
    "flatness",
    "harmonic",
    "percussive",
    "percussive_ratio",
    *CHROMA_NAMES,
    "chroma_centroid",
    "energy_db",
    "novelty_short",
    "novelty_mid",
    "novelty_long",
    "layer_entry",
)
PITCH_NAMES: tuple[str, ...] = ("pitch_conf", "pitch_norm")
PITCH_STEMS: dict[str, tuple[float, float]] = {"vocals": (70.0, 1400.0), "bass": (30.0, 500.0)}
"""Stems that get pitch signals, with the YIN search range (Hz)."""
PITCH_NORM_HZ = (80.0, 2000.0)
YIN_THRESHOLD, YIN_SLACK = 0.1, 0.3
DB_FLOOR = -40.0
NOVELTY_BEATS = {"novelty_short": 1.0, "novelty_mid": 8.0, "novelty_long": 32.0}
NOVELTY_FLOOR = 0.01
"""Smallest novelty range (RMS over 16 bands, units of 70 dB: ~0.7 dB) stretched to [0, 1]."""
ENTRY_ON, ENTRY_OFF = 0.5, 0.2
ENTRY_QUIET_BEATS = 6.0
ENTRY_TAU_MS = 500.0
PRESENT_DB = -40.0
"""A stem is "present" in a frame when its RMS is within this of its own loud level (95th
percentile) and above :data:`ENERGY_FLOOR`; spectral shape signals only mean something there."""

RMS_FRAME = 1024
BLOCK = 4096
"""Frames per block where long spectrograms are processed piecewise (memory)."""
MEL_N_FFT = 2048
N_MELS = 96
TRANSIENT_TAU_MS = 40.0
ENERGY_FLOOR = 10 ** (-60 / 20)
"""Smallest RMS range the normalisation stretches to [0, 1] (-60 dBFS): a near-silent stem stays
near zero instead of having its noise blown up."""
FLUX_FLOOR_DB = -70.0
"""Log-mel floor relative to a full-scale sine: quieter content makes no flux."""
_FULL_SCALE_MEL_POWER = (MEL_N_FFT / 4) ** 2

FOLLOWER_PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    # stem: {follower: (attack ms, release ms)}, from DESIGN.md ("envelope" drives energy_smooth)
    "drums": {"envelope": (2, 100), "flash": (1, 30), "sustain": (10, 100)},
    "drums_low": {"envelope": (5, 150), "flash": (2, 50), "sustain": (15, 150)},
    "drums_mid": {"envelope": (2, 90), "flash": (1, 35), "sustain": (10, 90)},
    "drums_high": {"envelope": (1, 80), "flash": (0.5, 20), "sustain": (5, 60)},
    "bass": {"envelope": (10, 200), "flash": (5, 80), "sustain": (30, 250)},
    "vocals": {"envelope": (15, 150), "flash": (5, 60), "sustain": (20, 180)},
    "other": {"envelope": (10, 150), "flash": (3, 50), "sustain": (15, 150)},
    "other_mid": {"envelope": (10, 150), "flash": (3, 50), "sustain": (15, 150)},
    "other_high": {"envelope": (5, 100), "flash": (1, 30), "sustain": (8, 80)},
    "global": {"envelope": (5, 150), "flash": (2, 50), "sustain": (15, 150)},
}
"""Not in DESIGN.md: ``other_mid`` copies ``other``; ``global`` (the mono mix) sits between
``drums`` and ``other``."""


def n_hops(n_samples: int) -> int:
    """Number of grid frames for ``n_samples`` samples (centred frames, hop :data:`HOP`)."""
    return 1 + n_samples // HOP


def samples_of(y) -> np.ndarray:
    """``y`` ready to be sliced a block at a time: an array (or list) as float32, a view that
    reads itself a block at a time (``len`` and ``[a:b]``, such as a spilled stem:
    :class:`~hambajuba_tui.audio.stems.Spilled`) as it is -- never read whole."""
    if isinstance(y, (np.ndarray, list, tuple)) or not (
        hasattr(y, "__len__") and hasattr(y, "__getitem__")
    ):
        return np.asarray(y, dtype=np.float32)
    return y


def rms(y: np.ndarray, frame_length: int = RMS_FRAME) -> np.ndarray:
    """RMS of float32 [n] over centred frames of ``frame_length`` samples -> float64 [n_hops]."""
    half = frame_length // 2
    n = n_hops(len(y))
    out = np.empty(n)
    # RMS_BLOCK frames at a time: a float64 cumulative sum of the whole song would be 4 copies
    # of it (and less precise late in a long song than this local one).
    for f0 in range(0, n, RMS_BLOCK):
        f1 = min(n, f0 + RMS_BLOCK)
        a = f0 * HOP - half  # first sample of frame f0 (zero padding outside the song)
        b = (f1 - 1) * HOP + half
        sq = np.square(y[max(a, 0) : min(b, len(y))], dtype=np.float64)
        sq = np.pad(sq, (max(0, -a), max(0, b - len(y))))
        cs = np.concatenate(([0.0], np.cumsum(sq)))
        starts = np.arange(f1 - f0) * HOP
        out[f0:f1] = (cs[starts + frame_length] - cs[starts]) / frame_length
    return np.sqrt(np.maximum(out, 0.0))


RMS_BLOCK = 8192
"""Grid frames (82 s) of :func:`rms` made at once."""


def normalize(
    x: np.ndarray, lo_pct: float = 5.0, hi_pct: float = 95.0, floor: float = 1e-9
) -> np.ndarray:
    """Map the ``lo_pct``..``hi_pct`` percentile range of x to [0, 1], clipped -> float32.

    The range is at least ``floor`` wide, so a (near-)constant signal maps to near zero.
    """
    if len(x) == 0:
        return np.zeros(0, dtype=np.float32)
    lo, hi = np.percentile(x, [lo_pct, hi_pct])
    out = (x - lo) / max(hi - lo, floor)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def follower_coeff(tau_ms: float, rate: float = GRID_RATE) -> float:
    """One-pole coefficient ``1 - exp(-1 / (tau_ms * rate / 1000))``."""
    frames = tau_ms * rate / 1000.0
    return 1.0 - math.exp(-1.0 / frames) if frames > 0 else 1.0


def follow(
    x: np.ndarray, attack_ms: float, release_ms: float, rate: float = GRID_RATE
) -> np.ndarray:
    """Asymmetric one-pole follower of float [n] sampled at ``rate`` Hz -> float64 [n].

    ``coeff = attack if x > state else release; state += coeff * (x - state)``, starting at 0.
    A plain loop: ~1 ms per 1000 frames, cheaper than compiling it.
    """
    attack, release = follower_coeff(attack_ms, rate), follower_coeff(release_ms, rate)
    out = [0.0] * len(x)
    state = 0.0
    for i, v in enumerate(x.tolist()):
        state += (attack if v > state else release) * (v - state)
        out[i] = state
    return np.asarray(out, dtype=np.float64)


def log_mel(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Log-mel power (dB re a full-scale sine, floored at :data:`FLUX_FLOOR_DB`).

    float32 [N_MELS, n_hops] for float32 [n] at ``sr`` Hz.
    """
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=MEL_N_FFT, hop_length=HOP, n_mels=N_MELS, fmax=16000
    )
    db = 10.0 * np.log10(np.maximum(mel / _FULL_SCALE_MEL_POWER, 10 ** (FLUX_FLOOR_DB / 10)))
    return db.astype(np.float32)


def onset_strength(
    y: np.ndarray | None = None, sr: int = SAMPLE_RATE, *, mel_db: np.ndarray | None = None
) -> np.ndarray:
    """Onset strength (mean positive log-mel flux, dB per frame) -> float32 [n_hops].

    From float32 [n] audio, or from a :func:`log_mel` spectrogram already computed.
    """
    import librosa

    if mel_db is None:
        if y is None:
            raise ValueError("onset_strength needs y or mel_db")
        mel_db = log_mel(y, sr)
    # center=False: log_mel frames are already centred; librosa would shift them 2 frames late.
    env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP, center=False)
    n = n_hops(len(y)) if y is not None else mel_db.shape[1]
    return _fit(env.astype(np.float32), n)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def pick_hits(onset_env: np.ndarray, rate: float = GRID_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Peak-pick onset hits. Returns (frame indices int64 [k], strengths float32 [k] in [0, 1]).

    Strength is the onset strength at the hit over the 95th percentile of all hit strengths
    (so the usual strong hit is ~1), clipped to [0, 1].
    """
    import librosa

    if len(onset_env) < 3 or float(onset_env.max()) <= 0.0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    frames = lambda s: max(1, int(round(s * rate)))  # noqa: E731
    norm = onset_env / float(onset_env.max())
    hits = librosa.util.peak_pick(
        norm,
        pre_max=frames(0.03),
        post_max=frames(0.03),
        pre_avg=frames(0.10),
        post_avg=frames(0.10),
        delta=0.07,
        wait=frames(0.03),
    ).astype(np.int64)
    if len(hits) == 0:
        return hits, np.zeros(0, dtype=np.float32)
    strength = onset_env[hits]
    ref = float(np.percentile(strength, 95))
    return hits, np.clip(strength / max(ref, 1e-9), 0.0, 1.0).astype(np.float32)


def pulses(
    hits: np.ndarray,
    strengths: np.ndarray,
    n: int,
    tau_ms: float = TRANSIENT_TAU_MS,
    rate: float = GRID_RATE,
) -> np.ndarray:
    """Render hits as decaying pulses: float32 [n], ``max_j s_j * exp(-(i - h_j) / tau)``."""
    out = np.zeros(n, dtype=np.float32)
    tau = tau_ms * rate / 1000.0
    span = int(math.ceil(tau * math.log(1000.0)))
    for k in range(span + 1):
        idx = hits + k
        ok = idx < n
        np.maximum.at(out, idx[ok], strengths[ok] * np.float32(math.exp(-k / tau)))
    return out


def signal_names(stem: str) -> tuple[str, ...]:
    """Every signal name (without the ``<stem>.`` prefix) that ``stem`` gets."""
    return FULL_SIGNAL_NAMES + (PITCH_NAMES if stem in PITCH_STEMS else ())


@dataclass
class StemStats:
    """What classification needs beyond the signals (raw, not normalised)."""

    flatness: np.ndarray
    """float32 [n_hops]: raw spectral flatness (0 where absent)."""
    harmonic_energy: float
    percussive_energy: float
    pitch_conf: np.ndarray | None = None
    pitch_hz: np.ndarray | None = None
    """float32 [n_hops]: the fundamental in Hz (pitched stems only; see the module doc)."""
    entries: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """int64 [k]: frames of the stem's layer entries."""

    @property
    def percussive(self) -> float:
        total = self.harmonic_energy + self.percussive_energy
        return self.percussive_energy / total if total > 0 else 0.0


@lru_cache(maxsize=4)
def _filterbanks(sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mel [N_MELS, bins], chroma [12, bins], bin Hz [bins], window) for the shared STFT."""
    import librosa

    mel = librosa.filters.mel(sr=sr, n_fft=MEL_N_FFT, n_mels=N_MELS, fmax=16000)
    chroma = librosa.filters.chroma(sr=sr, n_fft=MEL_N_FFT, tuning=0.0)
    freqs = np.fft.rfftfreq(MEL_N_FFT, 1.0 / sr)
    window = librosa.filters.get_window("hann", MEL_N_FFT, fftbins=True)
    return mel.astype(np.float32), chroma.astype(np.float32), freqs, window


def power_spectrogram(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """|STFT|^2 (2048-point Hann, hop :data:`HOP`, centred, zero-padded) -> float32 [1025, n].

    Computed in blocks of :data:`BLOCK` frames, so a long song never holds its complex STFT.
    """
    import librosa

    n = n_hops(len(y))
    half = MEL_N_FFT // 2
    padded = np.pad(np.asarray(y, dtype=np.float32), (half, half + MEL_N_FFT))
    out = np.empty((1 + MEL_N_FFT // 2, n), dtype=np.float32)
    for start in range(0, n, BLOCK):
        count = min(BLOCK, n - start)
        seg = padded[start * HOP : (start + count - 1) * HOP + MEL_N_FFT]
        spec = librosa.stft(seg, n_fft=MEL_N_FFT, hop_length=HOP, center=False)[:, :count]
        np.square(spec.real, out=out[:, start : start + count])
        out[:, start : start + count] += np.square(spec.imag)
    return out


def flatness(power: np.ndarray) -> np.ndarray:
    """Spectral flatness (geometric / arithmetic mean of the power) per frame, float64 [n]."""
    out = np.zeros(power.shape[1])
    for start in range(0, power.shape[1], BLOCK):
        pm = np.maximum(power[:, start : start + BLOCK], np.float32(1e-10))
        geo = np.exp(np.log(pm).mean(axis=0, dtype=np.float64))
        out[start : start + BLOCK] = geo / pm.mean(axis=0, dtype=np.float64)
    return out


def _fit2(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] == n:
        return x
    if x.shape[1] > n:
        return np.ascontiguousarray(x[:, :n])
    return np.pad(x, ((0, 0), (0, n - x.shape[1])))


def mel_db_from_power(power: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """:func:`log_mel` from a :func:`power_spectrogram` (same numbers, no second STFT)."""
    mel = _filterbanks(sr)[0] @ power
    db = 10.0 * np.log10(np.maximum(mel / _FULL_SCALE_MEL_POWER, 10 ** (FLUX_FLOOR_DB / 10)))
    return db.astype(np.float32)


def normalize_where(
    x: np.ndarray, where: np.ndarray, floor: float = 1e-9, fill: float = 0.0
) -> np.ndarray:
    """:func:`normalize` with the percentiles taken over ``where`` only; other frames -> fill."""
    out = np.full(len(x), fill, dtype=np.float32)
    if where.any():
        lo, hi = np.percentile(x[where], [5.0, 95.0])
        out[where] = np.clip((x[where] - lo) / max(hi - lo, floor), 0.0, 1.0)
    return out


def hold(x: np.ndarray, valid: np.ndarray, default: float = 0.0) -> np.ndarray:
    """Hold the last valid value through invalid frames (the first valid one before it)."""
    x = np.asarray(x, dtype=np.float64)
    if not valid.any():
        return np.full(len(x), default, dtype=np.float64)
    idx = np.where(valid, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.argmax(valid))
    idx[:first] = first
    return x[idx]


def contrast_novelty(features: np.ndarray, half: int) -> np.ndarray:
    """Two-window contrast of float [d, n] features: RMS distance between the mean of the
    ``half`` frames before each frame and the ``half`` frames from it on -> float64 [n]."""
    d, n = features.shape
    half = max(1, int(half))
    cs = np.zeros((d, n + 1))
    np.cumsum(features, axis=1, out=cs[:, 1:])
    out = np.empty(n)
    # NOVELTY_BLOCK frames at a time: the window means of the whole song at once were five
    # more float64 [d, n] arrays (230 MB for 16 bands of a 60-minute song); the same numbers.
    for start in range(0, n, NOVELTY_BLOCK):
        i = np.arange(start, min(n, start + NOVELTY_BLOCK))
        a, b = np.maximum(i - half, 0), np.minimum(i + half, n)
        past_n, fut_n = (i - a).astype(np.float64), (b - i).astype(np.float64)
        past = (cs[:, i] - cs[:, a]) / np.maximum(past_n, 1.0)
        fut = (cs[:, b] - cs[:, i]) / np.maximum(fut_n, 1.0)
        dist = np.sqrt(np.mean(np.square(past - fut), axis=0))
        out[i] = np.where((past_n > 0) & (fut_n > 0), dist, 0.0)
    return out


NOVELTY_BLOCK = 8192
"""Grid frames (82 s) of :func:`contrast_novelty` made at once."""


def layer_entries(energy_smooth: np.ndarray, bpm: float, rate: float = GRID_RATE) -> np.ndarray:
    """Frames (int64 [k]) where a stem becomes active after at least
    :data:`ENTRY_QUIET_BEATS` beats of quiet (the start of the song counts as quiet)."""
    quiet_min = ENTRY_QUIET_BEATS * 60.0 / max(bpm, 1.0) * rate
    entries = []
    active = False
    last_off = -quiet_min  # before the song: quiet for long enough
    for i, v in enumerate(energy_smooth.tolist()):
        if not active and v > ENTRY_ON:
            active = True
            if i - last_off >= quiet_min:
                entries.append(i)
        elif active and v < ENTRY_OFF:
            active = False
            last_off = i
    return np.asarray(entries, dtype=np.int64)


PITCH_RESAMPLE_BLOCK = 1 << 20
"""Samples of a stem resampled at once by :func:`pitch_track`."""
YIN_FRAMES = 1024
"""Grid frames of :func:`pitch_track` analysed at once."""


def pitch_track(
    y: np.ndarray, fmin: float, fmax: float, sr: int = SAMPLE_RATE, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """YIN (de Cheveigné & Kawahara 2002) on the grid: (f0 Hz float64 [n], confidence float64
    [n] = 1 - aperiodicity at the chosen period). Runs at 11.025 kHz, 1024-sample frames."""
    import soxr

    n = n_hops(len(y)) if n is None else n
    low = 11025
    length = 1024
    min_p = max(2, int(math.floor(low / fmax)))
    max_p = min(int(math.ceil(low / fmin)), length // 2)
    # The frames read the stem resampled to 11.025 kHz and zero-padded (half a frame before,
    # a frame and a half after): resampled a block at a time by one soxr stream (the same
    # samples as one soxr.resample of the whole stem) into a rolling window of that padded
    # signal, which holds only what the next YIN_FRAMES frames read (a quarter of the stem,
    # 159 MB at 60 min, if held whole).
    y = samples_of(y)
    half = length // 2
    stream = soxr.ResampleStream(sr, low, 1, dtype="float32", quality="HQ")
    window = [np.zeros(half, dtype=np.float32)]  # padded[base : base + size], in pieces
    base, size, fed, finished = 0, half, 0, False
    centres = np.round(np.arange(n) * HOP * low / sr).astype(np.int64)
    f0 = np.zeros(n)
    conf = np.zeros(n)
    offs = np.arange(length)
    for s in range(0, n, YIN_FRAMES):
        c = centres[s : s + YIN_FRAMES]
        while not finished and int(c[-1]) + length > base + size:
            last = fed + PITCH_RESAMPLE_BLOCK >= len(y)
            part = stream.resample_chunk(
                np.asarray(y[fed : fed + PITCH_RESAMPLE_BLOCK], dtype=np.float32), last=last
            )
            fed += PITCH_RESAMPLE_BLOCK
            if last:  # the padded signal's end is known: it ends a frame and a half later
                part = np.concatenate([part, np.zeros(length + half, dtype=np.float32)])
                finished = True
            window.append(part)
            size += len(part)
        if finished:
            c = np.minimum(c, base + size - length)
        padded = np.concatenate(window) if len(window) > 1 else window[0]
        fr = padded[c[:, None] - base + offs]
        # drop what no later frame reads (a frame clipped to the end reads the last `length`)
        keep = min(int(centres[min(s + YIN_FRAMES, n - 1)]), base + size - length)
        if keep > base:
            padded = padded[keep - base :]
            base = keep
        window, size = [padded], len(padded)
        f0[s : s + len(fr)], conf[s : s + len(fr)] = _yin(fr, min_p, max_p, low)
    return f0, conf


def _yin(fr: np.ndarray, min_p: int, max_p: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """YIN of frames float32 [m, length] at ``rate`` Hz, periods ``min_p``..``max_p``
    samples -> (f0 Hz float64 [m], confidence float64 [m])."""
    length = fr.shape[1]
    lags = np.arange(1, max_p + 1, dtype=np.float64)
    spec = np.fft.rfft(fr, 2 * length, axis=1)
    acf = np.fft.irfft(np.square(spec.real) + np.square(spec.imag), axis=1)[:, : max_p + 1]
    energy = np.cumsum(np.square(fr[:, :max_p], dtype=np.float64), axis=1)
    diff = 2.0 * (acf[:, :1] - acf[:, 1:]) - energy
    cmnd = diff * lags / np.maximum(np.cumsum(diff, axis=1), 1e-12)
    region = cmnd[:, min_p - 1 : max_p]  # periods min_p .. max_p
    trough = np.zeros(region.shape, dtype=bool)
    trough[:, 1:-1] = (region[:, 1:-1] <= region[:, :-2]) & (region[:, 1:-1] < region[:, 2:])
    # the shortest period whose dip is within YIN_SLACK of the deepest (and below the
    # classic 0.1 threshold at least): a leaking bass or chord below the lead otherwise
    # wins with a subharmonic period
    limit = np.maximum(YIN_THRESHOLD, region.min(axis=1, keepdims=True) + YIN_SLACK)
    below = trough & (region < limit)
    pick = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(region, axis=1))
    rows = np.arange(len(region))
    k = np.clip(pick, 1, region.shape[1] - 2)
    a, b, c = region[rows, k - 1], region[rows, k], region[rows, k + 1]
    den = a - 2 * b + c
    shift = np.where(
        (pick == k) & (np.abs(den) > 1e-12),
        0.5 * (a - c) / np.where(np.abs(den) > 1e-12, den, 1.0),
        0.0,
    )
    period = min_p + pick + np.clip(shift, -1.0, 1.0)
    return rate / period, np.clip(1.0 - region[rows, pick], 0.0, 1.0)


def pitch_signals(
    y: np.ndarray, stem: str, present: np.ndarray, sr: int = SAMPLE_RATE
) -> dict[str, np.ndarray]:
    """``pitch_hz`` (Hz), ``pitch_conf``, ``pitch_norm`` of a stem (see the module docstring)."""
    fmin, fmax = PITCH_STEMS.get(stem, (40.0, 1400.0))
    f0, conf = pitch_track(y, fmin, fmax, sr, n=len(present))
    conf = np.where(present, conf, 0.0)
    voiced = conf > 0.5
    hz = hold(f0, voiced, 0.0)
    lo, hi = PITCH_NORM_HZ
    norm = np.clip(np.log(np.maximum(hz, 1e-3) / lo) / math.log(hi / lo), 0.0, 1.0)
    if not voiced.any():
        norm = np.full(len(hz), 0.5)
    return {
        "pitch_hz": hz.astype(np.float32),
        "pitch_conf": conf.astype(np.float32),
        "pitch_norm": norm.astype(np.float32),
    }


def _hpss_energy(power: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(harmonic, percussive) RMS-unit energy per frame, float64 [n], by median-filter HPSS on
    a pooled magnitude spectrogram (4 bins x 4 frames: 86 Hz x 40 ms, bins below 11 kHz;
    medians over 9 x 40 ms in time and 9 x 86 Hz in frequency)."""
    from scipy.ndimage import median_filter

    n = power.shape[1]
    nb = 512 if power.shape[0] > 512 else power.shape[0] - power.shape[0] % 4
    pt = -n % 4
    p = np.pad(power[:nb], ((0, 0), (0, pt)), mode="edge") if pt else power[:nb]
    mag = np.sqrt(p.reshape(nb // 4, 4, p.shape[1] // 4, 4).mean(axis=(1, 3)))
    harm = median_filter(mag, size=(1, 9), mode="reflect")
    perc = median_filter(mag, size=(9, 1), mode="reflect")
    h2, p2 = np.square(harm), np.square(perc)
    mask_h = h2 / np.maximum(h2 + p2, 1e-20)
    e = np.square(mag) * 4.0  # power summed over the 4 pooled bins
    window = _filterbanks(sr)[3]
    scale = 2.0 / (MEL_N_FFT * float(np.sum(np.square(window))))
    he = np.repeat((mask_h * e).sum(axis=0), 4)[:n] * scale
    pe = np.repeat(((1.0 - mask_h) * e).sum(axis=0), 4)[:n] * scale
    return he, pe


FEATURE_BLOCK = 4096
"""Grid frames (41 s) of a stem's power spectrogram made at once by :func:`_frame_features`."""
FEATURE_CONTEXT = 64
"""Frames of context each side of a block: more than the HPSS medians reach (9 pooled frames
of 4); a multiple of 4, so the pools fall on the whole song's grid."""


def _power_frames(y: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Columns ``lo:hi`` of :func:`power_spectrogram` of ``y``, made from those samples only."""
    import librosa

    half = MEL_N_FFT // 2
    a = lo * HOP - half  # first sample of frame lo (centred frames, zero padding)
    b = (hi - 1) * HOP - half + MEL_N_FFT
    seg = np.asarray(y[max(a, 0) : min(b, len(y))], dtype=np.float32)
    seg = np.pad(seg, (max(0, -a), max(0, b - len(y))))
    spec = librosa.stft(seg, n_fft=MEL_N_FFT, hop_length=HOP, center=False)[:, : hi - lo]
    out = np.square(spec.real)
    out += np.square(spec.imag)
    return out


def mel_db_blocks(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``mel_db_from_power(power_spectrogram(y))`` made :data:`FEATURE_BLOCK` frames at a
    time: float32 [N_MELS, n], without the whole spectrogram."""
    n = n_hops(len(y))
    out = np.empty((N_MELS, n), np.float32)
    for a in range(0, n, FEATURE_BLOCK):
        b = min(n, a + FEATURE_BLOCK)
        out[:, a:b] = mel_db_from_power(_power_frames(y, a, b), sr)
    return out


N_BANDS = 16
"""Log-mel bands of the novelty features (and the sections): means of N_MELS // N_BANDS mels."""


def mel_bands(mel_db: np.ndarray) -> np.ndarray:
    """The :data:`N_BANDS` novelty bands of a log-mel [N_MELS, m] -> float32 [16, m]."""
    return mel_db.reshape(N_BANDS, N_MELS // N_BANDS, mel_db.shape[1]).mean(axis=1)


class MelSummary:
    """What the analysis keeps of a log-mel (float32 [N_MELS, n], 138 MB at 60 min per stem)
    made a block of frames at a time: its :func:`onset_strength` (float32 [n]) and its
    :func:`mel_bands` (float32 [16, n]), the same numbers as of the whole. The flux compares
    each frame with the one before, so the last column of the previous block is kept."""

    def __init__(self, n: int) -> None:
        self.onset = np.zeros(n, dtype=np.float32)
        self.bands = np.zeros((N_BANDS, n), dtype=np.float32)
        self.prev: np.ndarray | None = None

    def add(self, a: int, b: int, mel_db: np.ndarray) -> np.ndarray:
        """Take columns ``a:b`` of the log-mel; returns them with the column before (the
        context a lag-1 flux of them needs; none for the first block)."""
        ctx = mel_db if self.prev is None else np.concatenate([self.prev, mel_db], axis=1)
        self.onset[a:b] = onset_strength(mel_db=ctx)[ctx.shape[1] - (b - a) :]
        self.bands[:, a:b] = mel_bands(mel_db)
        self.prev = mel_db[:, -1:].copy()
        return ctx


def iter_mel_db(y: np.ndarray, sr: int = SAMPLE_RATE):
    """``(a, b, mel_db_blocks(y)[:, a:b])``, :data:`FEATURE_BLOCK` frames at a time."""
    y = samples_of(y)
    n = n_hops(len(y))
    for a in range(0, n, FEATURE_BLOCK):
        b = min(n, a + FEATURE_BLOCK)
        yield a, b, mel_db_from_power(_power_frames(y, a, b), sr)


def mel_summary(y: np.ndarray, sr: int = SAMPLE_RATE) -> MelSummary:
    """:class:`MelSummary` of ``y``'s log-mel, made a block at a time."""
    out = MelSummary(n_hops(len(y)))
    for a, b, mel in iter_mel_db(y, sr):
        out.add(a, b, mel)
    return out


def _frame_features(
    y: np.ndarray, sr: int, n: int, power: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per-frame features of a stem from its power spectrogram -- the log-mel's onset
    strength ``flux`` [n] and novelty ``bands`` [16, n] (:class:`MelSummary`: the whole
    log-mel is never held), centroid, flatness, harmonic / percussive energy (``he``,
    ``pe``), chroma [12, n] (each frame over its max) -- made :data:`FEATURE_BLOCK` frames at
    a time when ``power`` is not given, so a long song never holds a stem's whole
    spectrogram (the same numbers)."""
    mel_fb, chroma_fb, freqs, _ = _filterbanks(sr)
    summary = MelSummary(n)
    out = {
        "flux": summary.onset,
        "bands": summary.bands,
        "centroid": np.empty(n),
        "flatness": np.empty(n),
        "he": np.empty(n),
        "pe": np.empty(n),
        "chroma": np.empty((12, n), np.float32),
    }
    step = n if power is not None else FEATURE_BLOCK
    for a in range(0, n, max(step, 1)):
        b = min(n, a + step)
        if power is not None:
            lo, hi, p = 0, n, power
        else:
            lo, hi = max(0, a - FEATURE_CONTEXT), min(n, b + FEATURE_CONTEXT)
            p = _power_frames(y, lo, hi)
        he, pe = _hpss_energy(p, sr)
        out["he"][a:b], out["pe"][a:b] = he[a - lo : b - lo], pe[a - lo : b - lo]
        p = p[:, a - lo : b - lo]
        summary.add(a, b, mel_db_from_power(p, sr))
        total = p.sum(axis=0, dtype=np.float64)
        out["centroid"][a:b] = (freqs @ p) / np.maximum(total, 1e-20)
        out["flatness"][a:b] = flatness(p)
        chroma = chroma_fb @ p
        chroma /= np.maximum(chroma.max(axis=0, keepdims=True), 1e-20)
        out["chroma"][:, a:b] = chroma
    return out


def stem_analysis(
    y: np.ndarray,
    stem: str,
    sr: int = SAMPLE_RATE,
    *,
    bpm: float = 120.0,
    ref_rms: float | None = None,
    onset_env: np.ndarray | None = None,
    power: np.ndarray | None = None,
    full: bool = True,
    energy: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], StemStats]:
    """Signals of one stem (mono float32 [n] at ``sr``, or a view read a block at a time:
    see :func:`samples_of`) and its raw stats for classification.

    ``bpm`` scales the novelty windows and the quiet time before a layer entry; ``ref_rms`` is
    the mix's loud RMS level that ``energy_db`` is relative to (default: the stem's own);
    ``power`` is the stem's :func:`power_spectrogram` and ``energy`` its :func:`rms` when the
    caller has them (one pass less over the samples). ``full=False`` gives only
    :data:`SIGNAL_NAMES`.
    """
    y = samples_of(y)
    energy = rms(y) if energy is None else energy
    n = len(energy)
    presets = FOLLOWER_PRESETS.get(stem, FOLLOWER_PRESETS["global"])
    out = {"envelope": normalize(energy, floor=ENERGY_FLOOR)}
    for signal, preset in (
        ("energy_smooth", "envelope"),
        ("flash", "flash"),
        ("sustain", "sustain"),
    ):
        out[signal] = normalize(follow(energy, *presets[preset]), floor=ENERGY_FLOOR)
    if not full:
        if onset_env is not None:
            flux = _fit(onset_env, n)
        elif isinstance(y, np.ndarray):
            flux = onset_strength(y, sr)
        else:  # read a block at a time
            flux = mel_summary(y, sr).onset
        out["flux"] = normalize(flux, floor=1.0)
        out["transient"] = pulses(*pick_hits(flux), n)
        return out, StemStats(np.zeros(n, np.float32), 0.0, 0.0)

    feats = _frame_features(y, sr, n, None if power is None else _fit2(power, n))
    flux = feats["flux"] if onset_env is None else _fit(onset_env, n)
    out["flux"] = normalize(flux, floor=1.0)
    out["transient"] = pulses(*pick_hits(flux), n)

    loud = float(np.percentile(energy, 95)) if n else 0.0
    present = (energy > ENERGY_FLOOR) & (energy > loud * 10 ** (PRESENT_DB / 20))
    centroid = feats["centroid"]
    log_c = np.log2(np.maximum(centroid, 20.0))
    out["brightness"] = normalize_where(log_c, present, floor=0.25)
    out["brightness"] = hold(out["brightness"], present, 0.0).astype(np.float32)
    flat = np.where(present, feats["flatness"], 0.0)
    out["flatness"] = normalize_where(flat, present, floor=0.05)

    he, pe = feats["he"], feats["pe"]
    out["harmonic"] = normalize(np.sqrt(he), floor=ENERGY_FLOOR)
    out["percussive"] = normalize(np.sqrt(pe), floor=ENERGY_FLOOR)
    ratio = pe / np.maximum(he + pe, 1e-20)
    out["percussive_ratio"] = np.where(present, ratio, 0.0).astype(np.float32)

    chroma = feats["chroma"]
    chroma *= present
    for k in range(12):
        out[f"chroma_{k}"] = chroma[k].astype(np.float32)
    angle = np.exp(2j * np.pi * np.arange(12) / 12.0) @ chroma
    pos = np.mod(np.angle(angle) / (2 * np.pi), 1.0)
    out["chroma_centroid"] = hold(pos, present & (np.abs(angle) > 1e-6), 0.0).astype(np.float32)

    ref = loud if ref_rms is None else ref_rms
    db = 20.0 * np.log10(np.maximum(energy, 1e-12) / max(ref, 1e-12))
    out["energy_db"] = ((np.clip(db, DB_FLOOR, 0.0) - DB_FLOOR) / -DB_FLOOR).astype(np.float32)

    feats = feats["bands"]  # the same float32 numbers as (bands - floor) / -floor, in place
    feats -= FLUX_FLOOR_DB
    feats /= -FLUX_FLOOR_DB
    beat_frames = 60.0 / max(bpm, 1.0) * GRID_RATE
    for name, beats in NOVELTY_BEATS.items():
        nov = contrast_novelty(feats, int(round(beats * beat_frames / 2)))
        out[name] = normalize(nov, floor=NOVELTY_FLOOR)

    entries = layer_entries(out["energy_smooth"], bpm)
    out["layer_entry"] = pulses(entries, np.ones(len(entries), np.float32), n, ENTRY_TAU_MS)

    conf = hz = None
    if stem in PITCH_STEMS:
        out.update(pitch_signals(y, stem, present, sr))
        conf, hz = out["pitch_conf"], out.pop("pitch_hz")
    stats = StemStats(
        flatness=flat.astype(np.float32),
        harmonic_energy=float(he.sum()),
        percussive_energy=float(pe.sum()),
        pitch_conf=conf,
        pitch_hz=hz,
        entries=entries,
    )
    return out, stats


def stem_signals(
    y: np.ndarray,
    stem: str,
    sr: int = SAMPLE_RATE,
    *,
    onset_env: np.ndarray | None = None,
    full: bool = False,
    bpm: float = 120.0,
) -> dict[str, np.ndarray]:
    """Signals of one stem (mono float32 [n] at ``sr``): name -> float32 [n_hops].

    ``stem`` picks the follower presets (:data:`FOLLOWER_PRESETS`; unknown stems use
    ``global``). Names are those of :data:`SIGNAL_NAMES` (``full=True``: of
    :func:`signal_names`), without the ``<stem>.`` prefix. ``onset_env`` is the stem's
    :func:`onset_strength` when the caller already has it.
    """
    return stem_analysis(y, stem, sr, onset_env=onset_env, full=full, bpm=bpm)[0]
