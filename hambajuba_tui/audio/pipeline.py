"""The analysis pipeline: song file -> :class:`Analysis`, computed once and cached by content hash.

``hambajuba_tui.audio.analysis.analyze`` (and ``hambajuba_tui.audio.analyze``) call :func:`analyze`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from hambajuba_tui.audio import cache
from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.audio.classify import classify
from hambajuba_tui.audio.coupling import coupling_signals, pair_names
from hambajuba_tui.audio.crossover import VIRTUAL_BANDS, band_spilled
from hambajuba_tui.audio.decode import (
    Audio,
    check_path,
    content_hash,
    decode_mono_file,
    load_audio,
    samples_hash,
)
from hambajuba_tui.audio.harmony import harmony_from_parts, harmony_parts, main_key
from hambajuba_tui.audio.rhythm import DEFAULT_BPM, BandFlux, analyze_rhythm, harmonic_chroma
from hambajuba_tui.audio.sections import segment
from hambajuba_tui.audio.signals import (
    CHROMA_NAMES,
    FLUX_FLOOR_DB,
    N_MELS,
    MelSummary,
    iter_mel_db,
    n_hops,
    rms,
    signal_names,
    stem_analysis,
)
from hambajuba_tui.audio.stems import (
    Spill,
    Spilled,
    resolve_backend,
    separate_stems,
    spill_mono,
    spill_sum,
)
from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS, SAMPLE_RATE, VIRTUAL_STEMS

Progress = Callable[[str, float], None]
"""``progress(stage, fraction)``: stage is one of "decode", "cache", "stems", "rhythm",
"signals", "harmony", "coupling", "done"; fraction is the overall progress in [0, 1], never
decreasing."""

SILENCE_DBFS = -70.0
"""A song whose peak stays below this is "silence only"."""

SIGNAL_STEMS: tuple[str, ...] = (*PHYSICAL_STEMS, *VIRTUAL_STEMS, "global")
"""Stems that get signals: the physical stems, the virtual sub-bands (LR-4 crossovers, see
:mod:`hambajuba_tui.audio.crossover`) and ``global`` (the mono mix)."""
DERIVED_NAMES: tuple[str, ...] = (
    "tension.value",
    "tension.roughness",
    "tension.entropy",
    "tonal_distance.value",
)


def analysis_signal_names() -> list[str]:
    """Every signal of a full analysis, in the order of :attr:`Analysis.signals`."""
    stems = [f"{s}.{name}" for s in SIGNAL_STEMS for name in signal_names(s)]
    return [*stems, *DERIVED_NAMES, *pair_names()]


KEPT_NAMES: frozenset[str] = frozenset(
    [f"{s}.energy_smooth" for s in SIGNAL_STEMS]  # classification
    + [f"{s}.transient" for s in PHYSICAL_STEMS]  # coupling
    + [f"bass.{c}" for c in CHROMA_NAMES]  # the key
    + ["global.novelty_mid", "global.novelty_long"]  # sections
)
"""Signals the later stages read again; every other one goes to the
:class:`~hambajuba_tui.audio.cache.SignalFile` as soon as it is made and is let go of."""


def all_silent_signals(n: int) -> dict[str, np.ndarray]:
    """Every signal of a silent song: zeros."""
    return {name: np.zeros(n, dtype=np.float32) for name in analysis_signal_names()}


def signal_file(folder: Path, n_samples: int) -> cache.SignalFile:
    """A :class:`~hambajuba_tui.audio.cache.SignalFile` for the analysis of ``n_samples``."""
    names = analysis_signal_names()
    return cache.SignalFile(folder / cache.SIGNALS_FILE, names, n_hops(n_samples))


def _noop(stage: str, fraction: float) -> None:
    pass


def _monotonic(progress: Progress) -> Progress:
    """Wrap ``progress`` so the fractions it sees never decrease (and are rounded)."""
    last = 0.0

    def report(stage: str, fraction: float) -> None:
        nonlocal last
        last = max(last, round(min(max(fraction, 0.0), 1.0), 4))
        progress(stage, last)

    return report


def analyze(
    path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    audio: Audio | None = None,
    stems_backend: str = "dsp",
    use_cache: bool = True,
) -> Analysis:
    """Analyse the song at ``path`` (or the already decoded ``audio`` of it).

    The content hash of the file (or of ``audio``'s samples when ``path`` is not a file) keys the
    cache under ``cache_dir`` (default: the user cache); a cache hit returns without decoding.
    Raises :class:`~hambajuba_tui.audio.decode.AudioError` for files that cannot be used.
    A song of silence only gives ``silent=True``, all-zero signals, no beats and 120 BPM.
    """
    report = _monotonic(progress or _noop)
    path = Path(path)
    report("decode", 0.0)
    if audio is None or path.is_file():
        check_path(path)
        song_hash = content_hash(path)
    else:
        song_hash = samples_hash(audio.samples, audio.sr)

    stems_backend = resolve_backend(stems_backend)[0]  # "auto" -> the one that will run
    if use_cache:
        report("cache", 0.01)
        hit = cache.load_cached(song_hash, cache_dir, stems_backend=stems_backend)
        if hit is not None:
            report("done", 1.0)
            return hit

    owned = audio is None
    # Scratch files (the spilled mix and stems, the signals as they are made) live beside the
    # cache entries, so that the finished signal file is moved into its entry, not copied.
    work = cache.work_dir(cache_dir) if use_cache else Path(tempfile.mkdtemp(prefix="hambajuba-"))
    try:
        if owned and stems_backend == "dsp":
            # dsp separates the mono mix: it is decoded a block at a time straight into a file
            # and read back a block at a time from there on (memory flat with the song's length)
            spill = Spill(work)
            decode_mono_file(path, spill.claim("mix"))
            report("decode", 0.1)
            rows = signal_file(work, spill.size("mix"))
            result = _quietly(
                _analyze_spilled, spill, None, [], song_hash, path.stem, stems_backend, report, rows
            )
        else:
            if owned:
                audio = load_audio(path)
            report("decode", 0.1)
            rows = signal_file(work, audio.n_samples)
            result = analyze_audio(
                audio,
                song_hash=song_hash,
                title=path.stem,
                backend=stems_backend,
                progress=report,
                in_place=owned,
                rows=rows,
                work_dir=work,
            )
        if use_cache:
            report("cache", 0.97)
            cache.save(result, cache_dir, rows=rows)
        else:
            result.signals = {name: np.array(x) for name, x in result.signals.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("done", 1.0)
    return result


def _quietly(run: Callable[..., Analysis], *args: object) -> Analysis:
    with warnings.catch_warnings():
        # librosa warns about clips shorter than one FFT frame; those are handled (padded).
        warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
        return run(*args)


def analyze_audio(
    audio: Audio,
    *,
    song_hash: str,
    title: str = "",
    backend: str = "dsp",
    progress: Progress | None = None,
    in_place: bool = False,
    rows: cache.SignalFile | None = None,
    work_dir: Path | None = None,
) -> Analysis:
    """The analysis itself (no cache): stems, rhythm, the full signals of every stem in
    :data:`SIGNAL_STEMS`, harmony (``tension.*``, ``tonal_distance.value``, key), coupling
    between the physical stems, per-stem classification, layer-entry events and sections.

    The mono mix is copied to a file a block at a time and analysed from there; ``in_place``:
    the samples are ours, so ``audio.samples`` is emptied as soon as nothing needs them (for
    demucs, the stereo is high-passed in place and let go of after the separation).
    ``rows``: a :func:`signal_file` that each signal is written to as soon as it is made; the
    result's signals are then read-only views of it (without it: arrays in memory).
    ``work_dir``: where the scratch files go (default: the system's temporary folder)."""
    if audio.sr != SAMPLE_RATE:
        raise ValueError(f"analyze_audio needs {SAMPLE_RATE} Hz audio, got {audio.sr}")
    report = progress or _noop
    with tempfile.TemporaryDirectory(prefix="hambajuba-stems-", dir=work_dir) as folder:
        spill = Spill(folder)
        own_rows = rows is None
        if own_rows:
            rows = signal_file(Path(folder), audio.n_samples)
        # the silence test reads the channels as they are (a song in anti-phase is no silence)
        peak = dc_peak(audio.samples, audio.sr)
        spill_mono(spill, "mix", audio.samples)
        stereo = None
        if peak >= 10 ** (SILENCE_DBFS / 20) and resolve_backend(backend)[0] != "dsp":
            own = in_place and audio.samples.dtype == np.float32
            stereo = remove_dc(audio.samples, audio.sr, out=audio.samples if own else None)
        if in_place:
            audio.samples = np.zeros((0, 2), dtype=np.float32)
        held = [] if stereo is None else [stereo]  # handed over: let go of after separating
        del stereo
        result = _quietly(
            _analyze_spilled, spill, peak, held, song_hash, title, backend, report, rows
        )
        if own_rows:  # read into memory before the folder goes
            result.signals = {name: np.array(x) for name, x in result.signals.items()}
        return result


def _analyze_spilled(
    spill: Spill,
    peak: float | None,
    held: list[np.ndarray],
    song_hash: str,
    title: str,
    backend: str,
    report: Progress,
    rows: cache.SignalFile,
) -> Analysis:
    """The analysis of the mono mix in ``spill`` (``mix``, raw float32 at 44.1 kHz): it is
    high-passed there in place, separated a block at a time (dsp; demucs separates the
    stereo in ``held``, popped so that it is let go of after) and every later step reads the
    mix and the stems from their files a block at a time. ``peak``: the silence test's peak
    when the caller has it (else the mix's)."""
    stereo = held.pop() if held else None
    sr = SAMPLE_RATE
    n_samples = spill.size("mix")
    duration = n_samples / sr
    mix_peak = remove_dc_spilled(spill, "mix", sr)
    peak = mix_peak if peak is None else peak
    if peak < 10 ** (SILENCE_DBFS / 20):
        return Analysis(
            song_hash=song_hash,
            duration=duration,
            bpm=DEFAULT_BPM,
            beats=np.zeros(0, dtype=np.float64),
            downbeats=np.zeros(0, dtype=np.float64),
            stems_backend=backend,
            signals=rows.close(zeros_ok=True),  # never written: zeros
            rate=GRID_RATE,
            title=title,
            silent=True,
        )

    report("stems", 0.1)
    source = Spilled(spill, "mix") if stereo is None else stereo
    separated = separate_stems(
        source,
        sr,
        backend,
        progress=lambda f: report("stems", 0.1 + 0.35 * f),
        spill=spill,
    )
    del source, stereo
    backend = separated.backend  # the backend that really ran
    del separated
    return _analyze_separated(spill, song_hash, title, backend, duration, report, rows)


def mix_features(mix: Spilled) -> tuple[MelSummary, BandFlux]:
    """What the analysis reads of the mix's log-mel, made a block at a time: its onset
    strength and 16 bands (:class:`~hambajuba_tui.audio.signals.MelSummary`) and the band
    fluxes of the rhythm (:class:`~hambajuba_tui.audio.rhythm.BandFlux`); the log-mel itself
    ([96, n_hops] float32, 138 MB at 60 min) is never held."""
    n = n_hops(len(mix))
    summary, flux = MelSummary(n), BandFlux(n, N_MELS)
    for a, b, mel in iter_mel_db(mix):
        flux.add(a, b, summary.add(a, b, mel))
    return summary, flux


def _analyze_separated(
    spill: Spill,
    song_hash: str,
    title: str,
    backend: str,
    duration: float,
    report: Progress,
    rows: cache.SignalFile,
) -> Analysis:
    report("stems", 0.45)
    report("rhythm", 0.46)
    mix = Spilled(spill, "mix")
    summary, mix_flux = mix_features(mix)
    mix_onset, mix_bands = summary.onset, summary.bands
    del summary
    mix_rms = rms(mix)
    # What harmony and rhythm need from the sums of stems is made now, one sum at a time,
    # each in a file read a block at a time.
    harmonic_part = spill_sum(spill, "harmonic", "mix", "drums", -1.0)  # mono - drums
    chroma = harmonic_chroma(harmonic_part)
    harmony_in = harmony_parts(harmonic_part)
    del harmonic_part
    spill.drop("harmonic")
    # Chords change on downbeats, but a lead line moves inside the bar: the downbeat cue reads
    # the chord changes of the accompaniment (bass + other) only.
    bass_rms = rms(Spilled(spill, "bass"))
    accompaniment_y = spill_sum(spill, "accompaniment", "bass", "other")
    accompaniment = harmonic_chroma(accompaniment_y)
    accompaniment_rms = rms(accompaniment_y)
    del accompaniment_y
    spill.drop("accompaniment")
    rhythm = analyze_rhythm(mix_onset, mix_flux, chroma=accompaniment, energy=mix_rms)
    del mix_flux
    report("rhythm", 0.55)

    signals, stats = _stem_signals(spill, mix_onset, mix_rms, rhythm.bpm, report, rows)
    report("harmony", 0.86)
    derived, keys = harmony_from_parts(
        harmony_in,
        chroma,
        key_parts=[
            (accompaniment, accompaniment_rms),
            (np.stack([signals[f"bass.{c}"] for c in CHROMA_NAMES]), bass_rms),
        ],
        beats=rhythm.beats,
    )
    rows.write_all(derived)
    del derived
    report("coupling", 0.9)
    rows.write_all(coupling_signals(signals, rhythm.bpm))
    classification = {
        s: classify(signals[f"{s}.energy_smooth"], st.flatness, st.percussive, st.pitch_conf)
        for s, st in stats.items()
    }
    events = {
        f"{s}.layer_entry": st.entries.astype(np.float64) / GRID_RATE for s, st in stats.items()
    }
    sections = segment(
        np.sqrt(signals["global.novelty_mid"] * signals["global.novelty_long"]),
        (mix_bands - FLUX_FLOOR_DB) / -FLUX_FLOOR_DB,
        rhythm.bpm,
        rhythm.downbeats,
        duration,
    )
    report("coupling", 0.95)
    return Analysis(
        song_hash=song_hash,
        duration=duration,
        bpm=rhythm.bpm,
        beats=rhythm.beats,
        downbeats=rhythm.downbeats,
        stems_backend=backend,
        signals=rows.close(),
        rate=GRID_RATE,
        title=title,
        silent=False,
        key=main_key(keys, duration),
        keys=keys,
        events=events,
        classification=classification,
        pitch_hz={s: st.pitch_hz for s, st in stats.items() if st.pitch_hz is not None},
        sections=sections,
    )


DC_HIGHPASS_HZ = 10.0
"""A DC offset (or a drift far below any note) is removed before analysis: a 2nd-order
Butterworth high-pass, run forward in blocks (no float64 copy of the song)."""
_DC_BLOCK = 1 << 18


def _dc_removed(
    read: Callable[[int, int], np.ndarray], n: int, sr: int
) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, float32 block)`` of the :data:`DC_HIGHPASS_HZ` high-pass over the ``n``
    samples (float [n] or [n, channels]) that ``read(start, count)`` gives, a block at a time
    with the filter state carried and settled on the first sample (a constant offset leaves
    no click). One filter for the array, the peak and the file versions below."""
    from scipy.signal import butter, sosfilt, sosfilt_zi

    if n == 0:
        return
    sos = butter(2, DC_HIGHPASS_HZ, "highpass", fs=sr, output="sos")
    first = np.asarray(read(0, 1)[0], dtype=np.float64)
    zi = sosfilt_zi(sos).reshape(sos.shape[0], 2, *(1,) * first.ndim) * first
    for start in range(0, n, _DC_BLOCK):
        part, zi = sosfilt(sos, read(start, min(_DC_BLOCK, n - start)), axis=0, zi=zi)
        yield start, part.astype(np.float32)


def remove_dc(samples: np.ndarray, sr: int, out: np.ndarray | None = None) -> np.ndarray:
    """``samples`` (float [n] or [n, channels]) high-passed at :data:`DC_HIGHPASS_HZ`, into
    ``out`` (may be ``samples`` itself) or a new float32 array."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) == 0:
        return x
    out = np.empty_like(x) if out is None else out
    for start, part in _dc_removed(lambda a, count: x[a : a + count], len(x), sr):
        out[start : start + len(part)] = part
    return out


def dc_peak(samples: np.ndarray, sr: int) -> float:
    """The largest ``|sample|`` of :func:`remove_dc` of ``samples``, made a block at a time
    without keeping the filtered copy."""
    x = np.asarray(samples)
    blocks = _dc_removed(lambda a, count: x[a : a + count], len(x), sr)
    return max((float(np.max(np.abs(part))) for _, part in blocks), default=0.0)


def remove_dc_spilled(spill: Spill, name: str, sr: int) -> float:
    """:func:`remove_dc` of the spilled ``name``, in place in its file a block at a time
    (the same blocks and filter state, so the same numbers); returns the largest ``|sample|``
    of the result (:func:`dc_peak`)."""
    peak = 0.0
    read = lambda a, count: spill.read(name, a, count)  # noqa: E731
    for start, part in _dc_removed(read, spill.size(name), sr):
        peak = max(peak, float(np.max(np.abs(part))))
        spill.write_at(name, start, part)
    return peak


def _stem_signals(
    spill: Spill,
    mix_onset: np.ndarray,
    mix_rms: np.ndarray,
    bpm: float,
    report: Progress,
    rows: cache.SignalFile,
) -> tuple[dict[str, np.ndarray], dict]:
    """Full signals of every stem in :data:`SIGNAL_STEMS` (virtual stems cut here), one stem
    at a time: each physical stem is read back from ``spill`` (``global``: the ``mix``), and
    let go of once its own signals and those of the virtual stems cut from it are made.
    Every signal goes to ``rows`` as soon as it is made. Returns (the signals of
    :data:`KEPT_NAMES` by ``<stem>.<name>``, raw stats by stem in the order of
    :data:`SIGNAL_STEMS`)."""
    ref = float(np.percentile(mix_rms, 95))
    cut_from: dict[str, list[str]] = {}
    for name, (src, _, _) in VIRTUAL_BANDS.items():
        cut_from.setdefault(src, []).append(name)
    physical = [s for s in SIGNAL_STEMS if s in PHYSICAL_STEMS]
    total = len(SIGNAL_STEMS)
    done: dict[str, object] = {}
    kept: dict[str, np.ndarray] = {}

    def keep(stem: str, analysed: tuple[dict[str, np.ndarray], object]) -> None:
        own, done[stem] = analysed
        for key, v in own.items():
            rows.write(f"{stem}.{key}", v)
            if f"{stem}.{key}" in KEPT_NAMES:
                kept[f"{stem}.{key}"] = v
        report("signals", 0.55 + 0.3 * len(done) / total)

    for name in [*physical, "global"]:
        y = Spilled(spill, "mix" if name == "global" else name)
        if name == "global":
            keep(
                name,
                stem_analysis(y, name, bpm=bpm, ref_rms=ref, onset_env=mix_onset, energy=mix_rms),
            )
        else:
            keep(name, stem_analysis(y, name, bpm=bpm, ref_rms=ref))
        del y
        for virtual in cut_from.get(name, ()):
            _, lo, hi = VIRTUAL_BANDS[virtual]
            # filtered file to file a block at a time, and analysed from its file
            y = band_spilled(Spilled(spill, name), lo, hi, spill, virtual)
            keep(virtual, stem_analysis(y, virtual, bpm=bpm, ref_rms=ref))
            del y
            spill.drop(virtual)
    assert sorted(done) == sorted(SIGNAL_STEMS)
    return kept, {name: done[name] for name in SIGNAL_STEMS}
