"""The signal store: streaming-analysis signals in shared memory, and the Analysis that reads them.

One producer (the listener for ``live``, the fast pass for ``play``) writes grid hops as the
streaming analyser makes them; the engine worker and the TUI read them through
:class:`StreamAnalysis`, which offers the same seam as an offline
:class:`~hambajuba_tui.audio.analysis.Analysis` (``signals``, ``sample``, ``beat_phase``,
``beats``, ``bpm``, ``key``, ``events``), so the conductor, the face and the orbs need no
second code path.

Layout of the segment: a 128-byte header, then ``float32 [n_names, capacity]`` signals (frame
``i`` lives in column ``i % capacity``: a ring for live input, the whole song for a file), then
``float64 [beat_capacity]`` beat times (a ring too), then ``float64 [entry_capacity, 2]`` layer
entries ``(stem index, time)``. The producer writes the columns first and then bumps
``hops``; readers never look past ``hops``, so they never see half a hop. Nothing waits:
a reader samples what is there and clamps at the newest hop.

The TUI process creates (owns and unlinks) the segment; producer and worker attach.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from hambajuba_tui import shm
from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS, VIRTUAL_STEMS

_HEAD = np.dtype(
    [
        ("magic", "<u4"),
        ("n_names", "<u4"),
        ("capacity", "<u4"),
        ("beat_capacity", "<u4"),
        ("entry_capacity", "<u4"),
        ("key", "<i4"),
        ("hops", "<u8"),
        ("n_beats", "<u8"),
        ("n_entries", "<u8"),
        ("bpm", "<f8"),
        ("next_beat", "<f8"),
        ("level_db", "<f8"),
        ("overruns", "<u8"),
        ("t0", "<f8"),
        ("state", "<u4"),
        ("done", "<u4"),
        ("progress", "<f8"),
        ("pad", "V24"),
    ]
)
_MAGIC = 0x484A5353  # "HJSS"
assert _HEAD.itemsize == 128

ENTRY_STEMS: tuple[str, ...] = PHYSICAL_STEMS + VIRTUAL_STEMS + ("global",)
"""Stem order of the entry ring's stem index."""
KEY_NAMES: tuple[str, ...] = tuple(
    f"{pc} {mode}"
    for mode in ("major", "minor")
    for pc in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
)
"""The running key is stored as an index into this tuple (-1: not known yet)."""
DEFAULT_BPM = 120.0
"""What :attr:`StreamAnalysis.bpm` says before the tracker has a tempo (physics needs one)."""
LIVE_CAPACITY = 1 << 15
"""Live ring: 327 s of signals, whatever how long the session runs."""
LIVE_BEATS = 4096
LIVE_ENTRIES = 1024
STATES = ("starting", "listening", "capturing", "waiting", "stopped")
"""What the producer is doing (``state`` in the header indexes this)."""


def _layout(n_names: int, capacity: int, beat_capacity: int, entry_capacity: int):
    data = _HEAD.itemsize
    beats = data + 4 * n_names * capacity
    beats += (-beats) % 8
    entries = beats + 8 * beat_capacity
    size = entries + 16 * entry_capacity
    return data, beats, entries, size


