"""Synthesised test songs with known truth: beat times, tempo, key, stems, lead pitch, entries.

Every song is a 4/4 loop of a chord progression in a key, with four stems rendered separately
(drums, bass, other = chord pad, vocals = a lead line) and summed; the truth the tests score
against comes straight from the score, not from any analysis:

- ``beat_times``: the time of every quarter note (float64 s); tempo may change mid-song
  (the beat grid is the cumulative sum of per-beat periods) and eighth notes may swing
  (off-beat hats and bass notes are pushed late, the quarter-note grid stays put).
- ``stems``: each stem's mono signal, scaled exactly as in the mix (``sum(stems) == mix``).
- ``lead_hz``: the lead's sounding fundamental per 100 Hz grid frame (0 where it rests).
- ``entries``: the times at which each stem (re-)enters after a rest of at least one bar.
- ``keys``: (start time, key name) for each key the song is in.

Deterministic (fixed seed per song) and fast (~0.2 s per 20 s song).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS, SAMPLE_RATE

BEATS_PER_BAR = 4
START_S = 0.3
"""Time of the first beat (s)."""
TAIL_S = 1.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# A minor-key progression i-VI-III-VII (Am F C G when the tonic is A) as semitone offsets of
# each chord's root above the tonic, with the chord quality (minor / major triad).
_PROGRESSION = ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj"))
_TRIAD = {"min": (0, 3, 7), "maj": (0, 4, 7)}
# Lead phrase over one 4-bar cycle: (start beat, length in beats, scale degree of the natural
# minor scale, octave offset); degrees index _MINOR_SCALE.
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
_PHRASE = (
    (0.0, 1.0, 4), (1.0, 0.5, 3), (1.5, 0.5, 2), (2.0, 1.5, 0), (3.5, 0.5, 2),
    (4.0, 1.0, 5), (5.0, 1.0, 4), (6.0, 2.0, 2),
    (8.0, 1.0, 4), (9.0, 1.0, 6), (10.0, 1.5, 4), (11.5, 0.5, 3),
    (12.0, 1.0, 1), (13.0, 1.0, 2), (14.0, 1.5, 4),
)  # fmt: skip


@dataclass
class Song:
    name: str
    mix: np.ndarray
    """float32 [n, 2], peak 0.9."""
    stems: dict[str, np.ndarray]
    """Stem name -> float32 [n] mono, scaled as in the mix."""
    sr: int
    beat_times: np.ndarray
    """float64 [n_beats], seconds (every quarter note)."""
    bpms: tuple[float, ...]
    """The tempo of each tempo section, in order (one value for a steady song)."""
    tempo_change_s: float | None
    """Time of the first beat at the new tempo (None for a steady song)."""
    keys: tuple[tuple[float, str], ...]
    """(start time s, "A minor") per key section."""
    lead_hz: np.ndarray
    """float64 [n_hops] on the 100 Hz grid: the lead's fundamental, 0 where it rests."""
    entries: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Stem -> times (s) at which it enters or re-enters after at least a bar of rest."""
    exits: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Stem -> times (s) of the downbeats from which it rests (before the song's end)."""
    swing: float = 0.5

    @property
    def bpm(self) -> float:
        return self.bpms[0]

    @property
    def duration(self) -> float:
        return len(self.mix) / self.sr

    @property
    def downbeat_times(self) -> np.ndarray:
        return self.beat_times[::BEATS_PER_BAR]


def midi_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def key_name(tonic_pc: int) -> str:
    return f"{NOTE_NAMES[tonic_pc % 12]} minor"


def _saw(freq: np.ndarray, sr: int, offset: float = 0.0) -> np.ndarray:
    """Naive sawtooth in [-1, 1] for a per-sample frequency (float64 [n]); the pads are
    low-passed afterwards, so aliasing stays far below the tones."""
    return 2.0 * np.mod(np.cumsum(freq / sr) + offset, 1.0) - 1.0


