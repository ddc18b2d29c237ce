"""Beats, downbeats and tempo.

Beats come from librosa's dynamic-programming tracker on the mix's onset strength (100 Hz grid).
librosa's own tempo estimate is quantised by its autocorrelation lag resolution (at 100 Hz, one
lag step near 124 BPM is ~1.2 BPM), so the reported BPM is instead the slope of a robust linear
fit of beat time against beat index, which is precise to a small fraction of a BPM on a steady
song. Downbeats: every 4th beat, at the phase where bars most look like they start (strong low
end, weak snare band, chord changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hambajuba_tui.vocab import GRID_RATE, HOP, SAMPLE_RATE

BPM_RANGE = (60.0, 180.0)
DEFAULT_BPM = 120.0
BEATS_PER_BAR = 4


@dataclass
class Rhythm:
    beats: np.ndarray
    """float64 [n_beats], seconds."""
    downbeats: np.ndarray
    """float64 [n_downbeats], seconds (empty when there are too few beats)."""
    bpm: float
    """Measured tempo folded into :data:`BPM_RANGE`."""


def fold_bpm(bpm: float, lo: float = BPM_RANGE[0], hi: float = BPM_RANGE[1]) -> float:
    """Fold a tempo into [lo, hi] by octaves (halving / doubling)."""
    if not np.isfinite(bpm) or bpm <= 0:
        return DEFAULT_BPM
    while bpm > hi:
        bpm /= 2.0
    while bpm < lo:
        bpm *= 2.0
    return float(bpm)


def bpm_from_beats(beats: np.ndarray) -> float | None:
    """Tempo (BPM, unfolded) from beat times (float64 [n], s) by a robust linear fit.

    Each beat gets an integer index ``round((t - t0) / median IBI)`` (so a missed beat leaves a
    gap instead of bending the fit); beats more than 15% of a period off the line are dropped
    and the fit repeated. None when fewer than 4 beats.
    """
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 4:
        return None
    ibi = np.diff(beats)
    period = float(np.median(ibi))
    if period <= 0:
        return None
    index = np.round((beats - beats[0]) / period)
    keep = np.ones(len(beats), dtype=bool)
    for _ in range(4):
        if keep.sum() < 3:
            break
        slope, intercept = np.polyfit(index[keep], beats[keep], 1)
        resid = np.abs(beats - (slope * index + intercept))
        new_keep = resid < 0.15 * slope
        if new_keep.sum() < 3 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    slope = float(np.polyfit(index[keep], beats[keep], 1)[0])
    return 60.0 / slope if slope > 0 else None


def main_section(beats: np.ndarray, step: float = 0.04) -> np.ndarray:
    """The beats (float64 [k] s) of the longest stretch at one tempo.

    Consecutive beat intervals belong to one stretch while each stays within ``step``
    (relative) of the stretch's running median; a steady song is one stretch. A song that
    changes tempo reports the BPM of the tempo it spends the longest time in.
    """
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 8:
        return beats
    ibi = np.diff(beats)
    starts, start = [], 0
    for i in range(1, len(ibi)):
        ref = float(np.median(ibi[max(start, i - 8) : i]))
        if abs(ibi[i] / ref - 1.0) > step:
            # a lone outlier (a missed or extra beat) does not split a stretch
            nxt = ibi[i + 1] if i + 1 < len(ibi) else ibi[i]
            if abs(nxt / ref - 1.0) > step:
                starts.append((start, i))
                start = i
    starts.append((start, len(ibi)))
    a, b = max(starts, key=lambda ab: beats[ab[1]] - beats[ab[0]])
    return beats[a : b + 1]


def track_beats(
    onset_env: np.ndarray, rate: float = GRID_RATE, *, mel_db: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Beat times (float64 [n], s) and the coarse tempo (BPM) they were tracked at, from an
    onset envelope (float [n_frames] at ``rate`` Hz).

    1. librosa's tracker at its own global tempo estimate.
    2. With ``mel_db`` (the mix's log-mel, float [n_mels, n_frames]): the tempo octave is
       checked against the backbeat (:func:`octave_factor`) and the song re-tracked at half or
       double tempo when the snare says so (a 72 BPM song is otherwise often tracked at 144,
       a 168 BPM one at 84).
    3. When the local tempo moves by more than :data:`TEMPO_CHANGE` over the song, the beats
       are re-tracked with librosa's time-varying tempo (one tempo per frame), so a song that
       goes from 100 to 130 BPM gets beats that follow it.
    """
    import librosa

    if len(onset_env) < 8 or float(np.max(onset_env)) <= 0:
        return np.zeros(0, dtype=np.float64), DEFAULT_BPM
    hop = int(round(SAMPLE_RATE / rate))
    env = np.asarray(onset_env, dtype=np.float64)
    coarse = tempo_estimate(env, rate)  # librosa's global estimate, in bounded memory
    tempo, frames = librosa.beat.beat_track(
        onset_envelope=env, sr=SAMPLE_RATE, hop_length=hop, bpm=coarse, units="frames"
    )
    frames = np.asarray(frames, dtype=np.int64)
    target = coarse
    if mel_db is not None and len(frames) >= 16:
        factor = octave_factor(frames, mel_db)
        if factor != 1.0 and BPM_RANGE[0] <= coarse * factor <= BPM_RANGE[1]:
            target = coarse * factor
    local = local_tempo(env, target, rate) if len(env) > 12 * rate else None
    if local is not None:
        _, frames = librosa.beat.beat_track(
            onset_envelope=env, sr=SAMPLE_RATE, hop_length=hop, bpm=local, units="frames"
        )
    elif target != coarse:
        _, frames = librosa.beat.beat_track(
            onset_envelope=env, sr=SAMPLE_RATE, hop_length=hop, bpm=target, units="frames"
        )
    beats = refine_peaks(env, np.asarray(frames, dtype=np.int64)) / rate
    return beats.astype(np.float64), target


