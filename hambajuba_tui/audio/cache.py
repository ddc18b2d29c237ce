"""On-disk cache of analyses: one directory per song content hash.

Layout under :func:`hambajuba_tui.paths.analysis_cache_dir` (or a given root)::

    <song_hash>/
        meta.json     format_version, song_hash, duration, bpm, stems_backend, title, silent,
                      key, classification ({stem: {name: float}}), sections ([[start, end,
                      label], ...]), events ({name: [seconds, ...]}), signal names, ...
        signals.npy   every signal: float32 [n_signals, n_hops], one row per name of
                      meta's "signals", in that order
        extras.npz    "beats" and "downbeats" (float64 seconds) and "pitch_hz:<stem>"
                      (float32 [n_hops], Hz)

An entry is written into a temporary sibling directory and renamed into place, so a crash or
Ctrl-C never leaves half an entry. Entries with another :data:`FORMAT_VERSION`, or that cannot
be read, count as missing (and are overwritten by the next analysis).

The signals are one matrix, not an archive of arrays, so that the analysis can write each row
as soon as it is made (:class:`SignalFile`): a long song's ~330 signals (8 MB a minute) never
wait in memory, and the finished file is moved into the entry as it is.
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
from hambajuba_tui.shm import pid_alive
from hambajuba_tui.vocab import GRID_RATE

FORMAT_VERSION = 4
"""2: the full signal set (virtual stems, harmony, coupling), key, events, classification,
sections. 3: keys over time, accompaniment-led downbeats, layer entries that ignore leakage.
4: the signals in one ``signals.npy`` matrix, the rest in ``extras.npz``."""
META_FILE = "meta.json"
SIGNALS_FILE = "signals.npy"
EXTRAS_FILE = "extras.npz"
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
        with np.load(entry / EXTRAS_FILE, allow_pickle=False) as npz:
            extras = {key: npz[key] for key in npz.files}
        pitch_hz = {
            k.split(":", 1)[1]: extras.pop(k) for k in list(extras) if k.startswith(PITCH_PREFIX)
        }
        beats = extras.pop("beats").astype(np.float64)
        downbeats = extras.pop("downbeats").astype(np.float64)
        names = meta.get("signals")
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            return None
        if len(set(names)) != len(names):
            return None
        matrix = _read_signals(entry / SIGNALS_FILE)
        if matrix is None or matrix.shape[0] != len(names):
            return None
        arrays = {name: matrix[i] for i, name in enumerate(names)}
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


def _read_signals(path: Path) -> np.ndarray | None:
    """The float32 [n_signals, n_hops] matrix of ``path`` read into memory (a damaged or
    tampered file later would otherwise fault a reader holding a memory map), or None."""
    if not path.is_file():  # a FIFO or a folder in its place is no entry
        return None
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # checks the size first
    if mapped.ndim != 2 or mapped.dtype != np.float32:
        return None
    return np.array(mapped)


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


def save(
    analysis: Analysis,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    rows: SignalFile | None = None,
) -> Path:
    """Write ``analysis`` to its cache entry atomically; return the entry directory.

    ``rows``: the :class:`SignalFile` that already holds ``analysis.signals`` (closed), moved
    into the entry instead of writing the signals again; it must be in the cache root's file
    system (see :func:`work_dir`)."""
    root = cache_root(cache_dir)
    final = root / analysis.song_hash
    tmp = root / f".{analysis.song_hash}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _remove_stale(root)
    try:
        tmp.mkdir()
        if rows is None:
            names = list(analysis.signals)
            write_signals(tmp / SIGNALS_FILE, analysis.signals)
        else:
            names = rows.names
            if sorted(names) != sorted(analysis.signals):
                raise ValueError("the signal file does not hold this analysis's signals")
            os.replace(rows.path, tmp / SIGNALS_FILE)
            rows.path = tmp / SIGNALS_FILE
        extras = {
            f"{PITCH_PREFIX}{stem}": np.asarray(hz, dtype=np.float32)
            for stem, hz in analysis.pitch_hz.items()
        }
        extras["beats"] = np.asarray(analysis.beats, dtype=np.float64)
        extras["downbeats"] = np.asarray(analysis.downbeats, dtype=np.float64)
        np.savez(tmp / EXTRAS_FILE, **extras)
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
            "signals": names,
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
        else:
            if rows is not None:
                rows.path = final / SIGNALS_FILE
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


class SignalFile:
    """An analysis's signals written straight to a float32 ``.npy`` matrix [n_signals, n_hops],
    a row at a time as they are made, so that they never wait in memory together (at 60 min
    ~330 rows of 1.4 MB). Names are declared up front; :meth:`close` checks every row was
    written and gives the rows back as views of a read-only memory map (paged in as read)."""

    def __init__(self, path: str | os.PathLike[str], names: list[str], n_hops: int) -> None:
        self.path = Path(path)
        self.names = list(names)
        self.n_hops = int(n_hops)
        self._index = {name: i for i, name in enumerate(self.names)}
        if len(self._index) != len(self.names):
            raise ValueError("signal names repeat")
        self._written = np.zeros(len(self.names), dtype=bool)
        with self.path.open("wb") as f:
            _write_header(f, (len(self.names), self.n_hops))
            self._offset = f.tell()
            f.truncate(self._offset + 4 * len(self.names) * self.n_hops)  # zeros, sparse
        self._fd: int | None = os.open(self.path, os.O_WRONLY)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def write(self, name: str, x: np.ndarray) -> None:
        """Row ``name`` := ``x`` (float [n_hops])."""
        i = self._index[name]
        row = np.ascontiguousarray(x, dtype=np.float32)
        if row.shape != (self.n_hops,):
            raise ValueError(f"signal {name!r} has shape {row.shape}, not ({self.n_hops},)")
        if self._fd is None:
            raise ValueError("the signal file is closed")
        os.pwrite(self._fd, row.data, self._offset + 4 * i * self.n_hops)
        self._written[i] = True

    def write_all(self, signals: dict[str, np.ndarray]) -> None:
        for name, x in signals.items():
            self.write(name, x)

    def close(self, *, zeros_ok: bool = False) -> dict[str, np.ndarray]:
        """Finish the file; every row must have been written (``zeros_ok``: rows not written
        are zeros). Returns ``{name: row}`` as read-only memory-mapped views."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not zeros_ok and not self._written.all():
            missing = [n for n, done in zip(self.names, self._written, strict=True) if not done]
            raise ValueError(f"signals never written: {', '.join(missing[:5])}")
        matrix = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return {name: matrix[i] for i, name in enumerate(self.names)}

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)


