"""Analysis benchmark: seconds of analysis per minute of audio for each stem backend, peak
memory, and the time to load a cached 3-minute song.

The song is the built-in demo (synthesised, 124 BPM), cut or repeated to ``--minutes``. Each
backend runs the whole pipeline (decode, stems, every signal, rhythm) without the cache.
``demucs`` runs only when the package and its htdemucs weights are on this machine; otherwise
the table says why it was skipped, and ``--demucs-architecture`` (on by default then) times
the separation step alone with the htdemucs *architecture* and random weights: the same
arithmetic as the real model (default ``HTDemucs`` hyperparameters, 7.8 s segments, one
shift, 25 % overlap, as the backend runs it), so the seconds are honest while the stems are
noise. Peak memory: the tracemalloc peak of this process during the
analysis (numpy arrays included; a second, traced run so the timing is not slowed) and the
max RSS of this process and of child processes (demucs separates in a child). ``--rss`` also
gives the CPU seconds (all threads) per minute of audio, a figure a busy machine skews less
than the wall-clock one.

Prints one JSON line (name, figures, machine), then a short table.

    python bench/analysis.py [--minutes 1] [--backends dsp demucs] [--no-demucs-architecture]
    python bench/analysis.py --rss 1 10 60    # peak RSS against duration, one process each
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hambajuba_tui.audio import cache  # noqa: E402
from hambajuba_tui.audio.analysis import Analysis, analyze  # noqa: E402
from hambajuba_tui.audio.decode import content_hash  # noqa: E402
from hambajuba_tui.audio.demo_song import synthesize_demo  # noqa: E402
from hambajuba_tui.vocab import SAMPLE_RATE  # noqa: E402

CACHED_MINUTES = 3.0


def song_of(minutes: float, mix: np.ndarray) -> np.ndarray:
    """The demo mix (float32 [n, 2]) repeated and cut to ``minutes``."""
    n = int(round(minutes * 60 * SAMPLE_RATE))
    reps = int(np.ceil(n / len(mix)))
    return np.tile(mix, (reps, 1))[:n]


def write_song(path: Path, minutes: float, mix: np.ndarray) -> None:
    """Write :func:`song_of` to ``path`` (16-bit WAV) a repeat of ``mix`` at a time, so the
    whole song is never in this process's memory (it would count in the peak RSS measured)."""
    n = int(round(minutes * 60 * SAMPLE_RATE))
    with sf.SoundFile(
        path, "w", samplerate=SAMPLE_RATE, channels=mix.shape[1], subtype="PCM_16"
    ) as f:
        for a in range(0, n, len(mix)):
            f.write(mix[: min(len(mix), n - a)])


def skip_reason(backend: str) -> str | None:
    """None when ``backend`` can run here, else why not."""
    if backend == "dsp":
        return None
    if backend != "demucs":
        return f"unknown backend {backend!r}"
    try:
        from hambajuba_tui.audio.demucs_backend import availability
    except ImportError as err:
        return f"this build has no demucs backend ({err})"
    usable, why = availability()
    return None if usable else why.removeprefix("demucs: ")


def max_rss_mb(who: int) -> float:
    """ru_maxrss in MB (Linux reports kB, macOS bytes)."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def reset_peak_rss() -> None:
    """Reset this process's VmHWM (Linux: ``clear_refs`` 5), so :func:`run_peak_rss_mb` sees
    the measured run alone, not the demo's synthesis before it; ru_maxrss cannot be reset."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def run_peak_rss_mb() -> float | None:
    """VmHWM in MB (the peak RSS since :func:`reset_peak_rss`), None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_backend(path: Path, backend: str, minutes: float, root: Path) -> dict:
    start = time.perf_counter()
    result = analyze(path, cache_dir=root / "cache", stems_backend=backend, use_cache=False)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    try:
        analyze(path, cache_dir=root / "cache", stems_backend=backend, use_cache=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "backend": result.stems_backend,
        "seconds": round(seconds, 3),
        "seconds_per_minute": round(seconds / minutes, 3),
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "max_rss_mb": round(max_rss_mb(resource.RUSAGE_SELF), 1),
        "children_max_rss_mb": round(max_rss_mb(resource.RUSAGE_CHILDREN), 1),
        "signals": len(result.signals),
        "bpm": round(result.bpm, 2),
    }, result


def time_demucs_architecture(minutes: float, mix: np.ndarray) -> dict:
    """Seconds per minute of audio of the separation step with an htdemucs-shaped model
    (random weights), run through the backend's own ``separate_in_process``."""
    import torch
    from demucs.htdemucs import HTDemucs

    from hambajuba_tui.audio.demucs_backend import separate_in_process

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8).eval()
    params = sum(p.numel() for p in model.parameters())
    audio = song_of(minutes, mix)
    separate_in_process(audio[: 8 * SAMPLE_RATE], SAMPLE_RATE, model)  # warm-up
    start = time.perf_counter()
    separate_in_process(audio, SAMPLE_RATE, model)
    seconds = time.perf_counter() - start
    return {
        "backend": "demucs-arch",
        "what": "htdemucs architecture, random weights (no weights here): separation only",
        "params_m": round(params / 1e6, 2),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(seconds, 2),
        "seconds_per_minute": round(seconds / minutes, 2),
        "times_realtime": round(seconds / (minutes * 60), 3),
    }


