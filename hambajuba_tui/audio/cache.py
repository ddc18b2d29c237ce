"""On-disk cache of analyses: one directory per song content hash.

Layout under :func:`hambajuba_tui.paths.analysis_cache_dir` (or a given root)::

    <song_hash>/
        meta.json     format_version, song_hash, duration, bpm, stems_backend, title, silent,
                      key, classification ({stem: {name: float}}), sections ([[start, end,
                      label], ...]), events ({name: [seconds, ...]}), signal names, ...
        signals.npz   every signal (float32 [n_hops], key "<stem>.<signal>"),
                      plus "beats" and "downbeats" (float64 seconds) and "pitch_hz:<stem>"
                      (float32 [n_hops], Hz)

An entry is written into a temporary sibling directory and renamed into place, so a crash or
Ctrl-C never leaves half an entry. Entries with another :data:`FORMAT_VERSION`, or that cannot
be read, count as missing (and are overwritten by the next analysis).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from hambajuba_tui import paths
from hambajuba_tui.audio.analysis import Analysis
from hambajuba_tui.audio.decode import MAX_DURATION_S
from hambajuba_tui.safeio import LoadError, load_json
from hambajuba_tui.vocab import GRID_RATE

FORMAT_VERSION = 3
"""2: the full signal set (virtual stems, harmony, coupling), key, events, classification,
sections. 3: keys over time, accompaniment-led downbeats, layer entries that ignore leakage."""
META_FILE = "meta.json"
ARRAYS_FILE = "signals.npz"
PITCH_PREFIX = "pitch_hz:"
_STALE_TMP_S = 3600.0
MAX_META_BYTES = 16 * 1024 * 1024


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding one sub-directory per song hash (created if needed)."""
    if cache_dir is None:
        return paths.analysis_cache_dir()
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    return root