def _smooth(x: np.ndarray, tau_s: float, sr: int) -> np.ndarray:
    a = np.exp(-1.0 / (tau_s * sr))
    return sps.lfilter([1.0 - a], [1.0, -a], x)


def _notes_at(t: np.ndarray, starts: np.ndarray, ends: np.ndarray, notes: np.ndarray):
    """Per sample: (MIDI note of the latest started note, gate 0/1, seconds since its start)."""
    idx = np.searchsorted(starts, t, side="right") - 1
    started = idx >= 0
    idx = np.clip(idx, 0, len(starts) - 1)
    gate = (started & (t < ends[idx])).astype(np.float64)
    return notes[idx].astype(np.float64), gate, np.maximum(t - starts[idx], 0.0)


def _place(out: np.ndarray, sample: np.ndarray, when: float, gain: float, sr: int) -> None:
    s = int(round(when * sr))
    if 0 <= s < len(out):
        e = min(len(out), s + len(sample))
        out[s:e] += gain * sample[: e - s]


def _drum_kit(sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    tk = np.arange(int(0.4 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(45.0 + 110.0 * np.exp(-tk / 0.03)) / sr)
    kick = kick * np.exp(-tk / 0.15) + 0.3 * rng.standard_normal(len(tk)) * np.exp(-tk / 0.002)
    kick *= np.minimum(1.0, (len(tk) - np.arange(len(tk))) / (0.02 * sr))
    ts = np.arange(int(0.25 * sr)) / sr
    bp = sps.butter(2, [900.0, 9000.0], btype="bandpass", fs=sr, output="sos")
    snare = 0.9 * sps.sosfilt(bp, rng.standard_normal(len(ts))) * np.exp(-ts / 0.07)
    snare += 0.45 * np.sin(2 * np.pi * 190 * ts) * np.exp(-ts / 0.04)
    th = np.arange(int(0.08 * sr)) / sr
    hp = sps.butter(4, 7000.0, btype="highpass", fs=sr, output="sos")
    hat = sps.sosfilt(hp, rng.standard_normal(len(th))) * np.exp(-th / 0.016)
    return {"kick": kick, "snare": snare, "hat": hat}


@dataclass
class _Plan:
    """The score: per-beat times, per-bar tonic, per-bar layers, swing."""

    beat_times: np.ndarray
    bar_tonic: np.ndarray  # int [n_bars] MIDI of the tonic (A2 = 45 ...)
    layers: dict[str, np.ndarray]  # stem -> bool [n_bars]
    swing: float

    @property
    def n_bars(self) -> int:
        return len(self.beat_times) // BEATS_PER_BAR

    def eighths(self) -> np.ndarray:
        """Eighth-note times (float64 [2 n_beats]): on-beats, then off-beats at ``swing``."""
        b = self.beat_times
        period = np.diff(b, append=b[-1] + (b[-1] - b[-2]))
        out = np.empty(2 * len(b))
        out[0::2] = b
        out[1::2] = b + self.swing * period
        return out


def _render_drums(plan: _Plan, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    kit = _drum_kit(sr, rng)
    out = np.zeros(n)
    eighths = plan.eighths()
    for bar in range(plan.n_bars):
        if not plan.layers["drums"][bar]:
            continue
        for b in range(BEATS_PER_BAR):
            k = bar * BEATS_PER_BAR + b
            t = plan.beat_times[k]
            _place(out, kit["kick"], t, 1.0 if b in (0, 2) else 0.8, sr)
            if b in (1, 3):
                _place(out, kit["snare"], t, 0.6, sr)
            _place(out, kit["hat"], eighths[2 * k], 0.3, sr)
            _place(out, kit["hat"], eighths[2 * k + 1], 0.45, sr)
    return out


def _bar_of(t: np.ndarray, plan: _Plan) -> np.ndarray:
    downbeats = plan.beat_times[::BEATS_PER_BAR]
    return np.clip(np.searchsorted(downbeats, t, side="right") - 1, 0, plan.n_bars - 1)


def _render_bass(plan: _Plan, t: np.ndarray, sr: int) -> np.ndarray:
    starts = plan.eighths()
    ends = np.append(starts[1:], starts[-1] + 0.2)
    ends = starts + 0.75 * (ends - starts)
    bar = np.arange(len(starts)) // (2 * BEATS_PER_BAR)
    bar = np.minimum(bar, plan.n_bars - 1)
    roots = plan.bar_tonic[bar] + np.array([_PROGRESSION[b % 4][0] for b in bar])
    roots = np.where(roots > plan.bar_tonic[bar] + 6, roots - 12, roots)
    note, gate, since = _notes_at(t, starts, ends, roots)
    f = midi_hz(note)
    env = _smooth(gate, 0.004, sr) * np.exp(-since / 0.4)
    lp = sps.butter(2, 400.0, fs=sr, output="sos")
    x = 0.5 * sps.sosfilt(lp, _saw(f, sr)) + 0.8 * np.sin(2 * np.pi * np.cumsum(f / sr))
    return x * env * plan.layers["bass"][_bar_of(t, plan)]


def _render_chords(plan: _Plan, t: np.ndarray, sr: int) -> np.ndarray:
    starts = plan.beat_times[::BEATS_PER_BAR][: plan.n_bars]
    bar_len = np.diff(starts, append=starts[-1] + (starts[-1] - starts[-2]))
    ends = starts + bar_len - 0.03
    on = plan.layers["other"][_bar_of(t, plan)]
    lp = sps.butter(2, 1200.0, fs=sr, output="sos")
    out = np.zeros(len(t))
    for voice in range(3):
        notes = []
        for bar in range(plan.n_bars):
            root_off, quality = _PROGRESSION[bar % 4]
            pitch = plan.bar_tonic[bar] + 12 + root_off + _TRIAD[quality][voice]
            notes.append(pitch if pitch < plan.bar_tonic[bar] + 12 + 12 else pitch - 12)
        note, gate, _ = _notes_at(t, starts, ends, np.array(notes) + 0.0)
        env = _smooth(gate * on, 0.05, sr)
        for k, cents in enumerate((-8.0, 0.0, 8.0)):
            out += _saw(midi_hz(note + cents / 100.0), sr, 0.31 * k + 0.17 * voice) * env
    return sps.sosfilt(lp, out)


def _lead_events(plan: _Plan) -> list[tuple[float, float, float]]:
    """(start s, end s, MIDI note) of every lead note, in the key of its bar."""
    b = plan.beat_times
    period = np.diff(b, append=b[-1] + (b[-1] - b[-2]))

    def at(beat: float) -> float:
        i = min(int(beat), len(b) - 1)
        return float(b[i] + (beat - i) * period[i])

    events = []
    for cycle in range(0, plan.n_bars, 4):
        for s, d, degree in _PHRASE:
            beat0 = cycle * BEATS_PER_BAR + s
            bar = int(beat0 // BEATS_PER_BAR)
            if bar >= plan.n_bars or not plan.layers["vocals"][bar]:
                continue
            end_beat = min(beat0 + 0.9 * d, len(b) - 0.05)
            note = plan.bar_tonic[bar] + 24 + _MINOR_SCALE[degree]
            events.append((at(beat0), at(end_beat), float(note)))
    return events


def _render_lead(plan: _Plan, t: np.ndarray, sr: int) -> tuple[np.ndarray, list]:
    events = _lead_events(plan)
    starts = np.array([e[0] for e in events])
    ends = np.array([e[1] for e in events])
    notes = np.array([e[2] for e in events])
    note, gate, since = _notes_at(t, starts, ends, notes)
    vib = 0.25 * np.clip((since - 0.15) / 0.2, 0.0, 1.0) * np.sin(2 * np.pi * 5.5 * t)
    f = midi_hz(_smooth(note, 0.015, sr) + vib)
    ph = 2 * np.pi * np.cumsum(f / sr)
    # a vowel-ish tone: a few harmonics with falling weights
    src = sum(w * np.sin(h * ph) for h, w in ((1, 1.0), (2, 0.6), (3, 0.45), (4, 0.25), (5, 0.2)))
    return src * _smooth(gate, 0.015, sr), events


def _entries(plan: _Plan, entering: bool) -> dict[str, tuple[float, ...]]:
    downbeats = plan.beat_times[::BEATS_PER_BAR]
    out = {}
    for stem, on in plan.layers.items():
        was = np.r_[False, on[:-1]]
        bars = np.flatnonzero(on & ~was) if entering else np.flatnonzero(~on & was)
        out[stem] = tuple(float(downbeats[i]) for i in bars)
    return out


def render(
    name: str,
    beat_periods: np.ndarray,
    bar_tonic: np.ndarray,
    layers: dict[str, np.ndarray],
    *,
    swing: float = 0.5,
    bpms: tuple[float, ...],
    tempo_change_s: float | None = None,
    seed: int = 0,
    sr: int = SAMPLE_RATE,
) -> Song:
    """Render a song from its score: one period (s) per beat, a tonic (MIDI) per bar, and per
    stem a bool per bar saying whether it plays."""
    beat_times = START_S + np.concatenate(([0.0], np.cumsum(beat_periods)[:-1]))
    plan = _Plan(beat_times, np.asarray(bar_tonic), layers, swing)
    duration = beat_times[-1] + beat_periods[-1] + TAIL_S
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    lead, events = _render_lead(plan, t, sr)
    raw = {
        "drums": 0.9 * _render_drums(plan, n, sr, rng),
        "bass": 0.7 * _render_bass(plan, t, sr),
        "other": 0.06 * _render_chords(plan, t, sr),
        "vocals": 0.3 * lead,
    }
    pans = {"drums": 0.05, "bass": 0.0, "other": 0.4, "vocals": -0.15}
    mix = np.zeros((n, 2))
    for stem, x in raw.items():
        angle = (pans[stem] + 1.0) * np.pi / 4.0
        mix[:, 0] += x * np.cos(angle)
        mix[:, 1] += x * np.sin(angle)
    gain = 0.9 / float(np.max(np.abs(mix)))
    stems = {}
    for stem in PHYSICAL_STEMS:
        angle = (pans[stem] + 1.0) * np.pi / 4.0
        stems[stem] = (gain * raw[stem] * (np.cos(angle) + np.sin(angle)) / 2).astype(np.float32)
    grid = np.arange(1 + n // round(sr / GRID_RATE)) / GRID_RATE
    lead_hz = np.zeros(len(grid))
    for s, e, m in events:
        lead_hz[(grid >= s + 0.03) & (grid < e - 0.01)] = midi_hz(m)
    keys = [(float(beat_times[0]), key_name(int(bar_tonic[0])))]
    for bar in range(1, len(bar_tonic)):
        if bar_tonic[bar] != bar_tonic[bar - 1]:
            keys.append((float(beat_times[bar * BEATS_PER_BAR]), key_name(int(bar_tonic[bar]))))
    return Song(
        name=name,
        mix=(gain * mix).astype(np.float32),
        stems=stems,
        sr=sr,
        beat_times=beat_times,
        bpms=bpms,
        tempo_change_s=tempo_change_s,
        keys=tuple(keys),
        lead_hz=lead_hz,
        entries=_entries(plan, True),
        exits=_entries(plan, False),
        swing=swing,
    )


def _bars_for(seconds: float, bpm: float) -> int:
    """An even number of bars (at least 4) filling about ``seconds`` at ``bpm``."""
    return max(4, 2 * int(round(seconds / (2 * BEATS_PER_BAR * 60.0 / bpm))))


def _all_on(n_bars: int) -> dict[str, np.ndarray]:
    return {stem: np.ones(n_bars, dtype=bool) for stem in PHYSICAL_STEMS}


def steady(
    bpm: float, seconds: float = 16.0, *, swing: float = 0.5, tonic: int = 45, seed: int = 1
) -> Song:
    """Everything playing at one tempo in one key (A minor by default)."""
    n_bars = _bars_for(seconds, bpm)
    periods = np.full(n_bars * BEATS_PER_BAR, 60.0 / bpm)
    label = f"steady-{bpm:g}" + (f"-swing{round(100 * swing)}" if swing != 0.5 else "")
    return render(
        label, periods, np.full(n_bars, tonic), _all_on(n_bars), swing=swing, bpms=(bpm,), seed=seed
    )


def tempo_change(
    bpm1: float = 100.0, bpm2: float = 130.0, seconds: float = 22.0, seed: int = 2
) -> Song:
    """Half the song at ``bpm1``, then (from a downbeat) the rest at ``bpm2``."""
    bars1 = _bars_for(seconds / 2, bpm1)
    bars2 = _bars_for(seconds / 2, bpm2)
    periods = np.r_[
        np.full(bars1 * BEATS_PER_BAR, 60.0 / bpm1), np.full(bars2 * BEATS_PER_BAR, 60.0 / bpm2)
    ]
    n_bars = bars1 + bars2
    change = START_S + bars1 * BEATS_PER_BAR * 60.0 / bpm1
    return render(
        f"tempo-{bpm1:g}-{bpm2:g}",
        periods,
        np.full(n_bars, 45),
        _all_on(n_bars),
        bpms=(bpm1, bpm2),
        tempo_change_s=change,
        seed=seed,
    )


def key_change(bpm: float = 110.0, seconds: float = 22.0, seed: int = 3) -> Song:
    """A minor, then (from a downbeat half way) up a major third to C# minor."""
    n_bars = _bars_for(seconds, bpm)
    tonic = np.full(n_bars, 45)
    tonic[n_bars // 2 :] = 49
    periods = np.full(n_bars * BEATS_PER_BAR, 60.0 / bpm)
    return render("key-change", periods, tonic, _all_on(n_bars), bpms=(bpm,), seed=seed)


def dropouts(bpm: float = 120.0, seed: int = 4) -> Song:
    """Instruments enter one by one, drop out and re-enter: 14 bars (28 s at 120 BPM).

    bars 0-1 drums; 2-3 + bass; 4-5 + chords; 6-7 + lead; 8-9 chords + lead only (drums and
    bass drop out); 10-13 everything again.
    """
    n_bars = 14
    bars = np.arange(n_bars)
    layers = {
        "drums": (bars < 8) | (bars >= 10),
        "bass": ((bars >= 2) & (bars < 8)) | (bars >= 10),
        "other": bars >= 4,
        "vocals": bars >= 6,
    }
    periods = np.full(n_bars * BEATS_PER_BAR, 60.0 / bpm)
    return render("dropouts", periods, np.full(n_bars, 45), layers, bpms=(bpm,), seed=seed)


STEADY_TEMPI = (72.0, 96.0, 128.0, 150.0, 168.0)


def all_songs() -> dict[str, Song]:
    """Every quality case by name (renders them all: ~2 s)."""
    songs = [steady(bpm, seed=int(bpm)) for bpm in STEADY_TEMPI]
    songs += [steady(110.0, swing=2 / 3, seed=7), tempo_change(), key_change(), dropouts()]
    return {s.name: s for s in songs}


BEAT_TOLERANCE_S = 0.07


def f_measure(estimated: np.ndarray, reference: np.ndarray, tol: float = BEAT_TOLERANCE_S) -> float:
    """Beat F-measure: one-to-one matches within ``tol`` seconds."""
    used: set[int] = set()
    hits = 0
    for t in reference:
        if len(estimated) == 0:
            break
        j = int(np.argmin(np.abs(estimated - t)))
        if abs(estimated[j] - t) <= tol and j not in used:
            used.add(j)
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / len(estimated), hits / len(reference)
    return 2 * precision * recall / (precision + recall)
