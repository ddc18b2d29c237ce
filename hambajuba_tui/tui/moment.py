"""What the creature does at one media time: a pure function of the Analysis and the clock.

The app samples at the *displayed* time; tests sample at any time they like. Drops (eyes
wide) are layer entries (``Analysis.events["<stem>.layer_entry"]``) and peaks of the mid and
long novelty; blinks follow ``Analysis.beats``; the heart's frame swells on each beat.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.bridge.sampler import Sampler
from hambajuba_tui.tui.face import Expression, expression_at

WIDE_S = 0.8
"""Eyes stay wide this long after a drop."""
NOVELTY_PEAK = 0.6
"""A novelty peak at least this high (signals are 0..1) counts as a drop."""
NOVELTY_GAP_S = 2.0
"""Novelty peaks closer than this are one drop."""
PULSE_STEPS = 4
"""The frame's swell is quantised to this many levels, so it repaints a few times a beat."""


@dataclass(frozen=True)
class Moment:
    expression: Expression
    pulse: float
    """The heart frame's swell, 0 (rest) .. 1 (on the beat)."""
    beat_phase: float
    """0..1 inside the current beat (tendril beads travel with it)."""
    activity: tuple[float, ...]
    """Per orb 0..1: its stem's smoothed energy."""
    flutter: tuple[bool, ...]
    key: str


def drop_times(analysis: Analysis) -> np.ndarray:
    """Sorted times (s) of drops: every stem's layer entries and novelty peaks."""
    from scipy.signal import find_peaks

    times = [
        np.asarray(v, np.float64).ravel()
        for k, v in analysis.events.items()
        if k.endswith(".layer_entry")
    ]
    for name in ("global.novelty_mid", "global.novelty_long"):
        if name in analysis.signals:
            x = np.asarray(analysis.signals[name], np.float64)
            peaks, _ = find_peaks(
                x, height=NOVELTY_PEAK, distance=max(1, int(NOVELTY_GAP_S * analysis.rate))
            )
            times.append(peaks / analysis.rate)
    out = np.sort(np.concatenate(times)) if times else np.zeros(0)
    return out[np.isfinite(out)]


def key_at(analysis: Analysis, t: float) -> str:
    """The key at ``t`` from ``Analysis.keys`` (start s, key), else the song's key."""
    keys = analysis.keys
    if not keys:
        return analysis.key
    i = bisect.bisect_right([s for s, _ in keys], t) - 1
    return keys[max(i, 0)][1]


class CreatureClock:
    """Samples the Analysis for the face, heart frame and orbs (cheap per display tick)."""

    def __init__(self, analysis: Analysis, pulse_s: float = 0.25) -> None:
        self.analysis = analysis
        self.sampler = Sampler(analysis)
        self.streaming = bool(getattr(analysis, "streaming", False))
        self.drops = np.zeros(0) if self.streaming else drop_times(analysis)
        self.pulse_s = pulse_s
        self._novelty_key = (
            "global.novelty_mid" if "global.novelty_mid" in analysis.signals else None
        )
        self._novelty_drop = -math.inf
        self._novelty_high = False

    def since_drop(self, t: float) -> float:
        """Seconds since the last drop at or before ``t`` (inf when none)."""
        if self.streaming:
            return t - max(self.analysis.last_entry_before(t), self._stream_novelty(t))
        i = int(np.searchsorted(self.drops, t, side="right")) - 1
        return t - float(self.drops[i]) if i >= 0 else math.inf

    def _stream_novelty(self, t: float) -> float:
        """Streaming: the time the mid novelty last rose through a peak (as the offline peaks)."""
        if self._novelty_key is None:
            return -math.inf
        high = self.analysis.sample(self._novelty_key, t) >= NOVELTY_PEAK
        if high and not self._novelty_high and t - self._novelty_drop >= NOVELTY_GAP_S:
            self._novelty_drop = t
        self._novelty_high = high
        return self._novelty_drop

    def at(self, t: float, playing: bool, sources: list[str]) -> Moment:
        a = self.analysis
        beat_i, phase = a.beat_phase(t)
        since_beat = t - a.beat_time(beat_i) if beat_i >= 0 else -1.0
        if not math.isfinite(since_beat):
            since_beat = -1.0
        since_drop = self.since_drop(t)
        drop = 1.0 if 0.0 <= since_drop < WIDE_S else 0.0
        vocals = self.sampler.at(self.sampler.level_key("vocals"), t)
        pulse = 0.0
        if playing and since_beat >= 0.0:
            swell = max(0.0, 1.0 - since_beat / self.pulse_s)  # gone after pulse_s
            pulse = round(swell * PULSE_STEPS) / PULSE_STEPS
        activity, flutter = [], []
        for source in sources:
            level = self.sampler.at(self.sampler.level_key(source), t) if source else 0.0
            hit = self.sampler.at(self.sampler.key(source, "transient"), t) if source else 0.0
            activity.append(round(min(max(level, 0.0), 1.0), 2) if playing else 0.0)
            flutter.append(playing and hit > 0.5)
        return Moment(
            expression=expression_at(since_beat, drop, vocals, playing),
            pulse=pulse,
            beat_phase=phase if playing else 0.0,
            activity=tuple(activity),
            flutter=tuple(flutter),
            key=key_at(a, t),
        )
