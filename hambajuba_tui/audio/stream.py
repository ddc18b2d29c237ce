"""Streaming (causal) analysis: audio blocks in, Analysis-like signals out as they happen.

:class:`StreamingAnalyser` turns mono audio pushed in blocks of any size into the signals of the
offline :class:`~hambajuba_tui.audio.analysis.Analysis` on the same 100 Hz grid, using only past
audio. Frame ``i`` is labelled time ``i / 100`` s from the first sample pushed; it is computed
from the audio up to sample ``(i + 1) * hop`` (a 2048-sample Hann window *ending* there, so the
spectral signals lag the offline, centred ones by about 20 ms). numpy / scipy only.

Input: mono float at ``sr`` (any multiple of 100 Hz from 32 kHz: 44.1 and 48 kHz, hop
``sr / 100``; the filters and bands are designed per rate; other rates: resample first).
NaN / inf samples are zeroed. DC: each STFT frame loses its own mean (a constant or slowly
moving offset never reaches the spectrum) and the pitch path starts with a one-pole 15 Hz
high-pass. Everything is computed per chunk,
vectorised over the chunk's frames, with the state (filter ``zi``, history, followers,
normalisers, tempo) carried across calls, so any push size gives the same values.

The sources are NOT separated stems. They are named like the stems so that the bridge can read
them through the same seam, and they are built like this from one causal STFT of the mix:

- a causal harmonic / percussive cue per band (48 log-spaced bands, 30 Hz - 16 kHz): the
  harmonic part of a band is the minimum of its magnitude over the last :data:`HARM_FRAMES`
  frames (what persists), the percussive part is the rest of the power (``P = |X|^2 - H^2``);
- band weights from the LR-4 crossover design of :mod:`hambajuba_tui.audio.crossover` (its
  forward, causal magnitude response squared, evaluated at the band centres):

``bass``        harmonic part below 200 Hz.
``drums``       percussive part (all bands); ``drums_low`` / ``drums_mid`` / ``drums_high`` its
                20-200 / 200-5000 / 5000-16000 Hz bands.
``vocals``      harmonic part at 200-4000 Hz, times the YIN pitch confidence of that band (a
                monophonic line is "vocal"; a chord is not).
``other``       the remaining harmonic part (200-4000 Hz times one minus that confidence, plus
                everything above 4000 Hz); ``other_mid`` / ``other_high`` its 200-4000 /
                4000-16000 Hz parts.
``global``      the whole mix.

Per source (:data:`SOURCE_SIGNALS`): ``envelope`` (band-power RMS), ``energy_smooth`` / ``flash``
/ ``sustain`` (the asymmetric followers of :data:`~hambajuba_tui.audio.signals.FOLLOWER_PRESETS`
on that RMS), ``flux`` (positive log-band flux), ``transient`` (causal peak-picked flux hits,
decaying with tau 40 ms), ``brightness`` (log-frequency band centroid, held through absence),
``flatness`` (over the bands), ``chroma_0..11`` (harmonic sources from the harmonic power, drums
from the percussive, in three crossover regions, from the spectral peaks 40 Hz - 5 kHz at
their interpolated frequencies; every other frame, held; each divided by its largest class),
``chroma_centroid``, ``energy_db`` (``(dB + 40) / 40`` re the mix's running loud level, a
peak RMS that decays over 30 s and holds through silence, never below -40 dBFS),
``novelty_short`` / ``novelty_mid`` (contrast of the mean 8-band log spectrum of the last
0.25 s / 2 s against the 0.25 s / 2 s before; the offline windows at 120 BPM, fixed here),
``layer_entry`` (1.0 when the source's ``energy_smooth`` rises over 0.5 after at least 3 s below
0.2, or at the start, decaying with tau 0.5 s; also reported in
:attr:`StreamUpdate.layer_entries`). ``vocals`` and ``bass`` also get ``pitch_conf`` and
``pitch_norm`` (YIN every other hop, held, on the mix's >200 Hz band below sr/16 at sr/8,
256-sample windows, and its <200 Hz band at sr/32, 128-sample windows; ``pitch_norm`` as
offline: ``log(f0 / 80) / log(2000 / 80)``, held while unvoiced, 0.5 before any voiced frame).

Song-level: ``tension.value`` / ``.roughness`` / ``.entropy`` (roughness of the 20 strongest
harmonic peaks and the band entropy, every 8 frames, held; tension = (0.6 roughness + 0.4
entropy) x a presence gate), ``tonal_distance.value`` (JS divergence / ln 2 of the harmonic
chroma from its running mean -- a 30 s decaying mean updated every 0.25 s -- followed
60 / 400 ms), and the running key (Krumhansl-Schmuckler on an 8 s decaying mean of the harmonic
chroma plus the bass line's YIN pitch classes, re-scored every second; a new key must win by
:data:`KEY_MARGIN` twice in a row). Relative major / minor keys share their notes and are often
confused (the offline analysis has bars and a Viterbi path for that; this has neither).

Normalisation is causal: each raw signal maps its running 5th..95th percentile range to [0, 1].
The range is a running quantile estimate updated every :data:`NORM_BLOCK` frames (0.25 s): each
end moves by the share of the block's frames beyond it minus the 5 % that should be (outwards
fast, :data:`NORM_OUT` of the span per block at most; inwards at most with a
:data:`NORM_TAU_S` time constant; the first block sets it to its own percentiles), only while
the mix is above the silence floor, and
is never narrower than a per-signal floor (energies: -60 dBFS and :data:`ENERGY_REL` of the
mix's range), so quiet starts and minutes of digital silence do not blow noise up to full
scale. Frames are normalised with the range from the blocks before (0 before the first block).
On a steady 30 s song the energies come out near the offline scale (global, after 5 s, here vs
offline: ``energy_smooth`` mean 0.41 / 90th percentile 0.83 vs 0.47 / 0.89; ``flux`` mean 0.06 /
0.12 vs 0.16 / 0.41: a spiky signal's range starts at its first block's peak and takes
20-30 s to settle on the song's 95th percentile, so it runs low until then).

Tempo and beats: :mod:`hambajuba_tui.audio.stream_tempo` (predicted beats, emitted when due).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import signal as sps

from hambajuba_tui.audio.crossover import band_sos, lr4
from hambajuba_tui.audio.harmony import (
    KK_MAJOR,
    KK_MINOR,
    PITCH_CLASSES,
    dissonance,
    js_distance,
)
from hambajuba_tui.audio.signals import (
    ENERGY_FLOOR,
    FOLLOWER_PRESETS,
    PITCH_NORM_HZ,
    PITCH_STEMS,
    YIN_SLACK,
    YIN_THRESHOLD,
    follower_coeff,
)
from hambajuba_tui.audio.stream_tempo import TempoTracker

try:  # scipy's sosfilt kernel (private; the public function is the fallback)
    from scipy.signal._sosfilt import _sosfilt as _SOSFILT
except ImportError:  # pragma: no cover
    _SOSFILT = None

STREAM_STEMS = (
    "bass",
    "drums",
    "vocals",
    "other",
    "drums_low",
    "drums_mid",
    "drums_high",
    "other_mid",
    "other_high",
    "global",
)
SOURCE_SIGNALS: tuple[str, ...] = (
    "envelope",
    "energy_smooth",
    "flash",
    "sustain",
    "flux",
    "transient",
    "brightness",
    "flatness",
    *(f"chroma_{k}" for k in range(12)),
    "chroma_centroid",
    "energy_db",
    "novelty_short",
    "novelty_mid",
    "layer_entry",
)
PITCH_SIGNALS = ("pitch_conf", "pitch_norm")
SONG_SIGNALS = (
    "tension.value",
    "tension.roughness",
    "tension.entropy",
    "tonal_distance.value",
)
RATE = 100
N_FFT = 2048
N_BANDS = 48
HARM_FRAMES = 10
NORM_BLOCK = 25
NORM_TAU_S = 20.0
LOUD_TAU_S = 30.0
NORM_OUT = 0.5
"""How fast the range widens: the fraction of its span per block when every frame is beyond."""
SILENCE_RMS = 10 ** (-60 / 20)
"""The mix is "silent" below this RMS (-60 dBFS): no normaliser updates, no beats."""
LOUD_MIN = 10 ** (-40 / 20)
"""``energy_db`` is relative to the mix's running loud level, but never to less than -40 dBFS
(noise before the music is not "0 dB")."""
DC_HZ = 15.0
ENERGY_REL = 0.1
ENTRY_ON, ENTRY_OFF = 0.5, 0.2
ENTRY_QUIET_S = 3.0
ENTRY_TAU_S = 0.5
TRANSIENT_TAU_S = 0.04
NOVELTY_HALF = {"novelty_short": 25, "novelty_mid": 200}
_NOV_WIDTHS = np.array([w for h in NOVELTY_HALF.values() for w in (h, 2 * h)])
HARMONY_STEP = 8
PITCH_STEP = 2
"""YIN and the chroma run on every other frame and are held in between."""
KEY_STEP = 100
KEY_TAU_S = 8.0
KEY_MARGIN = 0.1
CHROMA_TAU_S = 30.0
TONAL_MS = (60.0, 400.0)
VOCAL_DECIM, BASS_DECIM = 8, 4
"""The vocal band runs at sr / 8, the bass band at sr / 32 (decimated again by 4)."""
VOCAL_WIN, BASS_WIN = 256, 128
CROSS = {"low": (None, 200.0), "mid": (200.0, 4000.0), "high": (4000.0, None)}


def stream_signal_names() -> tuple[str, ...]:
    """Every signal name the analyser writes, in the order of :attr:`StreamUpdate.values`."""
    names = []
    for stem in STREAM_STEMS:
        names += [f"{stem}.{s}" for s in SOURCE_SIGNALS]
        if stem in PITCH_STEMS:
            names += [f"{stem}.{s}" for s in PITCH_SIGNALS]
    return (*names, *SONG_SIGNALS)


@dataclass
class StreamUpdate:
    start: int
    """Grid frame index of ``values[:, 0]``."""
    values: np.ndarray
    """float32 [len(names), k], each in [0, 1]."""
    beats: np.ndarray
    """float64 [m]: predicted beat times (s) that became due in this update."""
    bpm: float
    """Current tempo estimate (0.0 until there is one)."""
    next_beat: float
    """Predicted time (s) of the next beat (nan until there is one)."""
    key: str
    """Running key, e.g. ``"A minor"`` ("" until known)."""
    layer_entries: list[tuple[str, float]] = field(default_factory=list)
    """(stem, time s) of the layer entries detected in this update."""


@lru_cache(maxsize=4)
def _design(sr: int) -> dict:
    """Every rate-dependent constant: window, band matrix, crossover weights, chroma maps."""
    hop = sr // RATE
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr)
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    scale = 2.0 / (N_FFT * float(np.sum(np.square(window))))  # band power -> mean square
    edges = np.geomspace(30.0, min(16000.0, 0.45 * sr), N_BANDS + 1)
    centres = np.sqrt(edges[:-1] * edges[1:])
    starts = np.searchsorted(freqs, edges[:-1])
    stops = np.searchsorted(freqs, edges[1:])
    empty = stops <= starts  # narrower than a bin: take the nearest one
    nearest = np.rint(centres / (freqs[1] - freqs[0])).astype(np.int64)
    starts = np.where(empty, nearest, starts)
    stops = np.where(empty, nearest + 1, stops)
    band_of = np.full(len(freqs), -1, dtype=np.int64)
    for b in range(N_BANDS):
        band_of[starts[b] : stops[b]] = b

    def resp(sos: np.ndarray) -> np.ndarray:
        _, h = sps.sosfreqz(sos, worN=centres, fs=sr)
        return np.abs(h) ** 2

    lo200, hi200 = resp(lr4(200.0, "lowpass", sr)), resp(lr4(200.0, "highpass", sr))
    lo4k, hi4k = resp(lr4(4000.0, "lowpass", sr)), resp(lr4(4000.0, "highpass", sr))
    w = {
        "low": lo200,
        "mid": hi200 * lo4k,
        "high": hi200 * hi4k,
        "drums_low": resp(band_sos(20.0, 200.0, sr)),
        "drums_mid": resp(band_sos(200.0, 5000.0, sr)),
        "drums_high": resp(band_sos(5000.0, 16000.0, sr)),
    }
    chroma_bins = int(np.searchsorted(freqs, 5000.0, side="right")) + 1
    rough_lo, rough_hi = np.searchsorted(freqs, (30.0, 5000.0))
    return {
        "hop": hop,
        "freqs": freqs,
        "window": window,
        "scale": scale,
        "band_idx": np.ravel(np.column_stack([starts, stops])),  # for np.add.reduceat
        "band_bins": int(stops.max()) + 1,
        "band_of": band_of,
        "centres": centres,
        "log_c": np.log2(centres),
        "w": w,
        "chroma_bins": chroma_bins,
        "rough": (int(rough_lo), int(rough_hi)),
        # anti-alias at the full rate; the 200 Hz crossover at sr / 8 (4000 Hz is above its
        # Nyquist frequency, so the anti-alias low-pass is the vocal band's upper edge)
        "alias_sos": np.vstack(
            [
                sps.butter(1, DC_HZ, btype="highpass", fs=sr, output="sos"),
                sps.butter(4, 0.45 * sr / VOCAL_DECIM, fs=sr, output="sos"),
            ]
        ),
        "vocal_sos": lr4(200.0, "highpass", sr / VOCAL_DECIM),
        "bass_sos": lr4(200.0, "lowpass", sr / VOCAL_DECIM),
    }


def _chroma_peaks(power: np.ndarray, hfrac: np.ndarray, d: dict) -> tuple[np.ndarray, ...]:
    """Chroma from spectral peaks 40 Hz - 5 kHz (frequency by parabolic interpolation of the
    log power, so a 21 Hz bin still names the semitone of a resolved partial), split into
    the three crossover regions and into harmonic / percussive by the band's harmonic
    fraction ``hfrac`` [B, k] -> (harmonic, percussive) float64 [3, 12, k] each."""
    k = power.shape[0]
    p = power[:, : d["chroma_bins"]].astype(np.float64)
    lp = np.log(p + 1e-20)
    a, b, c = lp[:, :-2], lp[:, 1:-1], lp[:, 2:]
    peak = (b > a) & (b >= c) & (p[:, 1:-1] > 1e-12)
    peak[:, :1] = False  # below 40 Hz
    fi, bi = np.nonzero(peak)
    if len(fi) == 0:
        z = np.zeros((3, 12, k))
        return z, z.copy()
    den = a[fi, bi] - 2 * b[fi, bi] + c[fi, bi]
    shift = np.where(den < -1e-12, 0.5 * (a[fi, bi] - c[fi, bi]) / np.where(den < 0, den, -1), 0)
    bins = bi + 1 + np.clip(shift, -0.5, 0.5)
    hz = bins * d["freqs"][1]
    ok = (hz >= 40.0) & (hz <= 5000.0)
    fi, bi, hz = fi[ok], bi[ok] + 1, hz[ok]
    pc = np.round(12 * np.log2(hz / 440.0) + 9).astype(np.int64) % 12
    region = np.where(hz < 200.0, 0, np.where(hz < 4000.0, 1, 2))
    w = p[fi, bi]
    hf = hfrac[np.maximum(d["band_of"][bi], 0), fi]
    idx = (region * 12 + pc) * k + fi
    harm = np.bincount(idx, w * hf, minlength=36 * k).reshape(3, 12, k)
    perc = np.bincount(idx, w * (1 - hf), minlength=36 * k).reshape(3, 12, k)
    return harm, perc


def _hold(x: np.ndarray, valid: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Hold each row of ``x`` [n, k] through its invalid frames (``state`` [n]: the value held
    from before; updated in place)."""
    k = x.shape[1]
    idx = np.where(valid, np.arange(k)[None, :], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    held = np.take_along_axis(x, np.maximum(idx, 0), axis=1)
    out = np.where(idx >= 0, held, state[:, None])
    if k:
        state[:] = out[:, -1]
    return out


def _band_sum(power: np.ndarray, d: dict) -> np.ndarray:
    """Power [k, bins] summed over the analysis bands -> [k, N_BANDS]."""
    return np.add.reduceat(power[:, : d["band_bins"]], d["band_idx"], axis=1)[:, ::2]


class _Norm:
    """Causal 5th..95th percentile range of many raw signals, updated per block."""

    def __init__(self, floors: np.ndarray, rel: np.ndarray, ref: int) -> None:
        self.floor = np.asarray(floors, dtype=np.float64)
        self.rel, self.ref = np.asarray(rel, dtype=np.float64), ref
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self.lo = np.full(len(floors), np.nan)
        self.hi = np.full(len(floors), np.nan)

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self._cache is None:
            return np.zeros_like(x)
        lo, scale = self._cache
        out = (x - lo) * scale
        return np.minimum(np.maximum(out, 0.0, out=out), 1.0, out=out)

    def _prepare(self) -> None:
        """(lo, 1 / width) columns for :meth:`apply`; signals without a range yet map to 0."""
        known = np.isfinite(self.lo)
        ref = self.hi[self.ref] if np.isfinite(self.hi[self.ref]) else 0.0
        floor = np.maximum(self.floor, self.rel * ref)
        width = np.maximum(np.nan_to_num(self.hi - self.lo, nan=0.0), floor)
        lo = np.where(known, self.lo, np.inf)  # unknown: (x - inf) -> clipped to 0
        self._cache = (lo[:, None], (1.0 / width)[:, None])

    def update(self, x: np.ndarray, dt_s: float) -> None:
        first = ~np.isfinite(self.lo)
        if first.any():
            n = x.shape[1]
            lo_k, hi_k = int(0.05 * (n - 1)), int(math.ceil(0.95 * (n - 1)))
            part = np.partition(x, (lo_k, hi_k), axis=1)
            p5, p95 = part[:, lo_k], part[:, hi_k]
        else:
            p5 = p95 = self.lo
        d = 1.0 - math.exp(-dt_s / NORM_TAU_S)
        span = np.nan_to_num(self.hi - self.lo, nan=0.0)
        # a running quantile estimate: the share of the block's frames beyond the range's end
        # against the 5 % it should be (out fast, in at most NORM_TAU_S fast), so the range
        # settles on the song's 5th / 95th percentiles even for spiky signals
        ref = self.hi[self.ref] if np.isfinite(self.hi[self.ref]) else 0.0
        span = np.maximum(span, np.maximum(self.floor, self.rel * ref))
        # (a margin of 1e-6 of the span: values sitting on an end, as a plateau does after the
        # first block, must not count as beyond it by rounding, or push sizes would disagree)
        tol = 1e-6 * span[:, None]
        above = (x > self.hi[:, None] + tol).mean(axis=1) - 0.05
        below = (x < self.lo[:, None] - tol).mean(axis=1) - 0.05
        g_in = d / 0.05
        hi = self.hi + span * np.where(above > 0, NORM_OUT * above, g_in * above)
        lo = self.lo - span * np.where(below > 0, NORM_OUT * below, g_in * below)
        # moving out never passes the block's own extremes (silence stays at 0)
        hi = np.where(above > 0, np.minimum(hi, x.max(axis=1)), hi)
        lo = np.where(below > 0, np.maximum(lo, x.min(axis=1)), lo)
        lo = np.where(first, p5, lo)
        hi = np.where(first, p95, hi)
        self.lo, self.hi = lo, np.maximum(hi, lo)
        self._prepare()


def _yin(frames: np.ndarray, sr: float, fmin: float, fmax: float) -> tuple[np.ndarray, ...]:
    """YIN on float [n, W] frames -> (f0 Hz [n], confidence [n]) (as signals.pitch_track)."""
    n, length = frames.shape
    min_p = max(2, int(math.floor(sr / fmax)))
    max_p = min(int(math.ceil(sr / fmin)), length // 2)
    spec = sfft.rfft(frames, 2 * length, axis=1)
    acf = sfft.irfft(np.square(spec.real) + np.square(spec.imag), axis=1)[:, : max_p + 1]
    energy = np.cumsum(np.square(frames[:, :max_p], dtype=np.float64), axis=1)
    diff = 2.0 * (acf[:, :1] - acf[:, 1:]) - energy
    lags = np.arange(1, max_p + 1, dtype=np.float64)
    cmnd = diff * lags / np.maximum(np.cumsum(diff, axis=1), 1e-12)
    region = cmnd[:, min_p - 1 : max_p]
    trough = np.zeros(region.shape, dtype=bool)
    trough[:, 1:-1] = (region[:, 1:-1] <= region[:, :-2]) & (region[:, 1:-1] < region[:, 2:])
    limit = np.maximum(YIN_THRESHOLD, region.min(axis=1, keepdims=True) + YIN_SLACK)
    below = trough & (region < limit)
    pick = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(region, axis=1))
    rows = np.arange(n)
    k = np.clip(pick, 1, region.shape[1] - 2)
    a, b, c = region[rows, k - 1], region[rows, k], region[rows, k + 1]
    den = a - 2 * b + c
    safe = np.where(np.abs(den) > 1e-12, den, 1.0)
    shift = np.where((pick == k) & (np.abs(den) > 1e-12), 0.5 * (a - c) / safe, 0.0)
    period = min_p + pick + np.clip(shift, -1.0, 1.0)
    return sr / period, np.clip(1.0 - region[rows, pick], 0.0, 1.0)


def _sosfilt_zi(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """``sosfilt(sos, x, zi=zi)`` (float64) with ``zi`` [sections, 2] updated in place.

    Uses scipy's kernel directly where it exists: the public function's argument checks cost
    ten times the filtering on a 512-sample block."""
    if _SOSFILT is not None:
        y = np.array(x, dtype=np.float64)[None, :]
        z = zi[None]
        _SOSFILT(sos, y, z)
        zi[:] = z[0]
        return y[0]
    y, zf = sps.sosfilt(sos, x, zi=zi)
    zi[:] = zf
    return y


class _Decimated:
    """A causally filtered, decimated copy of a stream, with the history a YIN window needs."""

    def __init__(self, sos: np.ndarray, factor: int, win: int = 0) -> None:
        self.sos, self.factor, self.win = sos, factor, win
        self.zi = np.zeros((len(sos), 2))
        self.buf = np.zeros(win, dtype=np.float32)
        self.count = 0  # output samples so far (output m is input sample m * factor)
        self.seen = 0  # input samples so far

    def feed(self, x: np.ndarray) -> np.ndarray:
        """Filter and decimate input ``x`` -> the new output samples."""
        y = _sosfilt_zi(self.sos, x, self.zi)
        first = (-self.seen) % self.factor
        self.seen += len(x)
        return y[first :: self.factor].astype(np.float32)

    def frames(self, x: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Feed ``x``; return the ``win``-sample windows [k, win] ending just before output
        sample ``stops`` [k] (absolute output indices)."""
        dec = self.feed(x)
        buf = np.concatenate([self.buf, dec])
        base = self.count - len(self.buf)  # output index of buf[0]
        self.count += len(dec)
        starts = stops - base - self.win
        out = buf[starts[:, None] + np.arange(self.win)[None, :]]
        self.buf = buf[-self.win :].copy()
        return out


class StreamingAnalyser:
    """Causal analysis of a mono stream; see the module docstring."""

    def __init__(self, sr: int = 44100) -> None:
        if sr % RATE or sr < 32000:
            raise ValueError(
                f"sample rate {sr} Hz: the streaming analyser needs a multiple of {RATE} Hz, at "
                "least 32000 (resample first, e.g. to 44100)"
            )
        self.sr = int(sr)
        self.names = stream_signal_names()
        self._index = {n: i for i, n in enumerate(self.names)}
        self._base = np.array([self._index[f"{s}.envelope"] for s in STREAM_STEMS])
        d = self._d = _design(self.sr)
        self.hop = d["hop"]
        self._pending = np.zeros(0, dtype=np.float32)
        self._hist = np.zeros(N_FFT, dtype=np.float32)
        self._hops = 0
        self._alias = _Decimated(d["alias_sos"], VOCAL_DECIM)
        self._vocal = _Decimated(d["vocal_sos"], 1, VOCAL_WIN)
        self._bass = _Decimated(d["bass_sos"], BASS_DECIM, BASS_WIN)
        self._mag_hist = np.zeros((N_BANDS, HARM_FRAMES - 1), dtype=np.float32)
        ns = len(STREAM_STEMS)
        self._prev_logb = np.zeros((ns, N_BANDS))
        # followers: [stem, (envelope, flash, sustain)] attack / release coefficients
        att = np.zeros((ns, 3))
        rel = np.zeros((ns, 3))
        for i, s in enumerate(STREAM_STEMS):
            p = FOLLOWER_PRESETS[s]
            for j, key in enumerate(("envelope", "flash", "sustain")):
                att[i, j] = follower_coeff(p[key][0], RATE)
                rel[i, j] = follower_coeff(p[key][1], RATE)
        # plus the tonal-distance follower at the end
        self._att = np.r_[att.ravel(), follower_coeff(TONAL_MS[0], RATE)]
        self._rel = np.r_[rel.ravel(), follower_coeff(TONAL_MS[1], RATE)]
        self._fstate = np.zeros(3 * ns + 1)
        # normalisers: energies (4 per stem), flux, brightness, flatness, novelty x2
        floors = [ENERGY_FLOOR] * (4 * ns) + [1.0] * ns + [0.25] * ns + [0.05] * ns
        floors += [0.01] * (2 * ns) + [1e-3, 0.02]
        # energies: a range at least ENERGY_REL of the mix's loud level, so leakage into a
        # source that is not playing is not stretched to full scale
        rel = np.zeros(len(floors))
        rel[: 4 * ns] = ENERGY_REL
        self._norm = _Norm(np.array(floors), rel, STREAM_STEMS.index("global"))
        self._norm_buf: list[np.ndarray] = []
        self._block_fill = 0
        self._loud = 0.0  # the mix's running loud RMS (energy_db reference)
        # transient detection state
        self._flux_hist = np.zeros((ns, 10))
        self._last_hit = np.full(ns, -(10**9))
        self._hit_strength = np.zeros(ns)
        # brightness / chroma centroid / pitch holds
        self._bright_hold = np.zeros(ns)
        self._centroid_hold = np.zeros(ns)
        self._pitch_hold = {"vocals": 0.5, "bass": 0.5}
        # novelty history: [ns, 16, 2 * max half] of the 16-band log spectra
        self._nov_len = 2 * max(NOVELTY_HALF.values())
        self._nov_hist = np.zeros((ns, 8, self._nov_len))
        self._nov_sums = np.zeros((ns, 8, len(_NOV_WIDTHS)))
        # layer entries
        self._active = np.zeros(ns, dtype=bool)
        self._last_off = np.full(ns, -(10**9))
        self._last_entry = np.full(ns, -(10**9))
        # harmony
        self._rough = (0.0, 0.0)
        self._chroma_mean = np.zeros(12)
        self._chroma_acc = np.zeros((2, 12))
        self._chroma_n = 0
        self._key_mean = np.zeros(12)
        self._bass_mean = np.zeros(12)
        self._key = ""
        self._key_candidate = ""
        self._tempo = TempoTracker()
        self._inside = np.array([np.abs(w_) > 1e-3 for w_ in self._stem_weights()], dtype=float)
        self._nonzero = self._inside.sum(axis=1)
        self._held: dict[str, tuple[np.ndarray, ...]] = {}
        self._held_shapes = {"vocals": [(), ()], "bass": [(), ()], "chroma": [(3, 12), (3, 12)]}

    @property
    def hops(self) -> int:
        return self._hops

    @property
    def key(self) -> str:
        return self._key

    @property
    def bpm(self) -> float:
        return self._tempo.bpm

    def push(self, samples: np.ndarray) -> StreamUpdate | None:
        """Mono float [n] at ``sr`` (any n; [n, channels] is averaged to mono); processes
        every complete hop. A huge push is processed in one go: its working memory grows
        with it (:func:`analyse_fast` pushes 10 s at a time)."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1) if x.shape[1] <= 8 else x.mean(axis=0)
        x = x.reshape(-1)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        buf = np.concatenate([self._pending, x]) if len(self._pending) else x
        k = len(buf) // self.hop
        if k == 0:
            self._pending = buf.copy()
            return None
        new, self._pending = buf[: k * self.hop], buf[k * self.hop :].copy()
        return self._process(new, k)

    def flush(self) -> StreamUpdate | None:
        """End of the stream: the samples short of a hop, padded with zeros to one more frame
        (None when there are none)."""
        if not len(self._pending):
            return None
        return self.push(np.zeros(self.hop - len(self._pending), dtype=np.float32))

    # -- the per-chunk work ------------------------------------------------------------------

    def _process(self, raw: np.ndarray, k: int) -> StreamUpdate:
        d = self._d
        hop = self.hop
        f0 = self._hops
        y = raw
        ends = (f0 + 1 + np.arange(k)) * hop  # input sample index (exclusive) each frame ends at
        low = self._alias.feed(y)  # sr / 8
        vocal_frames = self._vocal.frames(low, -(-ends // VOCAL_DECIM))
        bass_frames = self._bass.frames(low, -(-ends // (VOCAL_DECIM * BASS_DECIM)))
        buf = np.concatenate([self._hist, y])
        frames = np.lib.stride_tricks.as_strided(
            buf[hop:], shape=(k, N_FFT), strides=(hop * buf.strides[0], buf.strides[0])
        )
        # DC: each frame loses its own mean (causal; a constant or slow offset never reaches
        # the spectrum); the pitch path has a one-pole high-pass instead
        frames = (frames - frames.mean(axis=1, keepdims=True)) * d["window"]
        self._hist = buf[-N_FFT:].copy()
        spec = sfft.rfft(frames, axis=1)
        power = np.square(spec.real) + np.square(spec.imag)  # [k, bins]
        # harmonic / percussive cue per band
        band_pow = _band_sum(power, d)  # [k, B]
        mag = np.sqrt(band_pow).T.astype(np.float32)  # [B, k]
        hist = np.concatenate([self._mag_hist, mag], axis=1)
        harm = sliding_window_view(hist, HARM_FRAMES, axis=1).min(axis=2)  # [B, k]
        self._mag_hist = hist[:, -(HARM_FRAMES - 1) :]
        hp = np.square(harm, dtype=np.float64)
        bp = band_pow.T.astype(np.float64)
        pp = np.maximum(bp - hp, 0.0)
        # pitch confidence of the vocal band (sets the vocals / other split)
        low_sr = self.sr / VOCAL_DECIM
        due = np.flatnonzero((f0 + np.arange(k)) % PITCH_STEP == 0)
        v_hz, v_conf = self._every(
            "vocals", due, k, lambda: _yin(vocal_frames[due], low_sr, *PITCH_STEMS["vocals"])
        )
        b_hz, b_conf = self._every(
            "bass",
            due,
            k,
            lambda: _yin(bass_frames[due], low_sr / BASS_DECIM, *PITCH_STEMS["bass"]),
        )
        w = d["w"]
        src = np.empty((len(STREAM_STEMS), N_BANDS, k))
        mid_h = hp * w["mid"][:, None]
        vc = v_conf[None, :]
        src[0] = hp * w["low"][:, None]
        src[1] = pp
        src[2] = mid_h * vc
        src[3] = mid_h * (1 - vc) + hp * w["high"][:, None]
        src[4] = pp * w["drums_low"][:, None]
        src[5] = pp * w["drums_mid"][:, None]
        src[6] = pp * w["drums_high"][:, None]
        src[7] = mid_h * (1 - vc)
        src[8] = hp * w["high"][:, None]
        src[9] = bp
        src *= d["scale"]
        energy = np.sqrt(src.sum(axis=1))  # [ns, k] RMS
        # chroma: harmonic and percussive fine power (band fraction applied per bin region)
        hfrac = np.clip(hp / np.maximum(bp, 1e-30), 0.0, 1.0)  # [B, k]
        chH, chP = self._every(
            "chroma", due, k, lambda: _chroma_peaks(power[due], hfrac[:, due], d)
        )
        ch_all = chH + chP
        chroma = np.stack(
            [
                chH[0],
                chP.sum(axis=0),
                chH[1],
                chH[1] + chH[2],
                chP[0],
                chP[1],
                chP[2],
                chH[1],
                chH[2],
                ch_all.sum(axis=0),
            ]
        )  # [ns, 12, k]
        chroma = chroma / np.maximum(chroma.max(axis=1, keepdims=True), 1e-20)

        # spectral shape on the bands
        tot = np.maximum(src.sum(axis=1), 1e-30)
        cent = (d["log_c"][None, :, None] * src).sum(axis=1) / tot  # log2 Hz
        logs = np.log(np.maximum(src, 1e-20))
        # flatness over each source's own bands (geometric / arithmetic mean of band power)
        inside, nonzero = self._inside, self._nonzero
        geo = np.einsum("sb,sbk->sk", inside, logs) / nonzero[:, None]
        flat = np.exp(geo - np.log(tot / nonzero[:, None]))
        flat = np.clip(flat, 0, 1)
        logb = np.maximum(logs * (10.0 / math.log(10.0)), -100.0)  # dB per band
        prev = np.concatenate([self._prev_logb[:, :, None], logb[:, :, :-1]], axis=2)
        self._prev_logb = logb[:, :, -1].copy()
        flux = np.maximum(logb - prev, 0.0).mean(axis=1)  # [ns, k] dB
        mix_rms = energy[9]
        gate = mix_rms > SILENCE_RMS
        flux = np.where(gate[None, :], flux, 0.0)

        # tempo: onsets of the mix
        beats = self._tempo.process(flux[9], gate)

        # harmonic chroma (distributions) -> tonal distance; running key
        ph = chH.sum(axis=0)
        ph = ph / np.maximum(ph.sum(axis=0, keepdims=True), 1e-20)
        # the bass line's pitch class (YIN) where voiced: relative keys differ in their root
        b_pc = np.round(12 * np.log2(np.maximum(b_hz, 1.0) / 440.0) + 9).astype(np.int64) % 12
        pb = np.zeros((12, k))
        pb[b_pc, np.arange(k)] = b_conf > 0.5
        dist = self._chroma_block(ph, pb, energy[9] * gate, f0)
        # followers on the RMS (and the tonal distance)
        fol = self._followers(np.vstack([np.repeat(energy, 3, axis=0), dist[None]]))
        td = np.clip(fol[-1], 0.0, 1.0)
        fol = fol[:-1]  # [3 ns, k]
        # novelty features: 16 groups of 3 bands, log scaled 0..1 (70 dB range)
        feats = (logb.reshape(len(STREAM_STEMS), 8, 6, k).mean(axis=2) + 70.0) / 70.0
        nov = self._novelty(np.clip(feats, 0, None))  # [2, ns, k]
        # harmony every HARMONY_STEP frames
        rough, ent = self._harmony(power, hfrac, hp, d, f0, k)
        raw = np.concatenate(
            [energy, fol, flux, cent, flat, nov[0], nov[1], rough[None], ent[None]], axis=0
        )
        normed = self._normalise(raw, gate)
        ns = len(STREAM_STEMS)
        e_n = normed[:ns]
        fol_n = normed[ns : 4 * ns].reshape(ns, 3, k)
        flux_n = normed[4 * ns : 5 * ns]
        bright_n = normed[5 * ns : 6 * ns]
        flat_n = normed[6 * ns : 7 * ns]
        nov_n = normed[7 * ns : 9 * ns].reshape(2, ns, k)
        rough_n, ent_n = normed[9 * ns], normed[9 * ns + 1]

        loud_ref = np.maximum(self._loud_track(mix_rms, gate), LOUD_MIN)
        present = (energy > ENERGY_FLOOR) & (energy > loud_ref[None, :] * 10 ** (-40 / 20))
        out = np.zeros((len(self.names), k), dtype=np.float32)
        trans = self._transients(flux_n, f0)
        base = self._base  # [ns] row of each source's "envelope"
        out[base] = e_n
        for j in range(3):
            out[base + 1 + j] = fol_n[:, j]
        out[base + 4] = flux_n
        out[base + 5] = trans
        out[base + 6] = _hold(bright_n, present, self._bright_hold)
        out[base + 7] = np.where(present, flat_n, 0.0)
        ch = chroma * present[:, None, :]  # [ns, 12, k]
        out[base[:, None] + 8 + np.arange(12)[None, :]] = ch
        cx = np.einsum("c,sck->sk", _COS12, ch)
        cy = np.einsum("c,sck->sk", _SIN12, ch)
        pos = np.mod(np.arctan2(cy, cx) / (2 * np.pi), 1.0)
        ok = present & (np.hypot(cx, cy) > 1e-6)
        out[base + 20] = _hold(pos, ok, self._centroid_hold)
        db = 20 * np.log10(np.maximum(energy, 1e-12) / loud_ref[None, :])
        out[base + 21] = (np.clip(db, -40.0, 0.0) + 40.0) / 40.0
        out[base + 22] = nov_n[0]
        out[base + 23] = nov_n[1]
        out[base + 24], entries = self._layer_entries(fol_n[:, 0], f0)
        for stem, hz, conf in (("vocals", v_hz, v_conf), ("bass", b_hz, b_conf)):
            i = STREAM_STEMS.index(stem)
            conf = np.where(present[i], conf, 0.0)
            out[base[i] + 25] = conf
            out[base[i] + 26] = self._pitch_norm(stem, hz, conf > 0.5)
        gate_t = np.clip(e_n[9] / 0.2, 0.0, 1.0)
        j = self._index["tension.value"]
        out[j] = (0.6 * rough_n + 0.4 * ent_n) * gate_t
        out[j + 1] = rough_n
        out[j + 2] = ent_n
        out[j + 3] = td
        self._hops += k
        t = self._tempo
        return StreamUpdate(
            start=f0,
            values=np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0),
            beats=np.asarray(beats, dtype=np.float64),
            bpm=float(t.bpm),
            next_beat=float(t.next_beat),
            key=self._key,
            layer_entries=entries,
        )

    def _stem_weights(self) -> list[np.ndarray]:
        w = self._d["w"]
        one = np.ones(N_BANDS)
        return [
            w["low"],
            one,
            w["mid"],
            w["mid"] + w["high"],
            w["drums_low"],
            w["drums_mid"],
            w["drums_high"],
            w["mid"],
            w["high"],
            one,
        ]

    def _followers(self, x: np.ndarray) -> np.ndarray:
        s = self._fstate
        att, rel = self._att, self._rel
        out = np.empty_like(x)
        for i in range(x.shape[1]):
            v = x[:, i]
            s = s + np.where(v > s, att, rel) * (v - s)
            out[:, i] = s
        self._fstate = s
        return out

    def _loud_track(self, mix_rms: np.ndarray, gate: np.ndarray) -> np.ndarray:
        """The mix's running loud level per frame: jumps up, decays with a 30 s constant,
        holds through silence (so the first sound after it is not "loud" by default)."""
        out = np.empty(len(mix_rms))
        dec = math.exp(-1.0 / (LOUD_TAU_S * RATE))
        loud = self._loud
        for i, (v, g) in enumerate(zip(mix_rms.tolist(), gate.tolist(), strict=True)):
            if g:
                loud = v if v > loud else loud * dec
            out[i] = loud
        self._loud = loud
        return out

    def _normalise(self, raw: np.ndarray, gate: np.ndarray) -> np.ndarray:
        """Normalise raw [n_sig, k] with the ranges of the blocks before each frame."""
        out = np.empty_like(raw)
        k = raw.shape[1]
        i = 0
        while i < k:
            j = min(k, i + NORM_BLOCK - self._block_fill)
            out[:, i:j] = self._norm.apply(raw[:, i:j])
            g = gate[i:j]
            if g.any():
                self._norm_buf.append(raw[:, i:j][:, g])
            self._block_fill += j - i
            if self._block_fill >= NORM_BLOCK:
                if self._norm_buf:
                    self._norm.update(np.concatenate(self._norm_buf, axis=1), NORM_BLOCK / RATE)
                self._norm_buf = []
                self._block_fill = 0
            i = j
        return out

    def _transients(self, flux_n: np.ndarray, f0: int) -> np.ndarray:
        """Causal hits: the normalised flux jumps above its recent mean by 0.1 + half the
        recent mean, at least 50 ms after the last hit; rendered as decaying pulses."""
        ns, k = flux_n.shape
        hist = np.concatenate([self._flux_hist, flux_n], axis=1)
        self._flux_hist = hist[:, -10:]
        cs = np.cumsum(hist, axis=1)
        prior = np.concatenate([cs[:, 9:10], cs[:, 10:-1] - cs[:, : k - 1]], axis=1)
        mean = prior / 10.0  # mean of the 10 frames before each new one [ns, k]
        cand = flux_n > mean * 1.5 + 0.1
        tau = TRANSIENT_TAU_S * RATE
        hit_at = np.repeat(self._last_hit[:, None], k, axis=1)
        hit_s = np.repeat(self._hit_strength[:, None], k, axis=1)
        for s in np.flatnonzero(cand.any(axis=1)):
            last, strength = self._last_hit[s], self._hit_strength[s]
            for i in np.flatnonzero(cand[s]):
                if f0 + i - last >= 5:
                    last, strength = f0 + i, float(flux_n[s, i])
                    hit_at[s, i:] = last
                    hit_s[s, i:] = strength
            self._last_hit[s], self._hit_strength[s] = last, strength
        age = (f0 + np.arange(k)[None, :] - hit_at).astype(np.float64)
        return (hit_s * np.exp(-np.minimum(age, 1e4) / tau)).astype(np.float32)

    def _every(self, name: str, due: np.ndarray, k: int, compute) -> tuple[np.ndarray, ...]:
        """Arrays computed on the ``due`` frames only (last axis), held to the other frames;
        the last value is carried to the next chunk."""
        held = self._held.get(name)
        if len(due):
            vals = compute()
            if held is None:
                held = tuple(np.zeros(v.shape[:-1]) for v in vals)
            pos = np.searchsorted(due, np.arange(k), side="right") - 1
            out = tuple(
                np.where(pos >= 0, v[..., np.maximum(pos, 0)], h[..., None])
                for v, h in zip(vals, held, strict=True)
            )
        elif held is None:
            return tuple(np.zeros((*s, k)) for s in self._held_shapes[name])
        else:
            out = tuple(np.repeat(h[..., None], k, axis=-1) for h in held)
        self._held[name] = tuple(o[..., -1].copy() for o in out)
        return out

    def _novelty(self, feats: np.ndarray) -> np.ndarray:
        """Contrast of the mean features [ns, nb, k] over the last ``h`` frames against the
        ``h`` before, for each half window ``h`` -> [2, ns, k]; by running window sums."""
        ns, nb, k = feats.shape
        hist = np.concatenate([self._nov_hist, feats], axis=2)
        self._nov_hist = hist[:, :, -self._nov_len :]
        # running sums over the last w frames, for w in _NOV_WIDTHS: [4, ns, nb, k]
        start = self._nov_len - _NOV_WIDTHS
        old = hist[:, :, start[:, None] + np.arange(k)[None, :]]  # [ns, nb, 4, k]
        diff = feats[:, :, None, :] - old
        run = self._nov_sums[:, :, :, None] + np.cumsum(diff, axis=3)
        self._nov_sums = run[:, :, :, -1]
        out = np.empty((2, ns, k))
        for j, half in enumerate(NOVELTY_HALF.values()):
            recent = run[:, :, 2 * j] / half
            before = (run[:, :, 2 * j + 1] - run[:, :, 2 * j]) / half
            out[j] = np.sqrt(np.mean(np.square(recent - before), axis=1))
        return out

    def _layer_entries(self, es: np.ndarray, f0: int) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """``layer_entry`` pulses [ns, k] and the entries (stem, s) from ``energy_smooth``."""
        entries: list[tuple[str, float]] = []
        # only sources that cross a threshold in this chunk run the state machine
        turns = np.where(self._active, (es < ENTRY_OFF).any(axis=1), (es > ENTRY_ON).any(axis=1))
        lasts = np.repeat(self._last_entry[:, None], es.shape[1], axis=1)
        for i in np.flatnonzero(turns):
            lasts[i], times = self._layer_entry(i, es[i], f0)
            entries += [(STREAM_STEMS[i], t) for t in times]
        age = (f0 + np.arange(es.shape[1])[None, :] - lasts).astype(np.float64)
        pulse = np.exp(-np.minimum(age, 1e4) / (ENTRY_TAU_S * RATE))
        return pulse.astype(np.float32), entries

    def _layer_entry(self, i: int, es: np.ndarray, f0: int) -> tuple[np.ndarray, list[float]]:
        """The hysteresis state machine of one source -> (latest entry frame per frame, times)."""
        quiet = ENTRY_QUIET_S * RATE
        on_idx = np.flatnonzero(es > ENTRY_ON)
        off_idx = np.flatnonzero(es < ENTRY_OFF)
        k = len(es)
        last = np.full(k, self._last_entry[i], dtype=np.int64)
        pos = 0
        times = []
        while pos < k:
            if not self._active[i]:
                j = np.searchsorted(on_idx, pos)
                if j >= len(on_idx):
                    break
                pos = int(on_idx[j])
                self._active[i] = True
                if f0 + pos - self._last_off[i] >= quiet:
                    self._last_entry[i] = f0 + pos
                    last[pos:] = f0 + pos
                    times.append((f0 + pos) / RATE)
            else:
                j = np.searchsorted(off_idx, pos)
                if j >= len(off_idx):
                    break
                pos = int(off_idx[j])
                self._active[i] = False
                self._last_off[i] = f0 + pos
        return last, times

    def _pitch_norm(self, stem: str, hz: np.ndarray, voiced: np.ndarray) -> np.ndarray:
        lo, hi = PITCH_NORM_HZ
        norm = np.clip(np.log(np.maximum(hz, 1e-3) / lo) / math.log(hi / lo), 0.0, 1.0)
        idx = np.where(voiced, np.arange(len(hz)), -1)
        np.maximum.accumulate(idx, out=idx)
        out = np.where(idx >= 0, norm[np.maximum(idx, 0)], self._pitch_hold[stem])
        if len(out):
            self._pitch_hold[stem] = float(out[-1])
        return out

    def _harmony(
        self, power: np.ndarray, hfrac: np.ndarray, hp: np.ndarray, d: dict, f0: int, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw roughness and entropy of the harmonic spectrum every HARMONY_STEP frames, held."""
        rough = np.empty(k)
        ent = np.empty(k)
        due = np.flatnonzero((f0 + np.arange(k)) % HARMONY_STEP == 0)
        r_prev, e_prev = self._rough
        if len(due):
            lo, hi = d["rough"]
            band_of = np.maximum(d["band_of"], 0)  # band of each bin
            hf = hfrac[band_of[lo:hi]][:, due]  # [bins, m]
            m = np.sqrt(power[due, lo:hi].T * hf)  # harmonic magnitude
            r_vals = _roughness(m, d["freqs"][lo:hi])
            bandsH = hp[:, due]
            p = bandsH / np.maximum(bandsH.sum(axis=0, keepdims=True), 1e-30)
            e_vals = -(p * np.log(np.maximum(p, 1e-30))).sum(axis=0) / math.log(N_BANDS)
        j = 0
        for i in range(k):
            if j < len(due) and due[j] == i:
                r_prev, e_prev = float(r_vals[j]), float(e_vals[j])
                j += 1
            rough[i], ent[i] = r_prev, e_prev
        self._rough = (r_prev, e_prev)
        return rough, ent

    def _chroma_block(
        self, p: np.ndarray, q: np.ndarray, weight: np.ndarray, f0: int
    ) -> np.ndarray:
        """Per frame: JS distance of the harmonic chroma ``p`` [12, k] (distributions) from its
        running mean (the mean as of the end of the previous :data:`NORM_BLOCK`-frame block);
        updates the running means (tonal reference, key, bass) at block ends and the key every
        :data:`KEY_STEP` frames."""
        k = p.shape[1]
        dist = np.zeros(k)
        w = weight > 0
        i = 0
        while i < k:
            j = min(k, i + NORM_BLOCK - (f0 + i) % NORM_BLOCK)
            if self._chroma_mean.sum() > 0:
                dist[i:j] = np.where(w[i:j], js_distance(p[:, i:j], self._chroma_mean), 0.0)
            acc = self._chroma_acc
            acc[0] += p[:, i:j] @ w[i:j]
            acc[1] += q[:, i:j] @ w[i:j]
            self._chroma_n += int(w[i:j].sum())
            if (f0 + j) % NORM_BLOCK == 0 and self._chroma_n > 0:
                nw = self._chroma_n
                for mean, tot, tau in (
                    (self._chroma_mean, acc[0], CHROMA_TAU_S),
                    (self._key_mean, acc[0], KEY_TAU_S),
                    (self._bass_mean, acc[1], KEY_TAU_S),
                ):
                    a = 1.0 - math.exp(-nw / (tau * RATE))
                    if mean.sum() <= 0:
                        mean[:] = tot / nw
                    else:
                        mean += a * (tot / nw - mean)
                acc[:] = 0.0
                self._chroma_n = 0
            if (f0 + j) % KEY_STEP == 0 and self._key_mean.sum() > 0:
                key = _key_of(self._key_mean, self._bass_mean, self._key)
                if key == self._key:
                    self._key_candidate = ""
                elif not self._key or key == self._key_candidate:
                    self._key, self._key_candidate = key, ""
                else:
                    self._key_candidate = key
            i = j
        return dist


_COS12 = np.cos(2 * np.pi * np.arange(12) / 12.0)
_SIN12 = np.sin(2 * np.pi * np.arange(12) / 12.0)
_KEY_NAMES = [f"{PITCH_CLASSES[t]} {m}" for m in ("major", "minor") for t in range(12)]
_PROFILES = np.array(
    [np.roll(prof, t) for prof in (KK_MAJOR, KK_MINOR) for t in range(12)], dtype=np.float64
)
_PROFILES = (_PROFILES - _PROFILES.mean(axis=1, keepdims=True)) / _PROFILES.std(
    axis=1, keepdims=True
)


def _corr(mean: np.ndarray) -> np.ndarray:
    m = np.asarray(mean, dtype=np.float64)
    sd = m.std()
    if sd <= 1e-12:
        return np.zeros(24)
    return _PROFILES @ ((m - m.mean()) / sd) / 12.0


def _key_of(mean: np.ndarray, bass: np.ndarray, current: str = "") -> str:
    """Krumhansl-Schmuckler as :func:`hambajuba_tui.audio.harmony.key_of` (vectorised); the
    ``current`` key wins unless another scores :data:`KEY_MARGIN` more."""
    score = _corr(mean) + _corr(bass)
    if not np.any(score):
        return ""
    if current in _KEY_NAMES:
        score[_KEY_NAMES.index(current)] += KEY_MARGIN
    return _KEY_NAMES[int(np.argmax(score))]


def _roughness(mag: np.ndarray, freqs: np.ndarray, n_peaks: int = 20) -> np.ndarray:
    """Roughness per column of a magnitude spectrogram [bins, m] (as harmony.roughness_frames,
    without the sub-bin peak interpolation)."""
    peak = np.zeros(mag.shape, dtype=bool)
    peak[1:-1] = (mag[1:-1] > mag[:-2]) & (mag[1:-1] >= mag[2:])
    amp = np.where(peak, mag, 0.0).T
    kk = min(n_peaks, amp.shape[1])
    if kk < 2 or amp.shape[0] == 0:
        return np.zeros(mag.shape[1])
    idx = np.argpartition(-amp, kk - 1, axis=1)[:, :kk]
    a = np.take_along_axis(amp, idx, axis=1).astype(np.float64)
    fk = freqs[idx]
    dd = dissonance(fk[:, :, None], fk[:, None, :], a[:, :, None], a[:, None, :])
    return dd.sum(axis=(1, 2)) / 2.0 / np.maximum(np.square(a).sum(axis=1), 1e-20)


@dataclass
class FastPass:
    """What :func:`analyse_fast` returns beside the values."""

    names: tuple[str, ...]
    beats: np.ndarray
    """float64 [m]: every beat emitted (s)."""
    bpm: float
    """The final tempo estimate."""
    keys: list[tuple[float, str]]
    """(time s, key) whenever the running key changed."""
    layer_entries: list[tuple[str, float]]


def analyse_fast(
    samples: np.ndarray, sr: int, chunk_s: float = 10.0
) -> tuple[np.ndarray, FastPass]:
    """The whole-file fast pass: one :class:`StreamingAnalyser` pushed ``chunk_s`` s at a time.

    ``samples``: mono float [n] (or [n, channels], averaged) at ``sr``. Returns (values
    float32 [len(names), n // hop], :class:`FastPass`: names, every beat, the final BPM, the
    keys over time, the layer entries). Memory beyond the output is one chunk's worth
    (~60 MB at 10 s); the values equal a block-by-block pass (within float tolerance; the
    tests compare them).
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] <= 8 else x.mean(axis=0)
    an = StreamingAnalyser(sr)
    hop = an.hop
    n = len(x) // hop
    out = np.zeros((len(an.names), n), dtype=np.float32)
    beats: list[np.ndarray] = []
    keys: list[tuple[float, str]] = []
    entries: list[tuple[str, float]] = []
    step = max(hop, int(chunk_s * sr) // hop * hop)
    for s in range(0, len(x), step):
        u = an.push(x[s : s + step])
        if u is None:
            continue
        out[:, u.start : u.start + u.values.shape[1]] = u.values
        beats.append(u.beats)
        entries += u.layer_entries
        if u.key and (not keys or keys[-1][1] != u.key):
            keys.append(((u.start + u.values.shape[1]) / RATE, u.key))
    all_beats = np.concatenate(beats) if beats else np.zeros(0)
    return out, FastPass(an.names, all_beats, an.bpm, keys, entries)