TEMPO_CHANGE = 1.06
"""A song whose smoothed local tempo spans more than this ratio (max / min) is tracked with a
time-varying tempo."""
SNARE_BAND_HZ = (1000.0, 5000.0)
KICK_BAND_HZ = (20.0, 150.0)
HALVE_OFFBEAT_MAX = 0.25
"""Halve the tempo only when the flux between tracked beats is under this share of the flux
on them (measured on the test songs: tracked at double tempo 0.07-0.08; tracked right 0.43-0.51
clean and 0.56-0.69 clipped)."""


def octave_factor(beat_frames: np.ndarray, mel_db: np.ndarray) -> float:
    """0.5, 1 or 2: how the tracked tempo should change to put the backbeat on beats 2 and 4.

    On the half-beat grid of the tracked beats (beats and the midpoints between them), the
    snare band's onset strength is folded at periods of 2, 4 and 8 half-beats; for each period
    the contrast is the strongest phase minus the mean of the others. The snare of a song
    tracked at the right tempo repeats every 4 half-beats (every other beat); every 8 means
    the tracker counted eighth notes (halve), every 2 means it counted half notes (double).
    """
    import librosa

    mel_hz = librosa.mel_frequencies(n_mels=mel_db.shape[0] + 2, fmax=16000)[1:-1]
    flux = _band_flux(mel_db, mel_hz, *SNARE_BAND_HZ)
    half = np.empty(2 * len(beat_frames) - 1)
    half[0::2] = beat_frames
    half[1::2] = (beat_frames[:-1] + beat_frames[1:]) / 2
    grid = np.round(half).astype(np.int64)
    strength = _at_beats(flux, grid)
    # Clipping puts the kick into the snare band too: take out what the low band explains,
    # so the backbeat left is the snare's own.
    low = _at_beats(_band_flux(mel_db, mel_hz, *KICK_BAND_HZ), grid)
    low = low - low.mean()
    if float(np.dot(low, low)) > 1e-12:
        slope = max(0.0, float(np.dot(strength - strength.mean(), low) / np.dot(low, low)))
        strength = strength - slope * low
    if float(np.std(strength)) <= 1e-9:
        return 1.0
    contrast = {}
    for period in (2, 4, 8):
        means = np.array([strength[p::period].mean() for p in range(period)])
        best = int(np.argmax(means))
        contrast[period] = float(means[best] - np.delete(means, best).mean())
    # measured on the test songs: right octave 8/4 <= 1.07 and 2/4 <= 0.76; tracked at double
    # tempo 8/4 = 1.48; at half tempo 2/4 = 1.29
    # Halving also needs the half-beat offsets to be quiet, in every band: a tracker that
    # counted eighth notes leaves the sixteenths between its beats nearly empty, while a song
    # tracked right has its off-beat hats and bass there. (Clipping smears a loud downbeat
    # into the snare band and fakes an every-other-beat snare; the off-beats still play.)
    whole = _at_beats(_band_flux(mel_db, mel_hz, *WHOLE_BAND_HZ), grid)
    offbeat = float(whole[1::2].mean()) / max(float(whole[0::2].mean()), 1e-9)
    if contrast[8] > 1.25 * contrast[4] and offbeat < HALVE_OFFBEAT_MAX:
        return 0.5
    if contrast[2] > 1.15 * contrast[4]:
        return 2.0
    return 1.0


