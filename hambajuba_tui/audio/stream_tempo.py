"""Online tempo and beat tracking that predicts the next beat (numpy only, causal).

Input: one onset-strength value per 100 Hz grid frame (the mix's positive log-band flux) and a
"music present" gate per frame. Every :data:`UPDATE_FRAMES` frames the tracker looks back over
the onset envelope:

1. Tempo candidates: the :data:`N_CANDIDATES` strongest peaks (60-180 BPM) of the
   autocorrelation of the last :data:`AC_SECONDS` s, weighted by a log-normal prior around
   :data:`PRIOR_BPM` and a :data:`CONTINUITY` bonus near the current tempo. The octave is the
   autocorrelation's call: a peak an octave from a stronger one is dropped, and so is the
   current tempo when it is an octave from the top candidate (a comb alone prefers half the
   tempo whenever beats 2 and 4 are the loud ones).
2. A joint search of period (+-4 % around each candidate) and phase: a comb of teeth one
   period apart over the last :data:`COMB_SECONDS` s, recent teeth weighted most
   (``exp(-k / COMB_TAU_BEATS)``), scored on the lightly smoothed onset envelope; the best
   score x prior x continuity wins (so a new tempo takes over after about three of its beats).
3. The next beat = the newest tooth + one period, shifted by :data:`LAG_S` (the detector's
   latency). Beats are emitted as predictions when the audio clock reaches them, one period
   apart, until the next update refines the grid (never twice within half a period).

During silence (gate off for :data:`SILENCE_S`) no beats are emitted and the phase is dropped;
the tempo is kept as a prior. When music returns, the comb looks only at onsets since the return,
so the phase locks after two or three hits.
"""

from __future__ import annotations

import math

import numpy as np

RATE = 100.0
BPM_LO, BPM_HI = 60.0, 180.0
UPDATE_FRAMES = 25
AC_SECONDS = 4.0
COMB_SECONDS = 4.0
COMB_TAU_BEATS = 4.0
PRIOR_BPM = 116.0
PRIOR_OCTAVES = 1.0
N_CANDIDATES = 3
CONTINUITY = 1.15
"""Score bonus for a tempo within 4 % of the current one."""
AC_EVERY = 1
"""Tempo candidates by autocorrelation every this many updates (the comb runs every update)."""
HISTORY = int(8 * RATE)
MIN_MUSIC_S = 0.6
"""Onsets needed (seconds of music since the last silence) before a phase is guessed."""
SILENCE_S = 0.5
LAG_S = 0.0
"""Detector latency subtracted from tooth times. Zero: the log-band flux jumps at the first
frame whose window holds the hit (frame ``i`` holds audio up to ``(i + 1) / 100`` s), and the
predicted beats of the synthesised songs land 0-6 ms from the true ones (median, signed)."""


def _prior(period: np.ndarray | float) -> np.ndarray | float:
    """Log-normal tempo prior (periods in frames)."""
    bpm = 60 * RATE / np.asarray(period)
    return np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)


def _octave(a: float, b: float) -> bool:
    """Whether two periods are an octave apart (within 5 %)."""
    return abs(abs(math.log2(a / b)) - 1.0) < 0.07


