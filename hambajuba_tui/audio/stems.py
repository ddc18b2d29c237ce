"""Stem separation: split a stereo mix into ``bass``, ``drums``, ``vocals`` and ``other``.

Backends (:func:`separate_stems` says which one ran and why):

``demucs`` -- Hybrid Transformer Demucs (htdemucs) from weights already on this machine, run in
a child process so that this one never imports torch: see
:mod:`hambajuba_tui.audio.demucs_backend`. Real separation, far slower than ``dsp`` on a
CPU (its speed on real weights is not measured here: this machine has none).

``auto`` -- ``demucs`` when the package and the htdemucs weights are both here, else ``dsp``.

``dsp`` (no weights, a few seconds per song) -- rough, and honest about it. It cannot know what
a voice is; it splits the spectrogram of the mono mix by *shape*:

1. HPSS (median filtering, Fitzgerald 2010) splits every time-frequency bin softly into a
   percussive part (vertical: short, broadband) and a harmonic part (horizontal: sustained).
   Below ~250 Hz a kick's body is too narrow to look vertical, so there anything standing out
   of its own time median also counts as percussive (otherwise kicks end up in ``bass``).
2. ``drums`` = the percussive part, all frequencies.
3. ``bass`` = the harmonic part below ~200 Hz (raised-cosine crossover 150-260 Hz).
4. ``vocals`` = the harmonic part in the lead band (~250 Hz-3.5 kHz) that *moves*: bins louder
   than twice their own median over 3 s. A lead line changes pitch every few hundred ms and
   wobbles with vibrato; pads and held chords stay put and go to ``other``.
5. ``other`` = the rest of the harmonic part.

The masks sum to one in every bin, so the four stems add up to the mono mix. Expect leakage:
part of a kick's low tail lands in ``bass``, chord fundamentals near 200 Hz split between
``bass`` and ``other``, sustained synth leads go to ``other``, and any moving mid-band
instrument (a guitar solo, an arpeggio) goes to ``vocals``. On the demo song the envelope of
each dsp stem correlates with the true stem's at ~0.86 (bass, other) to ~0.94 (drums, vocals);
parameters were tuned on that song, so expect less on real music.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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
POOL_BINS = 2
POOL_FRAMES = 2
HPSS_KERNEL_T = 25
HPSS_KERNEL_F = 31
"""HPSS median lengths on the pooled grid: 25 x 23 ms (0.58 s) in time, 31 x 43 Hz (1.3 kHz)
in frequency."""
PERC_MARGIN = 0.8
"""Percussive estimates are scaled by this before the soft mask (< 1 favours harmonic)."""
LOW_EXCESS = 1.0
LOW_EXCESS_HZ = (200.0, 300.0)
"""Below these (log-cosine blend) the excess over LOW_EXCESS x the time median is percussive."""
MOVING_WINDOW_S = 3.0
MOVING_MARGIN = 2.0
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


def _pool(mag: np.ndarray, f: int, t: int) -> np.ndarray:
    """Mean over blocks of f bins x t frames (edges padded by repetition)."""
    nb, nt = mag.shape
    pb, pt = -nb % f, -nt % t
    m = np.pad(mag, ((0, pb), (0, pt)), mode="edge") if pb or pt else mag
    return m.reshape(m.shape[0] // f, f, m.shape[1] // t, t).mean(axis=(1, 3))


def _unpool(x: np.ndarray, f: int, t: int, shape: tuple[int, int]) -> np.ndarray:
    return np.repeat(np.repeat(x, f, axis=0), t, axis=1)[: shape[0], : shape[1]]


def harmonic_mask(mag: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Soft harmonic mask (float [n_bins, n_frames] in [0, 1]) by median-filter HPSS.

    Harmonic estimate: median over time; percussive estimate: median over frequency. In the bass
    register a drum's body is too narrow in frequency to show up as a vertical line, so there
    the percussive estimate is also allowed to be the excess over the time median (a kick
    standing out of the bass line). Mask: H^2 / (H^2 + P^2).
    """
    # The two medians run in parallel: scipy.ndimage releases the GIL (~1.8x on 2 cores).
    with ThreadPoolExecutor(max_workers=2) as pool:
        harm_job = pool.submit(median_filter, mag, size=(1, HPSS_KERNEL_T), mode="reflect")
        perc = median_filter(mag, size=(HPSS_KERNEL_F, 1), mode="reflect")
        harm = harm_job.result()
    if LOW_EXCESS:
        low = 1.0 - _log_ramp(freqs, *LOW_EXCESS_HZ)
        perc = np.maximum(perc, low[:, None] * np.maximum(mag - LOW_EXCESS * harm, 0.0))
    h2, p2 = harm**2, (PERC_MARGIN * perc) ** 2
    return h2 / np.maximum(h2 + p2, 1e-20)