def local_tempo(env: np.ndarray, bpm: float, rate: float = GRID_RATE) -> np.ndarray | None:
    """Per-frame tempo (float64 [n_frames], BPM) when the tempo changes during the song, else
    None. librosa's local tempo (8 s autocorrelation windows) is folded to the octave nearest
    ``bpm`` and median-filtered over 6 s; it counts as changing when, away from the first and
    last 4 s, it spans more than :data:`TEMPO_CHANGE`."""
    from scipy.ndimage import median_filter

    raw = tempo_estimate(env, rate, start_bpm=bpm, local=True)
    if raw.shape != env.shape or not np.all(np.isfinite(raw)) or np.any(raw <= 0):
        return None
    folded = raw * 2.0 ** np.round(np.log2(bpm / raw))
    smooth = median_filter(folded, size=int(6 * rate) | 1, mode="nearest")
    edge = int(4 * rate)
    inner = smooth[edge:-edge]
    if len(inner) == 0 or inner.max() / inner.min() <= TEMPO_CHANGE:
        return None
    return smooth


TEMPOGRAM_BLOCK = 1000
"""Tempogram columns computed at once (10 s at 100 Hz): librosa's tempogram is 800 rows of
float64 per frame (8 s windows), about 4 MB per second of audio if made whole."""