class SignalStore:
    """The shared segment. :meth:`create` in the TUI, :meth:`attach` elsewhere."""

    def __init__(self, segment, owner: bool, names: tuple[str, ...]) -> None:
        self._shm = segment
        self.owner = owner
        self.names = tuple(names)
        self.rows = {n: i for i, n in enumerate(self.names)}
        buf = segment.buf
        self.head = np.ndarray((), _HEAD, buffer=buf, offset=0)
        if int(self.head["magic"]) != _MAGIC or int(self.head["n_names"]) != len(self.names):
            raise ValueError(f"shared memory {segment.name!r} is not this signal store")
        cap, bcap, ecap = (
            int(self.head[k]) for k in ("capacity", "beat_capacity", "entry_capacity")
        )
        d, b, e, _ = _layout(len(self.names), cap, bcap, ecap)
        self.capacity, self.beat_capacity, self.entry_capacity = cap, bcap, ecap
        self.data = np.ndarray((len(self.names), cap), np.float32, buffer=buf, offset=d)
        self.beat_ring = np.ndarray((bcap,), np.float64, buffer=buf, offset=b)
        self.entry_ring = np.ndarray((ecap, 2), np.float64, buffer=buf, offset=e)

    @classmethod
    def create(
        cls,
        names: tuple[str, ...],
        capacity: int,
        beat_capacity: int = LIVE_BEATS,
        entry_capacity: int = LIVE_ENTRIES,
    ) -> SignalStore:
        """A new zeroed store for ``capacity`` grid hops (a song's length, or a live ring)."""
        *_, size = _layout(len(names), capacity, beat_capacity, entry_capacity)
        segment = shm.create("signals", size)
        head = np.ndarray((), _HEAD, buffer=segment.buf, offset=0)
        head["magic"], head["n_names"], head["capacity"] = _MAGIC, len(names), capacity
        head["beat_capacity"], head["entry_capacity"] = beat_capacity, entry_capacity
        head["key"], head["next_beat"], head["level_db"] = -1, math.nan, -math.inf
        del head
        return cls(segment, owner=True, names=names)

    @classmethod
    def attach(cls, name: str, names: tuple[str, ...]) -> SignalStore:
        return cls(shm.attach(name), owner=False, names=names)

    @property
    def name(self) -> str:
        return self._shm.name

    # -- producer side ---------------------------------------------------------------------
    def write(self, start: int, values: np.ndarray) -> None:
        """Put ``values`` float32 [n_names, k] at grid hops ``start..start+k`` and publish them.

        Hops must arrive in order; a gap (``start`` past ``hops``) holds the last values.
        """
        k = values.shape[1]
        if k == 0:
            return
        cap = self.capacity
        if k > cap:  # only the newest ``cap`` hops can be kept
            start, values, k = start + k - cap, values[:, -cap:], cap
        first = start % cap
        cut = min(k, cap - first)
        self.data[:, first : first + cut] = values[:, :cut]
        if cut < k:
            self.data[:, : k - cut] = values[:, cut:]
        self.head["hops"] = max(int(self.head["hops"]), start + k)

    def add_beats(self, times: np.ndarray) -> None:
        n, cap = int(self.head["n_beats"]), self.beat_capacity
        for t in np.asarray(times, np.float64).ravel():
            self.beat_ring[n % cap] = t
            n += 1
        self.head["n_beats"] = n

    def add_entry(self, stem: str, t: float) -> None:
        if stem not in ENTRY_STEMS:
            return
        n = int(self.head["n_entries"])
        self.entry_ring[n % self.entry_capacity] = (ENTRY_STEMS.index(stem), t)
        self.head["n_entries"] = n + 1

    def set_tempo(self, bpm: float, next_beat: float) -> None:
        self.head["bpm"] = bpm if math.isfinite(bpm) else 0.0
        self.head["next_beat"] = next_beat

    def set_key(self, key: str) -> None:
        self.head["key"] = KEY_NAMES.index(key) if key in KEY_NAMES else -1

    def set_input(self, state: str, level_db: float, overruns: int) -> None:
        """The live source's state (one of :data:`STATES`), level and lost blocks."""
        self.head["state"] = STATES.index(state) if state in STATES else 0
        self.head["level_db"] = level_db
        self.head["overruns"] = overruns

    def put(self, update, offset_hops: int = 0) -> None:
        """Publish one :class:`~hambajuba_tui.audio.stream.StreamUpdate`: beats, entries, tempo
        and key first, then the hop count (readers look at ``hops`` last). ``offset_hops``
        shifts an analyser that started later than the store (a restarted listener)."""
        dt = offset_hops / GRID_RATE
        if len(update.beats):
            self.add_beats(np.asarray(update.beats, np.float64) + dt)
        for stem, t in update.layer_entries:
            self.add_entry(stem, t + dt)
        self.set_tempo(update.bpm, update.next_beat + dt)
        self.set_key(update.key)
        self.write(update.start + offset_hops, update.values)

    def set_progress(self, fraction: float, done: bool = False) -> None:
        self.head["progress"] = fraction
        if done:
            self.head["done"] = 1

    # -- reader side -----------------------------------------------------------------------
    @property
    def hops(self) -> int:
        return int(self.head["hops"])

    @property
    def done(self) -> bool:
        return bool(self.head["done"])

    def window(self, row: int) -> np.ndarray:
        """The readable hops of one signal, oldest first (a copy when the ring wrapped)."""
        n, cap = self.hops, self.capacity
        if n <= cap:
            return self.data[row, :n]
        first = n % cap
        return np.concatenate((self.data[row, first:], self.data[row, :first]))

    def close(self) -> None:
        self.head = self.data = self.beat_ring = self.entry_ring = None
        shm.release(self._shm, self.owner)