def moving_mask(harm_mag: np.ndarray, frame_rate: float) -> np.ndarray:
    """Soft mask of bins louder than ``MOVING_MARGIN`` x their running median over
    ``MOVING_WINDOW_S`` (float [n_bins, n_frames] in [0, 1], for a harmonic magnitude at
    ``frame_rate`` frames/s). The median runs on 4-frame means and is repeated back."""
    step = 4
    coarse = _pool(harm_mag, 1, step)
    width = max(3, int(round(MOVING_WINDOW_S * frame_rate / step)) | 1)
    still = median_filter(coarse, size=(1, width), mode="nearest") * MOVING_MARGIN
    still = _unpool(still, 1, step, harm_mag.shape)
    p_mov, p_still = harm_mag**2, still**2
    return p_mov / np.maximum(p_mov + p_still, 1e-20)


def dsp_masks(mag: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Soft masks for the four stems from a magnitude spectrogram.

    ``mag`` is float32 [n_bins, n_frames] (``N_FFT``/``STFT_HOP`` STFT at ``sr`` Hz). Returns stem
    -> float32 [n_bins, n_frames] in [0, 1]; the four masks sum to 1 in every bin.

    The median filters run on a 2x2-pooled spectrogram (4x fewer cells, shorter kernels) and
    the masks are repeated back to full resolution: several times faster than full-resolution
    HPSS for nearly the same masks. Band weights are applied at full resolution.
    """
    import librosa

    mag = np.asarray(mag, dtype=np.float32)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2 * (mag.shape[0] - 1))
    pooled = _pool(mag, POOL_BINS, POOL_FRAMES)
    pooled_freqs = _pool(freqs[:, None], POOL_BINS, 1)[:, 0]
    harm_p = harmonic_mask(pooled, pooled_freqs).astype(np.float32)

    rows = np.flatnonzero(band_weights(pooled_freqs)[1] > 1e-3)
    moving_p = np.zeros_like(pooled)
    if len(rows):
        frame_rate = sr / (STFT_HOP * POOL_FRAMES)
        moving_p[rows] = moving_mask(pooled[rows] * harm_p[rows], frame_rate)

    w_bass, w_lead = (w.astype(np.float32)[:, None] for w in band_weights(freqs))
    harm = _unpool(harm_p, POOL_BINS, POOL_FRAMES, mag.shape)
    vocals = harm * w_lead
    vocals *= _unpool(moving_p, POOL_BINS, POOL_FRAMES, mag.shape)
    bass = harm * w_bass
    other = harm - bass
    other -= vocals
    np.maximum(other, 0.0, out=other)
    return {"bass": bass, "drums": 1.0 - harm, "vocals": vocals, "other": other}


class Spill:
    """Float32 [n] arrays parked in files under ``folder`` instead of memory, until needed:
    a long song's stems are each as large as the mono mix (159 M samples at 60 min), so the
    analysis keeps one or two of them in memory at a time. Written by :meth:`append` (blocks
    in order) or :meth:`put`; read whole by :meth:`get` or a block at a time by :meth:`read`."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.f32"

    def append(self, name: str, block: np.ndarray) -> None:
        if name not in self.names:
            self.claim(name)
        with self.path(name).open("ab") as f:
            np.ascontiguousarray(block, dtype=np.float32).tofile(f)

    def put(self, name: str, y: np.ndarray) -> None:
        if name not in self.names:
            self.names.append(name)
        np.ascontiguousarray(y, dtype=np.float32).tofile(self.path(name))

    def get(self, name: str) -> np.ndarray:
        return np.fromfile(self.path(name), dtype=np.float32)

    def read(self, name: str, start: int, count: int) -> np.ndarray:
        return np.fromfile(self.path(name), dtype=np.float32, count=count, offset=4 * start)

    def claim(self, name: str) -> Path:
        """The (emptied) file of ``name``, for a writer of raw float32 outside this class."""
        if name not in self.names:
            self.names.append(name)
        self.path(name).write_bytes(b"")
        return self.path(name)

    def write_at(self, name: str, start: int, block: np.ndarray) -> None:
        """Overwrite ``name`` from sample ``start`` on with ``block`` (in-place filters)."""
        data = np.ascontiguousarray(block, dtype=np.float32)
        fd = os.open(self.path(name), os.O_WRONLY)
        try:
            os.pwrite(fd, data.tobytes(), 4 * start)
        finally:
            os.close(fd)

    def size(self, name: str) -> int:
        """Samples in ``name``."""
        return self.path(name).stat().st_size // 4

    def drop(self, name: str) -> None:
        """Delete ``name``'s file (a spilled intermediate no longer needed: disk, not memory)."""
        if name in self.names:
            self.names.remove(name)
        self.path(name).unlink(missing_ok=True)


class Spilled:
    """One array of a :class:`Spill`, read a slice at a time (``len``, ``x[i]``, ``x[a:b]``):
    for code that walks a stem in blocks without holding it. ``start`` / ``n``: a view of
    samples ``start:start + n`` of the file (a filter's result between its padding)."""

    def __init__(self, spill: Spill, name: str, start: int = 0, n: int | None = None) -> None:
        self.spill, self.name, self.start = spill, name, start
        self.n = spill.size(name) - start if n is None else n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int | slice) -> np.ndarray | np.float32:
        if isinstance(key, slice):
            a, b, step = key.indices(self.n)
            if step != 1:
                raise IndexError("Spilled slices have step 1")
            return self.spill.read(self.name, self.start + a, max(0, b - a))
        i = key + self.n if key < 0 else key
        if not 0 <= i < self.n:
            raise IndexError(key)
        return self.spill.read(self.name, self.start + i, 1)[0]