def _tempogram_blocks(env: np.ndarray, rate: float):
    """``(start, end, tempogram[:, start:end])`` blocks equal to librosa's centred tempogram of
    ``env`` (8 s windows), so no more than :data:`TEMPOGRAM_BLOCK` columns exist at once."""
    import librosa

    hop = int(round(SAMPLE_RATE / rate))
    win = int(librosa.time_to_frames(8.0, sr=SAMPLE_RATE, hop_length=hop))
    padded = np.pad(env, (win // 2, win // 2), mode="linear_ramp", end_values=(0, 0))
    n = len(env)
    for a in range(0, n, TEMPOGRAM_BLOCK):
        b = min(n, a + TEMPOGRAM_BLOCK)
        tg = librosa.feature.tempogram(
            onset_envelope=padded[a : b + win - 1],
            sr=SAMPLE_RATE,
            hop_length=hop,
            win_length=win,
            center=False,
        )
        yield a, b, tg[:, : b - a]


def tempo_estimate(
    env: np.ndarray, rate: float = GRID_RATE, start_bpm: float = 120.0, local: bool = False
):
    """librosa's ``feature.tempo`` of the onset envelope ``env`` (float64 [n]): the global
    tempo (BPM) or, with ``local``, one per frame (float64 [n]); computed a block of the
    tempogram at a time (the same numbers, in bounded memory)."""
    import librosa

    hop = int(round(SAMPLE_RATE / rate))
    kw = {"sr": SAMPLE_RATE, "hop_length": hop, "start_bpm": start_bpm}
    if local:
        out = np.empty(len(env), dtype=np.float64)
        for a, b, tg in _tempogram_blocks(env, rate):
            out[a:b] = librosa.feature.tempo(tg=tg, aggregate=None, **kw)
        return out
    total = None
    for _, _, tg in _tempogram_blocks(env, rate):
        part = tg.sum(axis=1, keepdims=True)
        total = part if total is None else total + part
    if total is None:
        return DEFAULT_BPM
    mean = total / len(env)
    return float(np.atleast_1d(librosa.feature.tempo(tg=mean, aggregate=None, **kw))[0])


def refine_peaks(env: np.ndarray, frames: np.ndarray, radius: int = 2) -> np.ndarray:
    """Move each frame to the onset peak within ``radius`` frames, with parabolic sub-frame
    interpolation -> float64 [n] fractional frames."""
    if len(frames) == 0:
        return frames.astype(np.float64)
    n = len(env)
    offsets = np.arange(-radius, radius + 1)
    idx = np.clip(frames[:, None] + offsets[None, :], 0, n - 1)
    best = idx[np.arange(len(frames)), np.argmax(env[idx], axis=1)]
    left, mid, right = env[np.maximum(best - 1, 0)], env[best], env[np.minimum(best + 1, n - 1)]
    denom = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    return best + np.clip(shift, -0.5, 0.5)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = float(np.std(x))
    return (x - float(np.mean(x))) / sd if sd > 1e-9 else np.zeros_like(x)


DOWNBEAT_LOW_HZ = (20.0, 150.0)
DOWNBEAT_SNARE_HZ = (1000.0, 6000.0)
WHOLE_BAND_HZ = (20.0, 16000.0)
FLUX_BANDS_HZ: tuple[tuple[float, float], ...] = (
    KICK_BAND_HZ,
    SNARE_BAND_HZ,
    DOWNBEAT_LOW_HZ,
    DOWNBEAT_SNARE_HZ,
    WHOLE_BAND_HZ,
)
"""Every band whose flux the rhythm reads from the mix's log-mel."""


class BandFlux:
    """All the rhythm reads of the mix's log-mel: the positive flux (:func:`_band_flux`) of
    the bands in :data:`FLUX_BANDS_HZ`, float32 [n] each -- 4 rows where the log-mel has 96
    (138 MB at 60 min). Passed wherever a ``mel_db`` is taken: ``shape`` is the log-mel's,
    and ``[:, a:b]`` gives what :func:`_band_flux` of ``mel_db[:, a:b]`` would (the same
    numbers; the first frame of a slice has no flux). Made a block of log-mel columns at a
    time by :meth:`add`, so the log-mel is never whole."""

    def __init__(self, n: int, n_mels: int) -> None:
        self.n_mels = n_mels
        self.flux = {band: np.zeros(n, dtype=np.float32) for band in dict.fromkeys(FLUX_BANDS_HZ)}

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_mels, len(self.flux[WHOLE_BAND_HZ])

    def add(self, a: int, b: int, mel_ctx: np.ndarray) -> None:
        """Columns ``a:b`` from the log-mel's ``mel_ctx`` [n_mels, b - a (+ 1)]: those
        columns, after the one before them except in the first block."""
        import librosa

        mel_hz = librosa.mel_frequencies(n_mels=self.n_mels + 2, fmax=16000)[1:-1]
        for (lo, hi), out in self.flux.items():
            f = _band_flux(mel_ctx, mel_hz, lo, hi)
            out[a:b] = f[len(f) - (b - a) :]

    def __getitem__(self, key: tuple[slice, slice]) -> BandFlux:
        rows, cols = key
        if rows != slice(None):
            raise IndexError("BandFlux keeps every mel row's flux only as band means")
        part = BandFlux(0, self.n_mels)
        for band, flux in self.flux.items():
            part.flux[band] = flux[cols].copy()
            part.flux[band][:1] = 0.0
        return part

    def band(self, lo: float, hi: float) -> np.ndarray:
        return self.flux[(lo, hi)]

    @classmethod
    def of_mel(cls, mel_db: np.ndarray) -> BandFlux:
        """From a whole log-mel [n_mels, n]."""
        out = cls(mel_db.shape[1], mel_db.shape[0])
        out.add(0, mel_db.shape[1], mel_db)
        return out


def _band_flux(mel_db: np.ndarray, mel_hz: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if isinstance(mel_db, BandFlux):
        return mel_db.band(lo, hi)
    rows = (mel_hz >= lo) & (mel_hz < hi)
    if not rows.any():
        return np.zeros(mel_db.shape[1])
    d = np.diff(mel_db[rows], axis=1, prepend=mel_db[rows][:, :1])
    return np.maximum(d, 0.0).mean(axis=0)


def _at_beats(x: np.ndarray, beat_frames: np.ndarray, radius: int = 3) -> np.ndarray:
    """Max of x within ``radius`` frames of each beat frame."""
    n = len(x)
    idx = np.clip(beat_frames[:, None] + np.arange(-radius, radius + 1)[None, :], 0, n - 1)
    return x[idx].max(axis=1)


def _chord_change(chroma: np.ndarray, beat_frames: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of mean chroma over the beat before vs the beat after each beat."""
    edges = np.concatenate(([0], beat_frames, [chroma.shape[1]]))
    seg = np.stack(
        [
            chroma[:, a:b].mean(axis=1) if b > a else np.zeros(12)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )  # [n_beats + 1, 12]: segment k ends at beat k
    seg /= np.maximum(np.linalg.norm(seg, axis=1, keepdims=True), 1e-9)
    return 1.0 - np.sum(seg[:-1] * seg[1:], axis=1)


def find_downbeats(
    beats: np.ndarray,
    mel_db: np.ndarray,
    *,
    chroma: np.ndarray | None = None,
    rate: float = GRID_RATE,
) -> np.ndarray:
    """Every 4th beat (float64 seconds), at the phase whose beats look most like bar starts.

    ``mel_db`` is the mix's log-mel (float [n_mels, n_frames] at ``rate`` Hz, from
    ``signals.log_mel``); ``chroma`` (float [12, n_frames], same grid) adds chord changes.
    Score per beat: z(low-band flux) - 0.5 z(snare-band flux) + z(chord change).
    """
    import librosa

    if len(beats) < 2 * BEATS_PER_BAR:
        return beats[:1].copy() if len(beats) else np.zeros(0, dtype=np.float64)
    mel_hz = librosa.mel_frequencies(n_mels=mel_db.shape[0] + 2, fmax=16000)[1:-1]
    frames = np.clip(np.round(beats * rate).astype(np.int64), 0, mel_db.shape[1] - 1)
    score = _zscore(_at_beats(_band_flux(mel_db, mel_hz, *DOWNBEAT_LOW_HZ), frames))
    score -= 0.5 * _zscore(_at_beats(_band_flux(mel_db, mel_hz, *DOWNBEAT_SNARE_HZ), frames))
    if chroma is not None and chroma.shape[1] > 0:
        score += _zscore(_chord_change(chroma, frames))
    phase_score = [score[p::BEATS_PER_BAR].mean() for p in range(BEATS_PER_BAR)]
    return beats[int(np.argmax(phase_score)) :: BEATS_PER_BAR].copy()


def analyze_rhythm(
    onset_env: np.ndarray,
    mel_db: np.ndarray,
    *,
    chroma: np.ndarray | None = None,
    rate: float = GRID_RATE,
    energy: np.ndarray | None = None,
) -> Rhythm:
    """Beats, downbeats and BPM from the mix's onset strength (float [n_frames]) and log-mel
    (float [n_mels, n_frames]), both on the ``rate`` Hz grid.

    ``energy`` (the mix's RMS on the grid) marks digital silence: each stretch of music
    between silences of :data:`SILENCE_GAP_S` or more is tracked on its own (the beat picks
    up again when the music returns), and no beat falls in silence."""
    if energy is not None:
        return _rhythm_between_silences(onset_env, mel_db, chroma, rate, energy)
    beats, coarse = track_beats(onset_env, rate, mel_db=mel_db)
    fine = bpm_from_beats(main_section(beats))
    bpm = fold_bpm(fine if fine is not None else coarse)
    downbeats = find_downbeats(beats, mel_db, chroma=chroma, rate=rate)
    return Rhythm(beats=beats, downbeats=downbeats, bpm=bpm)


SILENCE_RMS = 10 ** (-70 / 20)
"""Frames quieter than this (RMS, full scale 1) are digital silence."""
SILENCE_GAP_S = 1.0
"""Silences at least this long split the song into stretches tracked apart."""


def music_stretches(energy: np.ndarray, rate: float = GRID_RATE) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` grid frames of the music between silences of
    :data:`SILENCE_GAP_S` or more (one stretch for a song without any)."""
    loud = np.asarray(energy) > SILENCE_RMS
    n = len(loud)
    if not loud.any():
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, loud.astype(np.int8), 0]))
    runs = list(zip(edges[0::2], edges[1::2], strict=True))  # loud runs [a, b)
    gap = int(SILENCE_GAP_S * rate)
    out = [list(runs[0])]
    for a, b in runs[1:]:
        if a - out[-1][1] < gap:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(int(a), int(min(b, n))) for a, b in out]