def tiled(analysis: Analysis, n_hops: int, song_hash: str) -> Analysis:
    """``analysis`` with every signal repeated to ``n_hops``: the size and keys of a real
    analysis of that length, for timing the cache without analysing it."""
    reps = int(np.ceil(n_hops / max(analysis.n_hops, 1)))
    signals = {k: np.tile(v, reps)[:n_hops] for k, v in analysis.signals.items()}
    period = analysis.duration
    beats = np.concatenate([analysis.beats + k * period for k in range(reps)])
    downbeats = np.concatenate([analysis.downbeats + k * period for k in range(reps)])
    duration = (n_hops - 1) / analysis.rate
    return Analysis(
        song_hash=song_hash,
        duration=duration,
        bpm=analysis.bpm,
        beats=beats[beats < duration],
        downbeats=downbeats[downbeats < duration],
        stems_backend=analysis.stems_backend,
        signals=signals,
        rate=analysis.rate,
        title="bench-3min",
    )


def time_cached_load(root: Path, mix: np.ndarray, analysed: Analysis, minutes: float) -> dict:
    """Seconds for ``analyze()`` of a 3-minute song whose analysis is cached (content hash of
    the file + reading the entry), and for reading the entry alone."""
    path = root / "three-minutes.wav"
    audio = song_of(CACHED_MINUTES, mix)
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    song_hash = content_hash(path)
    n_hops = 1 + len(audio) // round(SAMPLE_RATE / analysed.rate)
    if minutes == CACHED_MINUTES and analysed.n_hops == n_hops:
        entry, how = analysed, "analysed"
    else:
        entry, how = tiled(analysed, n_hops, song_hash), f"tiled from {minutes:g} min"
    entry.song_hash = song_hash
    cache_dir = root / "cache3"
    saved = cache.save(entry, cache_dir)
    size = sum(f.stat().st_size for f in saved.iterdir())
    full, load_only = [], []
    for _ in range(5):
        start = time.perf_counter()
        hit = analyze(path, cache_dir=cache_dir, stems_backend=entry.stems_backend)
        full.append(time.perf_counter() - start)
        assert hit.n_hops == n_hops, "cache miss"
        start = time.perf_counter()
        cache.load_cached(song_hash, cache_dir)
        load_only.append(time.perf_counter() - start)
    return {
        "minutes": CACHED_MINUTES,
        "entry": how,
        "entry_mb": round(size / 2**20, 2),
        "signals": len(entry.signals),
        "analyze_hit_s_first": round(full[0], 4),
        "analyze_hit_s_median": round(statistics.median(full), 4),
        "load_cached_s_median": round(statistics.median(load_only), 4),
    }


def rss_child(minutes: float) -> None:
    """In a fresh process: analyse a ``minutes``-long song (dsp, into an empty cache, as
    ``hambajuba analyze`` does); print one JSON line with the seconds and this process's peak
    RSS."""
    import gc

    mix = synthesize_demo().mix
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-song.wav"
        write_song(path, minutes, mix)
        warm = Path(tmp) / "warm-up.wav"  # imports and JIT compiles: not timed
        sf.write(warm, mix[: 5 * SAMPLE_RATE], SAMPLE_RATE, subtype="PCM_16")
        del mix
        analyze(warm, cache_dir=Path(tmp) / "cache", stems_backend="dsp", use_cache=False)
        gc.collect()
        reset_peak_rss()
        start, cpu = time.perf_counter(), time.process_time()
        # as `hambajuba analyze` runs it: into a (fresh) cache entry
        analyze(path, cache_dir=Path(tmp) / "cache", stems_backend="dsp")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        json.dumps(
            {
                "minutes": minutes,
                "seconds": round(seconds, 2),
                "seconds_per_minute": round(seconds / minutes, 2),
                "cpu_seconds_per_minute": round(cpu / minutes, 2),
                "max_rss_mb": round(max_rss_mb(resource.RUSAGE_SELF), 1),
                "run_peak_rss_mb": run_peak_rss_mb(),
            }
        )
    )