SPILL_BLOCK = 1 << 20
"""Samples read at once by :func:`add_spilled`."""


def add_spilled(out: np.ndarray, spill: Spill, name: str, sign: float = 1.0) -> np.ndarray:
    """``out += sign * spill.get(name)`` in place, a block at a time; returns ``out``."""
    for a in range(0, len(out), SPILL_BLOCK):
        part = spill.read(name, a, min(SPILL_BLOCK, len(out) - a))
        if sign < 0:
            out[a : a + len(part)] -= part
        else:
            out[a : a + len(part)] += part
    return out


def spill_sum(spill: Spill, name: str, first: str, second: str, sign: float = 1.0) -> Spilled:
    """``first + sign * second`` (both spilled) into ``name``, a block at a time (the same
    float32 numbers as :func:`add_spilled` on ``first`` read whole)."""
    n = spill.size(first)
    spill.claim(name)
    for a in range(0, n, SPILL_BLOCK):
        part = spill.read(first, a, min(SPILL_BLOCK, n - a))
        add = spill.read(second, a, len(part))
        if sign < 0:
            part -= add
        else:
            part += add
        spill.append(name, part)
    return Spilled(spill, name)


def spill_mono(spill: Spill, name: str, samples: np.ndarray) -> Spilled:
    """The mono mix (``Audio.mono``: the float32 mean over channels) of ``samples`` [n, ch]
    into ``name``, a block at a time: no whole mono copy of a song already held."""
    spill.claim(name)
    for a in range(0, len(samples), SPILL_BLOCK):
        spill.append(name, samples[a : a + SPILL_BLOCK].mean(axis=1, dtype=np.float32))
    return Spilled(spill, name)


def separate_dsp(stereo: np.ndarray, sr: int, spill: Spill | None = None) -> dict[str, np.ndarray]:
    """The ``dsp`` backend: stereo float32 [n, 2] (or the mono mix [n], or a :class:`Spilled`
    mono mix: read a block at a time) -> stem -> mono float32 [n]; with ``spill``, each block
    of the stems goes there instead (and the dict returned is empty).

    See the module docstring for what it does and how rough it is. The four stems sum to the
    mono mix (``other`` is the remainder).
    """
    if isinstance(stereo, Spilled):
        mono = stereo
    else:
        mono = np.asarray(stereo, dtype=np.float32)
        if mono.ndim == 2:
            mono = mono.mean(axis=1, dtype=np.float32)
    n = len(mono)
    if n == 0:
        return {name: np.zeros(0, dtype=np.float32) for name in PHYSICAL_STEMS}
    if n <= DSP_BLOCK + 2 * DSP_OVERLAP:
        out = _separate_dsp_whole(mono[0:n], sr)
        if spill is None:
            return out
        for name in PHYSICAL_STEMS:
            spill.put(name, out[name])
        return {}
    # Every step is local (STFT frames, 0.6 s HPSS medians, the 3 s running median), so a
    # long song is separated a block at a time with DSP_OVERLAP of context on each side:
    # the same stems, with the spectrograms and masks of one block alive at a time.
    out = {} if spill else {name: np.empty(n, dtype=np.float32) for name in PHYSICAL_STEMS}
    for a in range(0, n, DSP_BLOCK):
        b = min(n, a + DSP_BLOCK)
        lo, hi = max(0, a - DSP_OVERLAP), min(n, b + DSP_OVERLAP)
        part = _separate_dsp_whole(mono[lo:hi], sr)
        for name in PHYSICAL_STEMS:
            if spill is None:
                out[name][a:b] = part[name][a - lo : b - lo]
            else:
                spill.append(name, part[name][a - lo : b - lo])
    return out