def _rhythm_between_silences(
    onset_env: np.ndarray,
    mel_db: np.ndarray,
    chroma: np.ndarray | None,
    rate: float,
    energy: np.ndarray,
) -> Rhythm:
    n = min(len(onset_env), len(energy))
    stretches = music_stretches(energy[:n], rate)
    if len(stretches) == 1 and stretches[0] == (0, n) or not stretches:
        return analyze_rhythm(onset_env, mel_db, chroma=chroma, rate=rate)
    beats, downbeats, weights = [], [], []
    for a, b in stretches:
        if b - a < 2 * rate:  # too short to hold a beat
            continue
        part = analyze_rhythm(
            onset_env[a:b],
            mel_db[:, a:b],
            chroma=None if chroma is None else chroma[:, a:b],
            rate=rate,
        )
        for out, times in ((beats, part.beats), (downbeats, part.downbeats)):
            t = times + a / rate  # no beat in the silence at either end of the stretch
            out.append(t[(t * rate >= a) & (t * rate < b)])
        weights.append((part.bpm, len(part.beats)))
    if not beats:
        return Rhythm(np.zeros(0), np.zeros(0), DEFAULT_BPM)
    bpm = max(weights, key=lambda w: w[1])[0]  # the tempo of the stretch with most beats
    return Rhythm(np.concatenate(beats), np.concatenate(downbeats), bpm)


