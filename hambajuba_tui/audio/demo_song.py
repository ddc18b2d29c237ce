"""The built-in demo song, synthesised with numpy: known tempo, known beats, known stems.

A 33-bar loop in A minor at :data:`DEMO_BPM` (4/4), chords Am-F-C-G, one chord per bar:

=========  ==========================================
bars       layers
=========  ==========================================
1-4        drums + bass
5-8        + chords (``other``)
9-16       + lead (``vocals``)
17-20      breakdown: no drums
21-33      everything
=========  ==========================================

Every stem is rendered on its own (stereo, slightly panned), the mix is their sum scaled to a
peak of 0.9, and :attr:`DemoSong.stems` holds the mono fold of each stem with the same scale, so
``sum(stems.values())`` equals the mono mix. Tests score beat tracking and stem separation
against these. Deterministic (fixed seed); synthesis takes well under a second.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from hambajuba_tui.vocab import PHYSICAL_STEMS, SAMPLE_RATE


def _sps():
    """scipy.signal, imported when a song is synthesised (not to find the shipped demo)."""
    from scipy import signal

    return signal


DEMO_VERSION = 1
"""Bump when the synthesis changes, so written demo files are regenerated."""

DEMO_BPM = 124.0
DEMO_KEY = "A minor"
DEMO_SEED = 124
DEMO_BARS = 33
DEMO_START_S = 0.25
"""Time of the first beat (s)."""
DEMO_TAIL_S = 1.2
"""Silence-ish after the last bar, for releases (s)."""
DEMO_FILENAME = "hambajuba-demo.wav"
DEMO_TITLE = "hambajuba demo"

BEATS_PER_BAR = 4
# Chord per bar (cycles): MIDI notes of the pad voicing and the bass root.
_CHORDS = (
    ("Am", (57, 60, 64), 45),  # A3 C4 E4 / A2
    ("F", (57, 60, 65), 41),  # A3 C4 F4 / F2
    ("C", (55, 60, 64), 48),  # G3 C4 E4 / C3
    ("G", (55, 59, 62), 43),  # G3 B3 D4 / G2
)
# Lead phrases over one 4-bar chord cycle: (start beat, length in beats, MIDI note).
_PHRASE_A = (
    (0.0, 1.0, 76), (1.0, 0.5, 74), (1.5, 0.5, 72), (2.0, 1.5, 69), (3.5, 0.5, 72),
    (4.0, 1.0, 69), (5.0, 0.5, 72), (5.5, 0.5, 74), (6.0, 2.0, 72),
    (8.0, 1.0, 76), (9.0, 1.0, 79), (10.0, 1.5, 76), (11.5, 0.5, 74),
    (12.0, 2.0, 74),
)  # fmt: skip
_PHRASE_B = (
    (0.0, 0.5, 69), (0.5, 0.5, 72), (1.0, 1.0, 76), (2.0, 1.0, 74), (3.0, 1.0, 72),
    (4.0, 2.0, 77), (6.0, 1.0, 76), (7.0, 1.0, 72),
    (8.0, 1.5, 72), (9.5, 0.5, 74), (10.0, 2.0, 76),
    (12.0, 1.0, 74), (13.0, 1.5, 71),
)  # fmt: skip

_LAYERS = {
    "drums": [(0, 16), (20, DEMO_BARS)],
    "bass": [(0, DEMO_BARS)],
    "other": [(4, DEMO_BARS)],
    "vocals": [(8, DEMO_BARS)],
}
"""Bars [start, end) in which each stem plays (0-based)."""


@dataclass
class DemoSong:
    mix: np.ndarray
    """float32 [n, 2], peak 0.9."""
    stems: dict[str, np.ndarray]
    """Stem name -> float32 [n]: the mono fold of the stem, scaled exactly as in the mix."""
    sr: int
    bpm: float
    beat_times: np.ndarray
    """float64 [n_beats], seconds."""
    duration: float
    """Seconds."""

    @property
    def downbeat_times(self) -> np.ndarray:
        """float64 [n_bars], seconds: the first beat of every bar."""
        return self.beat_times[::BEATS_PER_BAR]


def _midi_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def _phase(freq: np.ndarray, sr: int) -> np.ndarray:
    """Running phase in cycles, float64 [n], for a per-sample frequency in Hz."""
    return np.cumsum(freq / sr)


def _saw(freq: np.ndarray, sr: int, offset: float = 0.0) -> np.ndarray:
    """Band-limited (polyBLEP) sawtooth in [-1, 1], float64 [n]."""
    p = np.mod(_phase(freq, sr) + offset, 1.0)
    dt = np.clip(freq / sr, 1e-9, 0.5)
    out = 2.0 * p - 1.0
    lo = p < dt
    t = p[lo] / dt[lo]
    out[lo] -= t + t - t * t - 1.0
    hi = p > 1.0 - dt
    t = (p[hi] - 1.0) / dt[hi]
    out[hi] -= t * t + t + t + 1.0
    return out


def _smooth(x: np.ndarray, tau_s: float, sr: int) -> np.ndarray:
    """One-pole lowpass (time constant ``tau_s``) of a per-sample control signal."""
    a = np.exp(-1.0 / (tau_s * sr))
    return _sps().lfilter([1.0 - a], [1.0, -a], x)


def _pan(x: np.ndarray, pos: float) -> np.ndarray:
    """Constant-power pan of float64 [n] to [n, 2]; ``pos`` in [-1 (left), 1 (right)]."""
    angle = (pos + 1.0) * np.pi / 4.0
    return np.stack([x * np.cos(angle), x * np.sin(angle)], axis=1)


def _bar_mask(t: np.ndarray, bar_len: float, stem: str) -> np.ndarray:
    bar = np.floor((t - DEMO_START_S) / bar_len)
    on = np.zeros(len(t), dtype=bool)
    for start, end in _LAYERS[stem]:
        on |= (bar >= start) & (bar < end)
    return on


def _active_notes(
    t: np.ndarray, starts: np.ndarray, ends: np.ndarray, notes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: (MIDI note of the latest started note, gate 0/1, seconds since its start)."""
    idx = np.searchsorted(starts, t, side="right") - 1
    started = idx >= 0
    idx = np.clip(idx, 0, len(starts) - 1)
    gate = (started & (t < ends[idx])).astype(np.float64)
    return notes[idx].astype(np.float64), gate, np.maximum(t - starts[idx], 0.0)