def entry_dir(song_hash: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    return cache_root(cache_dir) / song_hash


def load_cached(
    song_hash: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    stems_backend: str | None = None,
) -> Analysis | None:
    """The cached :class:`Analysis` for ``song_hash``, or None when there is no usable entry
    (missing, other format version, other stem backend when one is asked for, unreadable)."""
    entry = entry_dir(song_hash, cache_dir)
    try:
        meta = load_json(entry / META_FILE, "cache metadata", MAX_META_BYTES)
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            return None
        if meta.get("song_hash") != song_hash:
            return None
        if stems_backend is not None and meta.get("stems_backend") != stems_backend:
            return None
        with np.load(entry / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        pitch_hz = {
            k.split(":", 1)[1]: arrays.pop(k) for k in list(arrays) if k.startswith(PITCH_PREFIX)
        }
        beats = arrays.pop("beats").astype(np.float64)
        downbeats = arrays.pop("downbeats").astype(np.float64)
        names = meta.get("signals")
        if not isinstance(names, list) or sorted(names) != sorted(arrays):
            return None
        lengths = {a.shape for a in arrays.values()}
        if len(lengths) > 1 or any(a.ndim != 1 or a.dtype != np.float32 for a in arrays.values()):
            return None
        if beats.ndim != 1 or downbeats.ndim != 1:
            return None
        if not _plausible(meta, arrays, beats, downbeats, pitch_hz):
            return None
        return Analysis(
            song_hash=song_hash,
            duration=float(meta["duration"]),
            bpm=float(meta["bpm"]),
            beats=beats,
            downbeats=downbeats,
            stems_backend=str(meta["stems_backend"]),
            signals={name: arrays[name] for name in names},
            rate=float(meta["rate"]),
            title=str(meta.get("title", "")),
            silent=bool(meta.get("silent", False)),
            pitch_hz=pitch_hz,
            key=str(meta.get("key", "")),
            keys=[(float(t), str(k)) for t, k in meta.get("keys", [])],
            events={
                str(k): np.asarray(v, dtype=np.float64).reshape(-1)
                for k, v in meta.get("events", {}).items()
            },
            classification={
                str(stem): {str(k): float(v) for k, v in w.items()}
                for stem, w in meta.get("classification", {}).items()
            },
            sections=[(float(a), float(b), str(lab)) for a, b, lab in meta.get("sections", [])],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, LoadError):
        return None
    except Exception:  # a damaged npz raises zipfile.BadZipFile and friends
        return None


def _number(meta: dict, key: str, lo: float, hi: float) -> bool:
    v = meta.get(key)
    return isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi


def _plausible(meta: dict, arrays: dict, beats, downbeats, pitch_hz: dict) -> bool:
    """Values and shapes an analysis of a real song can have (NaN, a negative duration, a zero
    rate or cut signals mean a damaged or tampered entry: it is analysed again)."""
    if not (
        _number(meta, "duration", 0.0, MAX_DURATION_S + 60.0)
        and meta["duration"] > 0
        and _number(meta, "bpm", 1.0, 1000.0)
        and _number(meta, "rate", GRID_RATE, GRID_RATE)
        and isinstance(meta.get("stems_backend"), str)
    ):
        return False
    expected = meta["duration"] * meta["rate"]
    n = len(next(iter(arrays.values()))) if arrays else 0
    if not arrays or abs(n - expected) > 2 + 0.001 * expected:
        return False
    for a in (*arrays.values(), beats, downbeats):
        if not np.isfinite(a).all():
            return False
    if any(np.shape(p) != (n,) or not np.isfinite(p).all() for p in pitch_hz.values()):
        return False
    end = meta["duration"] + 1.0
    for times in (beats, downbeats):
        if len(times) and (times[0] < 0 or times[-1] > end or np.any(np.diff(times) <= 0)):
            return False
    for key, kind in (("keys", list), ("events", dict), ("classification", dict)):
        if not isinstance(meta.get(key, kind()), kind):
            return False
    sections = meta.get("sections", [])
    return isinstance(sections, list) and all(isinstance(s, list) and len(s) == 3 for s in sections)


def _remove(path: Path) -> None:
    """Remove a leftover, whatever it is (a directory, or a file where an entry should be)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def save(analysis: Analysis, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``analysis`` to its cache entry atomically; return the entry directory."""
    root = cache_root(cache_dir)
    final = root / analysis.song_hash
    tmp = root / f".{analysis.song_hash}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _remove_stale(root)
    try:
        tmp.mkdir()
        arrays = {name: np.asarray(a, dtype=np.float32) for name, a in analysis.signals.items()}
        arrays.update(
            {
                f"{PITCH_PREFIX}{stem}": np.asarray(hz, dtype=np.float32)
                for stem, hz in analysis.pitch_hz.items()
            }
        )
        arrays["beats"] = np.asarray(analysis.beats, dtype=np.float64)
        arrays["downbeats"] = np.asarray(analysis.downbeats, dtype=np.float64)
        np.savez(tmp / ARRAYS_FILE, **arrays)
        meta = {
            "format_version": FORMAT_VERSION,
            "song_hash": analysis.song_hash,
            "duration": analysis.duration,
            "bpm": analysis.bpm,
            "stems_backend": analysis.stems_backend,
            "title": analysis.title,
            "silent": analysis.silent,
            "rate": analysis.rate,
            "n_hops": analysis.n_hops,
            "signals": list(analysis.signals),
            "key": analysis.key,
            "keys": [[float(t), str(k)] for t, k in analysis.keys],
            "events": {k: [float(t) for t in v] for k, v in analysis.events.items()},
            "classification": {
                s: {k: float(v) for k, v in w.items()} for s, w in analysis.classification.items()
            },
            "sections": [[float(a), float(b), str(lab)] for a, b, lab in analysis.sections],
            "created": time.time(),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if final.exists():  # an older or damaged entry: move it aside, then swap
            old = root / f".{analysis.song_hash}.old-{uuid.uuid4().hex[:8]}"
            try:
                final.rename(old)
            except OSError:
                pass
            else:
                _remove(old)
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():  # not a concurrent writer beating us to it
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _remove_stale(root: Path) -> None:
    """Remove temporary directories left by crashed writers (older than an hour)."""
    now = time.time()
    for child in [*root.glob(".*.tmp-*"), *root.glob(".*.old-*")]:
        try:
            if ".old-" in child.name or now - child.lstat().st_mtime > _STALE_TMP_S:
                _remove(child)
        except OSError:
            pass