def rss_by_duration(durations: list[float]) -> None:
    """Peak RSS of ``analyze`` against the song's duration: each duration in its own process
    (ru_maxrss only grows), then one JSON line and a table."""
    import subprocess

    rows = []
    for minutes in durations:
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(minutes)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(json.dumps({"name": "analysis-rss", "rows": rows, "cpus": os.cpu_count()}))
    print(
        f"{'minutes':>8}{'seconds':>10}{'s/min audio':>13}{'CPU s/min':>11}{'peak RSS MB':>13}"
        f"{'run peak MB':>13}"
    )
    for r in rows:
        run_peak = r.get("run_peak_rss_mb")
        print(
            f"{r['minutes']:>8g}{r['seconds']:>10.1f}{r['seconds_per_minute']:>13.2f}"
            f"{r.get('cpu_seconds_per_minute', float('nan')):>11.2f}{r['max_rss_mb']:>13.0f}"
            f"{run_peak if run_peak is not None else float('nan'):>13.0f}"
        )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--rss-child":
        rss_child(float(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="song length (default 1)")
    ap.add_argument(
        "--backends",
        nargs="+",
        default=["dsp", "demucs"],
        help="stem backends to time (default: dsp demucs)",
    )
    ap.add_argument(
        "--no-demucs-architecture",
        action="store_true",
        help="when demucs is skipped, do not time the htdemucs architecture",
    )
    ap.add_argument(
        "--rss",
        nargs="+",
        type=float,
        metavar="MINUTES",
        help="instead: peak RSS of analyze (dsp) at each song length, e.g. --rss 1 10 60",
    )
    args = ap.parse_args()
    if args.rss:
        rss_by_duration(args.rss)
        return
    if args.minutes <= 0:
        ap.error("--minutes must be positive")
    mix = synthesize_demo().mix
    rows, skipped, first = [], {}, None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "bench-song.wav"
        write_song(path, args.minutes, mix)
        warm = root / "warm-up.wav"  # first calls import librosa and compile; not timed
        sf.write(warm, mix[: 5 * SAMPLE_RATE], SAMPLE_RATE, subtype="PCM_16")
        analyze(warm, cache_dir=root / "cache", use_cache=False)
        for backend in args.backends:
            why = skip_reason(backend)
            if why is not None:
                skipped[backend] = why
                continue
            row, result = run_backend(path, backend, args.minutes, root)
            rows.append(row)
            first = first or result
        cached = time_cached_load(root, mix, first, args.minutes) if first else None
    arch = None
    if "demucs" in skipped and not args.no_demucs_architecture:
        try:
            arch = time_demucs_architecture(args.minutes, mix)
        except ImportError as err:
            skipped["demucs-arch"] = f"demucs is not installed ({err})"
    out = {
        "name": "analysis",
        "minutes": args.minutes,
        "backends": rows,
        "skipped": skipped,
        "cached_load": cached,
        "demucs_architecture": arch,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    print(json.dumps(out))
    print(
        f"{'backend':<8}{'s/min audio':>12}{'seconds':>9}{'tracemalloc MB':>16}"
        f"{'max RSS MB':>12}{'child RSS MB':>14}"
    )
    for r in rows:
        print(
            f"{r['backend']:<8}{r['seconds_per_minute']:>12.2f}{r['seconds']:>9.2f}"
            f"{r['tracemalloc_peak_mb']:>16.1f}{r['max_rss_mb']:>12.1f}"
            f"{r['children_max_rss_mb']:>14.1f}"
        )
    for backend, why in skipped.items():
        print(f"{backend:<8}skipped: {why}")
    if arch:
        print(
            f"{'demucs':<8}{arch['seconds_per_minute']:>12.2f}{arch['seconds']:>9.2f}   "
            f"separation only, {arch['what'].split(':')[0]} ({arch['params_m']:.1f} M "
            f"params, {arch['times_realtime']:.2f}x the audio's duration)"
        )
    if cached:
        print(
            f"cached {cached['minutes']:g}-min song ({cached['entry']}, "
            f"{cached['entry_mb']:.1f} MB, {cached['signals']} signals): analyze() hit "
            f"{cached['analyze_hit_s_median'] * 1000:.0f} ms median "
            f"({cached['analyze_hit_s_first'] * 1000:.0f} ms first), "
            f"cache read alone {cached['load_cached_s_median'] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