def harmonic_chroma(y: np.ndarray, sr: int = SAMPLE_RATE, rate: float = GRID_RATE) -> np.ndarray:
    """Chroma of float32 [n] (e.g. the harmonic stems summed) -> float32 [12, n_frames] at
    ``rate`` Hz (computed at rate / 4 and repeated, which is plenty for chord changes)."""
    import librosa

    n = 1 + len(y) // HOP
    n_fft, hop = CHROMA_N_FFT, 4 * HOP
    m = 1 + len(y) // hop  # librosa's centred frame count
    chroma = np.empty((12, m), np.float32)
    # Each frame is its own (the tuning is given), so the spectrogram is made a block of
    # frames at a time (the same numbers as librosa's chroma_stft of the whole song).
    for start in range(0, m, CHROMA_BLOCK):
        count = min(CHROMA_BLOCK, m - start)
        a = start * hop - n_fft // 2
        b = a + (count - 1) * hop + n_fft
        seg = np.asarray(y[max(a, 0) : min(b, len(y))], dtype=np.float32)
        seg = np.pad(seg, (max(0, -a), max(0, b - len(y))))
        spec = librosa.stft(seg, n_fft=n_fft, hop_length=hop, center=False)[:, :count]
        power = np.square(spec.real)
        power += np.square(spec.imag)
        chroma[:, start : start + count] = librosa.feature.chroma_stft(
            S=power, sr=sr, n_fft=n_fft, tuning=0.0
        )
    return np.repeat(chroma, 4, axis=1)[:, :n]


CHROMA_N_FFT = 4096
CHROMA_BLOCK = 1024
"""Chroma frames (every 4 grid frames: 41 s) of :func:`harmonic_chroma` made at once."""