class TempoTracker:
    """Feed per-frame onset strength with :meth:`process`; get due beats back."""

    def __init__(self) -> None:
        self.hist = np.zeros(HISTORY, dtype=np.float64)
        self.frames = 0  # frames seen
        self.period = 0.0  # frames per beat (0: none yet)
        self.next_beat = math.nan  # seconds
        self.last_emitted = -math.inf
        self.music_since = -1  # frame where the current stretch of music began (-1: silent)
        self.silent_run = 0

    @property
    def bpm(self) -> float:
        return 60.0 * RATE / self.period if self.period > 0 else 0.0

    def process(self, onset: np.ndarray, gate: np.ndarray) -> list[float]:
        """Onset strength float [k] and gate bool [k] for the next k frames -> due beats (s)."""
        beats: list[float] = []
        k = len(onset)
        i = 0
        while i < k:
            f0 = self.frames
            upto = UPDATE_FRAMES - (f0 % UPDATE_FRAMES)
            j = min(k, i + upto)
            seg, g = onset[i:j], gate[i:j]
            n = j - i
            self.hist = np.roll(self.hist, -n) if n < HISTORY else self.hist
            self.hist[-n:] = seg[-HISTORY:]
            for off in range(n):  # music / silence bookkeeping (cheap: n <= 25)
                if g[off]:
                    self.silent_run = 0
                    if self.music_since < 0:
                        self.music_since = f0 + off
                else:
                    self.silent_run += 1
                    if self.silent_run >= SILENCE_S * RATE:
                        self.music_since = -1
            self.frames += n
            self._emit(beats, f0, g)
            if self.frames % UPDATE_FRAMES == 0:
                self._update()
            i = j
        return beats

    def _emit(self, beats: list[float], f0: int, gate: np.ndarray) -> None:
        """Emit every predicted beat due before the end of this stretch of frames."""
        if self.music_since < 0:
            self.next_beat = math.nan
            return
        end = self.frames / RATE
        while self.period > 0 and np.isfinite(self.next_beat) and self.next_beat < end:
            t = self.next_beat
            fi = int(t * RATE) - f0
            if fi < 0 or (fi < len(gate) and gate[fi]):  # no beats on silent frames
                beats.append(t)
                self.last_emitted = t
            self.next_beat = t + self.period / RATE

    def _update(self) -> None:
        if self.music_since < 0:
            return
        avail = self.frames - self.music_since
        if avail < MIN_MUSIC_S * RATE:
            return
        o = self.hist
        # light smoothing tolerates rounding of tooth positions
        s = np.convolve(o, [0.25, 0.5, 0.25], mode="same")
        s[-1] = 0.5 * (o[-1] + o[-2])
        window = min(avail, HISTORY)
        candidates = []
        if avail >= 2.5 * RATE and (self.frames // UPDATE_FRAMES) % AC_EVERY == 0:
            candidates = self._ac_candidates(o[-min(window, int(AC_SECONDS * RATE)) :])
        # the octave is the autocorrelation's call (with the prior): the current tempo only
        # competes when it is not an octave of the top candidate
        if self.period > 0 and not (candidates and _octave(candidates[0], self.period)):
            candidates.append(self.period)
        if not candidates:
            return
        best = (-math.inf, 0.0, 0.0)
        best_w = -math.inf
        for p0 in candidates:
            r = self._comb(s, p0, window)
            weighted = r[0] * _prior(r[1])
            if self.period > 0 and abs(math.log(r[1] / self.period)) < 0.04:
                weighted *= CONTINUITY
            if weighted > best_w:
                best, best_w = r, weighted
        score, period, tooth = best
        if period <= 0 or score <= 0:
            return
        self.period = period
        # tooth: frame offset from the end of history (0 = newest frame) of the newest beat
        now = self.frames / RATE
        last = (self.frames - 1 - tooth) / RATE - LAG_S
        nxt = last + period / RATE
        while nxt < now:
            nxt += period / RATE
        if nxt - self.last_emitted < 0.5 * period / RATE:
            nxt += period / RATE
        self.next_beat = nxt

    def _ac_candidates(self, o: np.ndarray) -> list[float]:
        x = o - o.mean()
        n = len(x)
        spec = np.fft.rfft(x, 2 * n)
        ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
        if ac[0] <= 0:
            return []
        ac /= ac[0] * (n - np.arange(n)) / n  # unbiased
        lo = int(math.floor(60 * RATE / BPM_HI))
        hi = min(int(math.ceil(60 * RATE / BPM_LO)), n // 2)
        lags = np.arange(lo, hi + 1)
        score = np.maximum(ac[lags], 0) * _prior(lags.astype(np.float64))
        if self.period > 0:  # continuity: favour the current tempo's neighbourhood
            near = np.abs(np.log(lags / self.period)) < 0.04
            score = np.where(near, score * CONTINUITY, score)
        # the strongest few local maxima, each refined by a parabola through its neighbours
        peak = np.zeros(len(score), dtype=bool)
        peak[1:-1] = (score[1:-1] > score[:-2]) & (score[1:-1] >= score[2:]) & (score[1:-1] > 0)
        idx = np.flatnonzero(peak)
        idx = idx[np.argsort(-score[idx])]
        out: list[float] = []
        for i in idx:
            if len(out) >= N_CANDIDATES:
                break
            if any(_octave(lags[i], o) for o in out):
                continue
            lag = float(lags[i])
            a, b, c = ac[lags[i] - 1], ac[lags[i]], ac[lags[i] + 1]
            den = a - 2 * b + c
            if abs(den) > 1e-12:
                lag += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
            out.append(lag)
        return out

    def _comb(self, s: np.ndarray, p0: float, window: int) -> tuple[float, float, float]:
        """Best (score, period, tooth offset) near period ``p0`` over the last ``window``
        frames of the smoothed envelope ``s``."""
        periods = p0 * (1.0 + np.linspace(-0.04, 0.04, 11))
        periods = periods[(periods >= 60 * RATE / BPM_HI) & (periods <= 60 * RATE / BPM_LO)]
        if len(periods) == 0:
            return (-math.inf, 0.0, 0.0)
        n_teeth = max(1, int(min(window, COMB_SECONDS * RATE) / p0))
        k = np.arange(n_teeth)
        w = np.exp(-k / COMB_TAU_BEATS)
        phases = np.arange(int(math.ceil(periods.max())))
        # idx[p, phase, tooth] = offset back from the newest frame
        off = phases[None, :, None] + periods[:, None, None] * k[None, None, :]
        idx = np.minimum(np.rint(off).astype(np.int64), window)
        back = np.append(s[::-1][:window], 0.0)  # back[i] = i frames ago; 0 past the window
        score = back[idx] @ w / w.sum()
        # a phase is only valid inside one period
        score = np.where(phases[None, :] < periods[:, None], score, -math.inf)
        pi, ph = np.unravel_index(int(np.argmax(score)), score.shape)
        return float(score[pi, ph]), float(periods[pi]), float(ph)