DSP_ALIGN = STFT_HOP * POOL_FRAMES * 4
"""Blocks start on multiples of this (STFT hop x pooled frames x the running median's step),
so every block's frames and pools fall on the whole song's grid."""
DSP_OVERLAP = 48 * DSP_ALIGN
"""Context on each side of a block (4.5 s at 44.1 kHz): more than everything a sample
depends on (STFT window, HPSS kernels, the 3 s running median, the inverse STFT)."""
DSP_BLOCK = 320 * DSP_ALIGN
"""Samples separated per block (30 s at 44.1 kHz)."""


def _separate_dsp_whole(mono: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    import librosa

    n = len(mono)
    spec = librosa.stft(mono, n_fft=N_FFT, hop_length=STFT_HOP)
    masks = dsp_masks(np.abs(spec), sr)
    out = {
        name: librosa.istft(spec * masks[name], hop_length=STFT_HOP, n_fft=N_FFT, length=n)
        for name in ("bass", "drums", "vocals")
    }
    out["other"] = mono - out["bass"] - out["drums"] - out["vocals"]
    return {name: out[name].astype(np.float32, copy=False) for name in PHYSICAL_STEMS}


def separate_demucs(stereo: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """The ``demucs`` backend (htdemucs from local weights, in a child process); see
    :mod:`hambajuba_tui.audio.demucs_backend`."""
    from hambajuba_tui.audio.demucs_backend import separate_demucs as run

    return run(stereo, sr)


STEM_BACKENDS: dict[str, Separator] = {"demucs": separate_demucs, "dsp": separate_dsp}
"""Backend name -> separator. ``auto`` (see :func:`resolve_backend`) picks one of these."""

BACKEND_CHOICES: tuple[str, ...] = ("auto", "demucs", "dsp")
"""What ``--stems`` and :func:`separate_stems` accept."""


@dataclass(frozen=True)
class StemResult:
    """What :func:`separate_stems` gives back: the stems, the backend that really ran
    ("demucs" or "dsp") and one line on why that one."""

    stems: dict[str, np.ndarray]
    backend: str
    note: str


def _unknown(backend: str) -> AudioError:
    return AudioError(
        f"unknown stem backend {backend!r}; choose one of: {', '.join(BACKEND_CHOICES)}"
    )


def resolve_backend(backend: str) -> tuple[str, str]:
    """(backend to run, why) for a requested ``backend``: ``auto`` becomes ``demucs`` when the
    demucs package and the htdemucs weights are both on this machine, else ``dsp``. Only looks
    at files (never imports torch). An unknown name raises :class:`AudioError` naming the
    choices; an explicit ``demucs`` is not checked here (separating says what is missing)."""
    if backend == "auto":
        from hambajuba_tui.audio.demucs_backend import availability

        usable, why = availability()
        why = why.removeprefix("demucs: ")
        if usable:
            return "demucs", f"stems by demucs (auto: {why})"
        # One short line on every run; `--stems demucs` names the caches it looked in.
        reason = why.split(" (looked in")[0].split(";")[0]
        return "dsp", (
            f"stems by dsp, the rough fallback ({reason}; `--stems demucs` "
            f"says what is missing and how to get it)"
        )
    if backend in STEM_BACKENDS:
        return backend, f"stems by {backend} (asked for)"
    raise _unknown(backend)


def separate_stems(
    stereo: np.ndarray,
    sr: int,
    backend: str = "auto",
    progress: Callable[[float], None] | None = None,
    spill: Spill | None = None,
) -> StemResult:
    """Separate stereo float32 [n, 2] at ``sr`` Hz into stem -> mono float32 [n].

    ``backend`` is ``auto``, ``demucs`` or ``dsp``; ``progress(fraction)`` hears how much of
    the separation is done (demucs reports per segment, dsp only at its end). When ``auto``
    chose demucs and demucs fails, dsp runs instead and the note says why. With ``spill``
    the stems go there (see :class:`Spill`) and ``stems`` is empty.
    """
    chosen, note = resolve_backend(backend)
    report = progress or (lambda fraction: None)
    if chosen == "demucs":
        from hambajuba_tui.audio.demucs_backend import separate_demucs as run_demucs

        try:
            stems = run_demucs(stereo, sr, report)
            if spill is not None:
                for name in PHYSICAL_STEMS:
                    spill.put(name, stems.pop(name))
            return StemResult(stems, "demucs", note)
        except AudioError as exc:
            if backend != "auto":
                raise
            note = f"stems by dsp, the rough fallback (auto: demucs failed: {exc})"
    stems = separate_dsp(stereo, sr, spill)
    report(1.0)
    return StemResult(stems, "dsp", note)


def separate(stereo: np.ndarray, sr: int, backend: str = "dsp") -> dict[str, np.ndarray]:
    """Separate stereo float32 [n, 2] at ``sr`` Hz into stem -> mono float32 [n]
    (:func:`separate_stems` without the backend report)."""
    return separate_stems(stereo, sr, backend).stems