def _render_drums(n: int, sr: int, beat: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((n, 2))
    tk = np.arange(int(0.45 * sr)) / sr
    kick_f = 45.0 + 120.0 * np.exp(-tk / 0.035)
    kick = np.sin(2 * np.pi * np.cumsum(kick_f) / sr) * np.exp(-tk / 0.16)
    kick += 0.35 * rng.standard_normal(len(tk)) * np.exp(-tk / 0.0015)
    kick *= np.minimum(1.0, (len(tk) - np.arange(len(tk))) / (0.02 * sr))

    ts = np.arange(int(0.3 * sr)) / sr
    hp = _sps().butter(2, [900.0, 9000.0], btype="bandpass", fs=sr, output="sos")
    snares = []
    for _ in range(4):
        noise = _sps().sosfilt(hp, rng.standard_normal(len(ts))) * np.exp(-ts / 0.075)
        tone = (np.sin(2 * np.pi * 185 * ts) + 0.5 * np.sin(2 * np.pi * 330 * ts)) * np.exp(
            -ts / 0.045
        )
        snares.append(0.9 * noise + 0.45 * tone)

    th = np.arange(int(0.09 * sr)) / sr
    hh = _sps().butter(4, 7000.0, btype="highpass", fs=sr, output="sos")
    hats = [
        _sps().sosfilt(hh, rng.standard_normal(len(th))) * np.exp(-th / 0.018) for _ in range(4)
    ]

    def place(sample: np.ndarray, when: float, gain: float, pan: float) -> None:
        s = int(round(when * sr))
        e = min(n, s + len(sample))
        if 0 <= s < n:
            out[s:e] += gain * _pan(sample[: e - s], pan)

    bar_len = beat * BEATS_PER_BAR
    for bar in range(DEMO_BARS):
        if not any(a <= bar < b for a, b in _LAYERS["drums"]):
            continue
        t0 = DEMO_START_S + bar * bar_len
        for b in range(BEATS_PER_BAR):
            place(kick, t0 + b * beat, 1.0, 0.0)
            if b in (1, 3):
                place(snares[(bar + b) % 4], t0 + b * beat, 0.55, 0.05)
        for e in range(2 * BEATS_PER_BAR):
            place(hats[e % 4], t0 + e * beat / 2, 0.55 if e % 2 else 0.35, 0.3)
    return out


def _render_bass(t: np.ndarray, sr: int, beat: float) -> np.ndarray:
    eighth = beat / 2
    n_notes = DEMO_BARS * BEATS_PER_BAR * 2
    starts = DEMO_START_S + np.arange(n_notes) * eighth
    bar = np.arange(n_notes) // (2 * BEATS_PER_BAR)
    notes = np.array([_CHORDS[b % 4][2] for b in bar])
    note, gate, since = _active_notes(t, starts, starts + 0.72 * eighth, notes)
    f = _midi_hz(note)
    env = _smooth(gate, 0.004, sr) * np.exp(-since / 0.35)
    saw = _sps().sosfilt(_sps().butter(2, 420.0, fs=sr, output="sos"), _saw(f, sr))
    sub = np.sin(2 * np.pi * _phase(f, sr))
    x = (0.55 * saw + 0.8 * sub) * env * _bar_mask(t, beat * BEATS_PER_BAR, "bass")
    return _pan(x, 0.0)


def _render_chords(t: np.ndarray, sr: int, beat: float) -> np.ndarray:
    bar_len = beat * BEATS_PER_BAR
    starts = DEMO_START_S + np.arange(DEMO_BARS) * bar_len
    ends = starts + bar_len - 0.03
    gate_on = _bar_mask(t, bar_len, "other")
    lp = _sps().butter(2, 1100.0, fs=sr, output="sos")
    groups = {-0.6: np.zeros(len(t)), 0.0: np.zeros(len(t)), 0.6: np.zeros(len(t))}
    for voice in range(3):
        notes = np.array([_CHORDS[b % 4][1][voice] for b in range(DEMO_BARS)])
        note, gate, _ = _active_notes(t, starts, ends, notes)
        env = _smooth(gate * gate_on, 0.06, sr)
        for k, (cents, pan) in enumerate(((-9.0, -0.6), (0.0, 0.0), (9.0, 0.6))):
            f = _midi_hz(note + cents / 100.0)
            groups[pan] += _saw(f, sr, offset=0.37 * k + 0.11 * voice) * env
    return sum(_pan(_sps().sosfilt(lp, x), pan) for pan, x in groups.items())


def _render_lead(t: np.ndarray, sr: int, beat: float) -> np.ndarray:
    bar_len = beat * BEATS_PER_BAR
    events = []
    first, last = _LAYERS["vocals"][0]
    for k, bar in enumerate(range(first, last - 1, 4)):
        phrase = _PHRASE_A if k % 2 == 0 else _PHRASE_B
        t0 = DEMO_START_S + bar * bar_len
        events += [(t0 + s * beat, d * beat, m) for s, d, m in phrase]
    events.append((DEMO_START_S + (last - 1) * bar_len, 3.5 * beat, 69))
    starts = np.array([e[0] for e in events])
    lengths = np.array([e[1] for e in events])
    notes = np.array([e[2] for e in events])
    note, gate, since = _active_notes(t, starts, starts + 0.9 * lengths, notes)
    glide = _smooth(note, 0.025, sr)
    vib_depth = 0.3 * np.clip((since - 0.12) / 0.25, 0.0, 1.0)
    f = _midi_hz(glide + vib_depth * np.sin(2 * np.pi * 5.5 * t))
    src = _saw(f, sr)
    formants = sum(
        g
        * _sps().sosfilt(
            _sps().butter(2, [fc / q, fc * q], btype="bandpass", fs=sr, output="sos"), src
        )
        for fc, q, g in ((730.0, 1.25, 1.0), (1150.0, 1.2, 0.7), (2500.0, 1.15, 0.25))
    )
    env = _smooth(gate, 0.018, sr)
    return _pan((0.35 * src + formants) * env, -0.15)


def _at_rate(render, n: int, sr: int, div: int, beat: float) -> np.ndarray:
    """Render a band-limited stem at ``sr / div`` and resample it to float64 [n, 2] at ``sr``."""
    import soxr

    low = sr // div
    t = np.arange(int(np.ceil(n * low / sr)) + 64) / low
    x = soxr.resample(render(t, low, beat), low, sr, quality="HQ")
    if len(x) < n:
        x = np.pad(x, ((0, n - len(x)), (0, 0)))
    return x[:n]


def synthesize_demo(sr: int = SAMPLE_RATE) -> DemoSong:
    """Render the demo song: mix float32 [n, 2] at ``sr`` Hz and its four true stems."""
    rng = np.random.default_rng(DEMO_SEED)
    beat = 60.0 / DEMO_BPM
    n_beats = DEMO_BARS * BEATS_PER_BAR
    duration = DEMO_START_S + n_beats * beat + DEMO_TAIL_S
    n = int(round(duration * sr))
    stereo = {
        "drums": _render_drums(n, sr, beat, rng) * 0.9,
        "bass": _at_rate(_render_bass, n, sr, 4, beat) * 0.75,
        "other": _at_rate(_render_chords, n, sr, 2, beat) * 0.1,
        "vocals": _at_rate(_render_lead, n, sr, 2, beat) * 0.45,
    }
    mix = sum(stereo.values())
    gain = 0.9 / float(np.max(np.abs(mix)))
    stems = {name: (gain * stereo[name].mean(axis=1)).astype(np.float32) for name in PHYSICAL_STEMS}
    return DemoSong(
        mix=(gain * mix).astype(np.float32),
        stems=stems,
        sr=sr,
        bpm=DEMO_BPM,
        beat_times=DEMO_START_S + np.arange(n_beats, dtype=np.float64) * beat,
        duration=n / sr,
    )


def _write_atomic(path: Path, data: np.ndarray, sr: int) -> None:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.wav")
    try:
        sf.write(str(tmp), data, sr, subtype="PCM_16")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _meta() -> dict[str, object]:
    return {"demo_version": DEMO_VERSION, "sr": SAMPLE_RATE, "bpm": DEMO_BPM, "bars": DEMO_BARS}


def write_demo_song(directory: str | os.PathLike[str]) -> Path:
    """Write the demo mix to ``directory/hambajuba-demo.wav`` (PCM_16) and its true stems to
    ``directory/stems/<stem>.wav``; return the mix's path.

    Files are written under temporary names and renamed. Files already written by the same
    :data:`DEMO_VERSION` (recorded in ``hambajuba-demo.json``) are reused.
    """
    directory = Path(directory)
    wav = directory / DEMO_FILENAME
    stem_dir = directory / "stems"
    meta_path = directory / "hambajuba-demo.json"
    wanted = _meta()
    files = [wav] + [stem_dir / f"{name}.wav" for name in PHYSICAL_STEMS]
    try:
        if json.loads(meta_path.read_text()) == wanted and all(f.is_file() for f in files):
            return wav
    except (OSError, ValueError):
        pass
    stem_dir.mkdir(parents=True, exist_ok=True)
    song = synthesize_demo(SAMPLE_RATE)
    meta_path.unlink(missing_ok=True)
    for name in PHYSICAL_STEMS:
        _write_atomic(stem_dir / f"{name}.wav", song.stems[name], song.sr)
    _write_atomic(wav, song.mix, song.sr)
    tmp = meta_path.with_name(f".{meta_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(wanted))
    os.replace(tmp, meta_path)
    return wav


SHIPPED_DEMO = f"hambajuba-demo-v{DEMO_VERSION}.ogg"
"""The demo mix rendered once and shipped with the package (Ogg Vorbis, ~0.7 MB), so the first
``hambajuba demo`` on a machine dances at once instead of synthesising for seconds first."""


def shipped_demo_path() -> Path | None:
    """The shipped demo mix of this :data:`DEMO_VERSION`, or None when it is not installed."""
    from importlib import resources

    try:
        path = Path(str(resources.files("hambajuba_tui.audio") / SHIPPED_DEMO))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.is_file() else None


def demo_mix_path(directory: str | os.PathLike[str]) -> Path:
    """The demo mix to play: the shipped one, else synthesised into ``directory``."""
    return shipped_demo_path() or write_demo_song(directory)


def render_shipped_demo(out: Path, quality: float = 0.4) -> Path:
    """Render the demo and write it as Ogg Vorbis (how :data:`SHIPPED_DEMO` is made):
    ``python -m hambajuba_tui.audio.demo_song``."""
    song = synthesize_demo(SAMPLE_RATE)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with sf.SoundFile(
            str(tmp),
            "w",
            SAMPLE_RATE,
            2,
            format="OGG",
            subtype="VORBIS",
            compression_level=1.0 - quality,
        ) as f:
            for i in range(0, len(song.mix), 1 << 14):  # libsndfile's Vorbis writer dies on
                f.write(song.mix[i : i + (1 << 14)])  # one big buffer

        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    print(render_shipped_demo(Path(__file__).with_name(SHIPPED_DEMO)))