def _write_header(f, shape: tuple[int, int]) -> None:
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(f, header)


def write_signals(path: Path, signals: dict[str, np.ndarray]) -> None:
    """``signals`` (equal-length float arrays) as the matrix of :data:`SIGNALS_FILE`, a row at
    a time (no stacked copy)."""
    n = len(next(iter(signals.values()))) if signals else 0
    with path.open("wb") as f:
        _write_header(f, (len(signals), n))
        for name, x in signals.items():
            row = np.ascontiguousarray(x, dtype=np.float32)
            if row.shape != (n,):
                raise ValueError(f"signal {name!r} has shape {row.shape}, not ({n},)")
            f.write(row.data)


def work_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A new private folder in the cache root for an analysis's scratch files (spilled audio,
    the :class:`SignalFile`): in the same file system as the entries, so the signals are
    moved in, not copied. The caller removes it; a crashed process's is removed by the next
    :func:`save` (see :func:`_remove_stale`)."""
    root = cache_root(cache_dir)
    path = root / f".work-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def _remove_stale(root: Path) -> None:
    """Remove temporary directories left by crashed writers (older than an hour)."""
    now = time.time()
    for child in [*root.glob(".*.tmp-*"), *root.glob(".*.old-*")]:
        try:
            if ".old-" in child.name or now - child.lstat().st_mtime > _STALE_TMP_S:
                _remove(child)
        except OSError:
            pass
    for child in root.glob(".work-*"):  # an analysis's scratch: stale once its process is gone
        pid = child.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            _remove(child)