class StoreSignals(Mapping):
    """``analysis.signals`` for a store: membership by name, values as the readable window."""

    def __init__(self, store: SignalStore) -> None:
        self._store = store

    def __getitem__(self, name: str) -> np.ndarray:
        return self._store.window(self._store.rows[name])

    def __contains__(self, name: object) -> bool:
        return name in self._store.rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.names)

    def __len__(self) -> int:
        return len(self._store.names)


@dataclass
class StreamMeta:
    """What a StreamAnalysis needs besides the segment (pickled to the worker)."""

    store_name: str
    names: tuple[str, ...]
    song_hash: str = ""
    title: str = ""
    duration: float = math.inf
    """Seconds; ``inf`` for live input (no end, no seek)."""
    live: bool = False


class StreamAnalysis:
    """An Analysis over a :class:`SignalStore`, growing as the producer writes.

    ``duration`` is the song's for a file and ``inf`` for live input. Beats are the tracker's
    *predicted* beats: ``beat_phase`` counts the predicted next beat as soon as its time comes,
    so the beat walk and the blink land on the beat rather than one analysis hop after it.
    """

    streaming = True
    rate = GRID_RATE
    stems_backend = "stream"
    silent = False

    def __init__(self, meta: StreamMeta, store: SignalStore | None = None) -> None:
        self.meta = meta
        self.store = store or SignalStore.attach(meta.store_name, meta.names)
        self.signals = StoreSignals(self.store)
        self.song_hash, self.title, self.duration = meta.song_hash, meta.title, meta.duration
        self.classification: dict[str, dict[str, float]] = {}
        self.pitch_hz: dict[str, np.ndarray] = {}
        self.sections: list[tuple[float, float, str]] = []
        self._rows = self.store.rows
        self._head = self.store.head

    # pickled to the worker as its metadata; the worker attaches to the same segment
    def __getstate__(self) -> dict:
        return {"meta": self.meta}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["meta"])

    @classmethod
    def create(
        cls,
        names: tuple[str, ...],
        *,
        duration: float = math.inf,
        song_hash: str = "",
        title: str = "",
    ) -> StreamAnalysis:
        """A new store sized for ``duration`` (the whole song), or a live ring when infinite."""
        live = not math.isfinite(duration)
        if live:
            capacity, beats, entries = LIVE_CAPACITY, LIVE_BEATS, LIVE_ENTRIES
        else:
            capacity = int(math.ceil(duration * GRID_RATE)) + 2
            beats = int(duration * 4) + 64  # 240 BPM at most
            entries = int(duration) + 64
        store = SignalStore.create(names, capacity, beats, entries)
        meta = StreamMeta(store.name, tuple(names), song_hash, title, duration, live)
        return cls(meta, store)

    def close(self) -> None:
        self._head = None
        self.store.close()

    # -- the Analysis seam -----------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.meta.live

    @property
    def bpm(self) -> float:
        bpm = float(self._head["bpm"])
        return bpm if bpm > 0 else DEFAULT_BPM

    @property
    def has_tempo(self) -> bool:
        return float(self._head["bpm"]) > 0

    @property
    def next_beat(self) -> float:
        return float(self._head["next_beat"])

    @property
    def key(self) -> str:
        k = int(self._head["key"])
        return KEY_NAMES[k] if 0 <= k < len(KEY_NAMES) else ""

    @property
    def keys(self) -> list[tuple[float, str]]:
        key = self.key
        return [(0.0, key)] if key else []

    @property
    def n_hops(self) -> int:
        return self.store.hops

    @property
    def covered(self) -> float:
        """Seconds of audio analysed so far."""
        return self.store.hops / self.rate

    @property
    def grid(self) -> np.ndarray:
        n, cap = self.store.hops, self.store.capacity
        return np.arange(max(0, n - cap), n, dtype=np.float64) / self.rate

    @property
    def level_db(self) -> float:
        return float(self._head["level_db"])

    @property
    def input_state(self) -> str:
        s = int(self._head["state"])
        return STATES[s] if 0 <= s < len(STATES) else STATES[0]

    @property
    def overruns(self) -> int:
        return int(self._head["overruns"])

    def signal(self, name: str) -> np.ndarray:
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(f"no signal {name!r}; have {sorted(self.signals)}") from None

    def sample(self, name: str, t: float) -> float:
        """Linear interpolation at ``t`` (s); clamps to the hops written (0 before any)."""
        row = self._rows[name]
        store = self.store
        n, cap = int(self._head["hops"]), store.capacity
        if n == 0:
            return 0.0
        lo, hi = max(0, n - cap), n - 1
        pos = min(max(t * self.rate, float(lo)), float(hi))
        i = int(pos)
        x = store.data[row]
        a = float(x[i % cap])
        if i >= hi:
            return a
        return a + (float(x[(i + 1) % cap]) - a) * (pos - i)

    # -- beats -----------------------------------------------------------------------------
    @property
    def n_beats(self) -> int:
        return int(self._head["n_beats"])

    @property
    def beats(self) -> np.ndarray:
        """float64 [m]: the beats still in the ring (all of them for a file), oldest first."""
        n, cap = self.n_beats, self.store.beat_capacity
        ring = self.store.beat_ring
        if n <= cap:
            return ring[:n].copy()
        first = n % cap
        return np.concatenate((ring[first:], ring[:first]))

    @property
    def downbeats(self) -> np.ndarray:
        return np.zeros(0)

    def beat_time(self, i: int) -> float:
        """Time of beat ``i`` (global index); the predicted next beat for ``i == n_beats``."""
        n, cap = self.n_beats, self.store.beat_capacity
        if 0 <= i < n and i >= n - cap:
            return float(self.store.beat_ring[i % cap])
        if i == n:
            return self.next_beat
        return math.nan

    def _last_beat_at(self, t: float) -> int:
        """Global index of the last emitted beat at or before ``t`` (-1 when none)."""
        n, cap, ring = self.n_beats, self.store.beat_capacity, self.store.beat_ring
        lo = max(0, n - cap)
        if n == 0 or ring[lo % cap] > t:
            return lo - 1
        if ring[(n - 1) % cap] <= t:
            return n - 1
        hi = n - 1  # ring[lo] <= t < ring[hi]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ring[mid % cap] <= t:
                lo = mid
            else:
                hi = mid
        return lo

    def beat_phase(self, t: float) -> tuple[int, float]:
        """(global index of the last beat at or before t, 0..1 inside that beat).

        The predicted next beat counts once its time has come; without a next prediction
        (silence) the phase holds at 1, so nothing steps until the beat returns.
        """
        period = 60.0 / self.bpm
        i = self._last_beat_at(t)
        n = self.n_beats
        nxt_pred = self.next_beat
        if i == n - 1 and math.isfinite(nxt_pred) and nxt_pred <= t:
            i, start, nxt = n, nxt_pred, nxt_pred + period
        elif i < 0:
            if n == 0 and not math.isfinite(nxt_pred):
                return -1, 0.0
            first = self.beat_time(max(i + 1, 0))
            if not math.isfinite(first):
                return -1, 0.0
            return -1, max(0.0, 1.0 - (first - t) / period)
        else:
            start = self.beat_time(i)
            nxt = self.beat_time(i + 1)
            if not math.isfinite(nxt) or nxt <= start:
                nxt = start + period
        return i, min(1.0, max(0.0, (t - start) / max(nxt - start, 1e-6)))

    @property
    def events(self) -> dict[str, np.ndarray]:
        """``"<stem>.layer_entry"`` -> entry times still in the ring."""
        n, cap = int(self._head["n_entries"]), self.store.entry_capacity
        rows = self.store.entry_ring[: min(n, cap)]
        out: dict[str, np.ndarray] = {}
        for s, stem in enumerate(ENTRY_STEMS):
            times = rows[rows[:, 0] == s, 1]
            if len(times):
                out[f"{stem}.layer_entry"] = np.sort(times)
        return out

    def last_entry_before(self, t: float) -> float:
        """Time of the newest layer entry (any stem) at or before ``t`` (-inf when none)."""
        n, cap = int(self._head["n_entries"]), self.store.entry_capacity
        rows = self.store.entry_ring[: min(n, cap), 1]
        past = rows[rows <= t]
        return float(past.max()) if len(past) else -math.inf
