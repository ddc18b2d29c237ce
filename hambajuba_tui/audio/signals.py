"""Per-stem signals on the 100 Hz analysis grid.

Frame ``i`` is centred on sample ``i * HOP`` (time ``i / GRID_RATE`` s); a stem of ``n`` samples
has :func:`n_frames` ``= 1 + n // HOP`` frames. Every signal is float32 [n_frames] in [0, 1]:

``envelope``       RMS over 1024 samples (23 ms), normalised by its 5th-95th percentiles.
``energy_smooth``  asymmetric one-pole follower of the RMS (the stem's "envelope" preset).
``flash``          a fast follower of the same RMS (the "flash" preset).
``sustain``        a slower follower of the same RMS (the "sustain" preset).
``flux``           onset strength (positive log-mel flux), percentile-normalised.
``transient``      peak-picked onset hits as pulses: the hit's strength (relative to the 95th
                   percentile of the stem's hit strengths) at the hit frame, decaying with
                   tau = 40 ms, so sampling at any frame rate sees every hit.
"""

from __future__ import annotations

import math

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

RMS_FRAME = 1024
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


def n_frames(n_samples: int) -> int:
    """Number of grid frames for ``n_samples`` samples (centred frames, hop :data:`HOP`)."""
    return 1 + n_samples // HOP


def rms(y: np.ndarray, frame_length: int = RMS_FRAME) -> np.ndarray:
    """RMS of float32 [n] over centred frames of ``frame_length`` samples -> float64 [n_frames]."""
    half = frame_length // 2
    sq = np.square(y, dtype=np.float64)
    cs = np.concatenate(([0.0], np.cumsum(np.pad(sq, (half, half)))))
    centres = np.arange(n_frames(len(y))) * HOP + half
    power = (cs[centres + half] - cs[centres - half]) / frame_length
    return np.sqrt(np.maximum(power, 0.0))


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

    float32 [N_MELS, n_frames] for float32 [n] at ``sr`` Hz.
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
    """Onset strength (mean positive log-mel flux, dB per frame) -> float32 [n_frames].

    From float32 [n] audio, or from a :func:`log_mel` spectrogram already computed.
    """
    import librosa

    if mel_db is None:
        if y is None:
            raise ValueError("onset_strength needs y or mel_db")
        mel_db = log_mel(y, sr)
    # center=False: log_mel frames are already centred; librosa would shift them 2 frames late.
    env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP, center=False)
    n = n_frames(len(y)) if y is not None else mel_db.shape[1]
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


def stem_signals(
    y: np.ndarray, stem: str, sr: int = SAMPLE_RATE, *, onset_env: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """All signals of one stem (mono float32 [n] at ``sr``): name -> float32 [n_frames] in [0, 1].

    ``stem`` picks the follower presets (:data:`FOLLOWER_PRESETS`; unknown stems use
    ``global``). Names are those of :data:`SIGNAL_NAMES`, without the ``<stem>.`` prefix.
    ``onset_env`` is the stem's :func:`onset_strength` when the caller already has it.
    """
    y = np.asarray(y, dtype=np.float32)
    energy = rms(y)
    presets = FOLLOWER_PRESETS.get(stem, FOLLOWER_PRESETS["global"])
    out = {"envelope": normalize(energy, floor=ENERGY_FLOOR)}
    for signal, preset in (
        ("energy_smooth", "envelope"),
        ("flash", "flash"),
        ("sustain", "sustain"),
    ):
        out[signal] = normalize(follow(energy, *presets[preset]), floor=ENERGY_FLOOR)
    flux = onset_strength(y, sr) if onset_env is None else _fit(onset_env, len(energy))
    out["flux"] = normalize(flux, floor=1.0)
    hits, strengths = pick_hits(flux)
    out["transient"] = pulses(hits, strengths, len(energy))
    return out


def silent_signals(n: int, stems: tuple[str, ...]) -> dict[str, np.ndarray]:
    """All-zero signals (float32 [n]) named ``<stem>.<signal>`` for every stem."""
    return {f"{s}.{name}": np.zeros(n, dtype=np.float32) for s in stems for name in SIGNAL_NAMES}
