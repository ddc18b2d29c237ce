"""Live audio capture from a source (system audio monitor or microphone) for ``hambajuba live``.

``list_sources`` lists what can be captured, ``find_source`` picks one from a ``--source`` spec,
and ``Capture`` records one source in its own thread and hands mono float32 blocks at 44.1 kHz,
each with the ``time.monotonic()`` at which its last sample was captured, to a callback.

Input goes through ``soundcard`` (see docs/live-capture.md for why): on Linux it talks to the
PulseAudio server, or PipeWire's pulse layer, and sees every sink's ``.monitor``; on Windows it
exposes WASAPI loopback devices; on macOS a loopback driver such as BlackHole shows up as an
input. No torch and no Textual here.

Faults never raise out of ``Capture``: no audio server, no source, a source that vanishes, a busy
device all become a ``waiting`` status with one clear line, and capture resumes by itself (with
backoff) when the sound comes back.
"""

from __future__ import annotations

import collections
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = [
    "Capture",
    "CaptureError",
    "CaptureStatus",
    "Source",
    "StreamResampler",
    "find_source",
    "list_sources",
]

SR = 44100
_READ_MS = 10  # the size of one read from the server (fragment), ms
_BACKOFF = (0.25, 0.5, 1.0, 2.0)  # retry delays (s) while waiting for a source / the server
_RECHECK_S = 2.0  # while capturing a fallback (or the default), look for a better source this often
_LATENCY_REFRESH_S = 1.0
_GAP_S = 0.05  # a capture-clock jump this large that persists means samples were lost
_LOOPBACK_WORDS = ("blackhole", "loopback", "soundflower", "stereo mix", "what u hear", "monitor")


class CaptureError(Exception):
    """No audio system, or no source matching what was asked for. The message says which."""


@dataclass(frozen=True)
class Source:
    name: str
    """Backend name, e.g. ``"hjtest.monitor"`` or ``"alsa_input.pci-0000_00_1f.3.analog-stereo"``.
    """
    label: str
    """Human description, e.g. ``"Monitor of Built-in Audio"``."""
    kind: str
    """``"monitor"`` (system audio: a sink's monitor / loopback) or ``"microphone"``."""
    default: bool
    """True for the source ``live`` uses when none is named: the default output's monitor, or the
    default microphone when there is no monitor."""
    index: int
    """Position in this listing (``--source N``); stable within one listing only."""
    channels: int
    samplerate: int

    def describe(self) -> str:
        star = "*" if self.default else " "
        return (
            f"{star}{self.index:>2}  {self.kind:<10}  {self.name}  ({self.label}, "
            f"{self.channels} ch, {self.samplerate} Hz)"
        )


@dataclass
class CaptureStatus:
    source: str
    """Name of the source in use (``""`` when none)."""
    state: str
    """``"capturing"``, ``"waiting"`` (no server / no source yet / busy / vanished; retrying) or
    ``"stopped"``."""
    message: str
    """One line for the status bar."""
    level_db: float
    """Recent input level, dBFS (``-inf`` in digital silence)."""
    overruns: int
    """Blocks lost so far: dropped from the full queue, or gaps in the device's stream."""
    samplerate: int
    """The device's rate (0 when none)."""


# ---------------------------------------------------------------------------------------------
# Streaming resampler


class StreamResampler:
    """Polyphase FIR resampling in pieces, identical to one ``scipy.signal.resample_poly`` call
    over the whole signal (same Kaiser-windowed filter), so block joins make no clicks.

    Output sample ``n`` is centred on input time ``n * rate_in / rate_out``; it can be computed
    once the input reaches about ``taps / (2 * up)`` samples further (a fraction of a ms).
    """

    def __init__(self, rate_in: int, rate_out: int = SR) -> None:
        from scipy.signal import firwin

        ratio = Fraction(int(rate_out), int(rate_in))
        self.up, self.down = ratio.numerator, ratio.denominator
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.identity = self.up == self.down == 1
        if self.identity:
            return
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate  # as resample_poly
        h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
        self._delay = half_len
        taps_per_phase = -(-len(h) // self.up)
        padded = np.zeros(taps_per_phase * self.up)
        padded[: len(h)] = h
        # _bank[phase, j] multiplies x[base - j]
        self._bank = padded.reshape(taps_per_phase, self.up).T.astype(np.float64)
        self._taps = taps_per_phase
        self._buf = np.zeros(taps_per_phase, np.float64)  # history: zeros before the start
        self._buf_start = -taps_per_phase  # global input index of _buf[0]
        self._n_out = 0  # next output index

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if self.identity:
            return x.copy()
        buf = np.concatenate([self._buf, x.astype(np.float64)])
        last_in = self._buf_start + len(buf) - 1  # global index of the newest input sample
        # Output n needs input up to base(n) = (n*down + delay) // up.
        n_end = ((last_in + 1) * self.up - self._delay - 1) // self.down + 1
        n = np.arange(self._n_out, max(n_end, self._n_out))
        if len(n):
            q = n * self.down + self._delay
            base = q // self.up - self._buf_start
            idx = base[:, None] - np.arange(self._taps)[None, :]
            coeffs = self._bank[q % self.up]
            y = np.einsum("ij,ij->i", buf[idx], coeffs)
            self._n_out = int(n[-1]) + 1
        else:
            y = np.zeros(0)
        # keep what the next outputs still need
        next_base = (self._n_out * self.down + self._delay) // self.up
        keep_from = next_base - self._taps + 1 - self._buf_start
        keep_from = min(max(keep_from, 0), len(buf))
        self._buf = buf[keep_from:]
        self._buf_start += keep_from
        return y.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Backends: soundcard, with a PulseAudio-aware layer on Linux


_sc_lock = threading.RLock()


def _pulse_socket_candidates() -> list[str] | None:
    """Unix socket paths where libpulse would look for the server; None when it may use TCP."""
    server = os.environ.get("PULSE_SERVER")
    if server:
        paths = []
        for entry in server.split():
            if entry.startswith("{"):
                entry = entry.split("}", 1)[-1]
            if entry.startswith("unix:"):
                paths.append(entry[5:])
            elif entry.startswith("/"):
                paths.append(entry)
            else:
                return None  # tcp / host names: let libpulse try
        return paths
    paths = []
    if os.environ.get("PULSE_RUNTIME_PATH"):
        paths.append(os.path.join(os.environ["PULSE_RUNTIME_PATH"], "native"))
    if os.environ.get("XDG_RUNTIME_DIR"):
        paths.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "pulse", "native"))
    if hasattr(os, "getuid"):
        paths.append(f"/run/user/{os.getuid()}/pulse/native")
    paths.append("/var/run/pulse/native")
    return paths


def _check_pulse_reachable() -> None:
    """Fail fast (without touching libpulse) when no server socket answers."""
    paths = _pulse_socket_candidates()
    if paths is None:
        return
    for path in paths:
        if not os.path.exists(path):
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(path)
                return
            except OSError:
                continue
    where = os.environ.get("PULSE_SERVER") or (paths[0] if paths else "its usual socket")
    raise CaptureError(
        f"no audio server reachable (PulseAudio or PipeWire's pulse layer; looked at {where})"
    )


def _import_soundcard():
    """soundcard with a live connection to the audio server; CaptureError when there is none."""
    with _sc_lock:
        if sys.platform.startswith("linux"):
            _check_pulse_reachable()
        mod = sys.modules.get("soundcard")
        if mod is None:
            argv = sys.argv
            if not argv or (argv[0] == "-c" and len(argv) < 2):
                sys.argv = ["hambajuba"]  # soundcard names its client from argv and trips on these
            try:
                import soundcard as mod
            except ModuleNotFoundError as exc:
                raise CaptureError(f"audio capture needs the soundcard package ({exc})") from exc
            except OSError as exc:  # libpulse / the system audio library missing
                raise CaptureError(f"no audio system library: {_first_line(exc)}") from exc
            except (AssertionError, RuntimeError) as exc:
                raise CaptureError(
                    "could not connect to the audio server (PulseAudio or PipeWire)"
                ) from exc
            except Exception as exc:  # CoreAudio / WASAPI trouble
                raise CaptureError(f"no audio system: {_first_line(exc)}") from exc
            finally:
                sys.argv = argv
        if sys.platform.startswith("linux"):
            if not hasattr(mod.pulseaudio, "_hj_server"):
                mod.pulseaudio._hj_server = os.environ.get("PULSE_SERVER")  # the import's
            _ensure_pulse_context(mod.pulseaudio)
        return mod


def _ensure_pulse_context(pa_mod) -> None:
    """soundcard connects once at import; after the server went away (or ``PULSE_SERVER`` now
    names another one), connect again."""
    pulse = pa_mod._pulse
    lib = pa_mod._pa
    state = pulse._pa_context_get_state(pulse.context)
    server = os.environ.get("PULSE_SERVER")
    if state == lib.PA_CONTEXT_READY and server == pa_mod._hj_server:
        return
    # the old one is left alone: soundcard's atexit owns the first, streams may hold the others
    pa_mod._pulse = _new_pulse_context(pa_mod)
    pa_mod._hj_server = server


def _new_pulse_context(pa_mod):
    lib, ffi = pa_mod._pa, pa_mod._ffi

    class _Pulse(pa_mod._PulseAudio):
        @staticmethod
        def _infer_program_name():
            return "hambajuba"

        def __init__(self):  # like soundcard's, but gives up cleanly
            self.mainloop = lib.pa_threaded_mainloop_new()
            self.mainloop_api = lib.pa_threaded_mainloop_get_api(self.mainloop)
            self.context = lib.pa_context_new(self.mainloop_api, b"hambajuba")
            lib.pa_context_connect(self.context, ffi.NULL, lib.PA_CONTEXT_NOFLAGS, ffi.NULL)
            lib.pa_threaded_mainloop_start(self.mainloop)
            deadline = time.monotonic() + 5.0
            waiting = (
                lib.PA_CONTEXT_UNCONNECTED,
                lib.PA_CONTEXT_CONNECTING,
                lib.PA_CONTEXT_AUTHORIZING,
                lib.PA_CONTEXT_SETTING_NAME,
            )
            while (state := self._pa_context_get_state(self.context)) in waiting:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            if state != lib.PA_CONTEXT_READY:
                self._pa_context_disconnect(self.context)
                lib.pa_threaded_mainloop_stop(self.mainloop)
                lib.pa_context_unref(self.context)
                lib.pa_threaded_mainloop_free(self.mainloop)
                raise CaptureError("could not connect to the audio server (PulseAudio or PipeWire)")

    return _Pulse()


_recorder_classes: dict[int, type] = {}


def _pulse_recorder(pa_mod) -> type:
    """soundcard's PulseAudio recorder, connected with PA_STREAM_DONT_MOVE."""
    cls = _recorder_classes.get(id(pa_mod))
    if cls is not None:
        return cls
    lib, ffi = pa_mod._pa, pa_mod._ffi

    class _Recorder(pa_mod._Recorder):
        open_timeout = 3.0

        def __enter__(self):
            # soundcard's, with a time limit: a stream that never becomes ready (PipeWire with no
            # session manager to link it, a wedged server) must not hang the capture thread
            pulse = pa_mod._pulse
            spec = ffi.new("pa_sample_spec*")
            spec.format = lib.PA_SAMPLE_FLOAT32LE
            spec.rate = self._samplerate
            spec.channels = self.channels
            if not pulse._pa_sample_spec_valid(spec):
                raise RuntimeError("invalid sample spec")
            pam = ffi.new("pa_channel_map*")
            cmap = lib.pa_channel_map_init_extend(pam, spec.channels, lib.PA_CHANNEL_MAP_DEFAULT)
            self.stream = pulse._pa_stream_new(pulse.context, b"hambajuba capture", spec, cmap)
            if not self.stream:
                raise RuntimeError(
                    f"stream creation failed ({pulse._pa_context_errno(pulse.context)})"
                )
            attr = ffi.new("pa_buffer_attr*")
            attr.maxlength = 2**32 - 1
            attr.fragsize = self._blocksize * self.channels * 4
            attr.minreq = attr.prebuf = attr.tlength = 2**32 - 1
            self._connect_stream(attr)
            deadline = time.monotonic() + self.open_timeout
            while (state := pulse._pa_stream_get_state(self.stream)) not in (
                lib.PA_STREAM_READY,
                lib.PA_STREAM_FAILED,
            ):
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("the server did not start the stream in time")
                time.sleep(0.005)
            if state == lib.PA_STREAM_FAILED:
                self._unref()
                raise RuntimeError("no such source, or it refused the stream")
            self.channels = int(pulse._pa_stream_get_channel_map(self.stream).channels)
            return self

        def _unref(self):
            pa_mod._pulse._pa_stream_unref(self.stream)

        def __exit__(self, *exc):
            pulse = pa_mod._pulse
            pulse._pa_stream_disconnect(self.stream)
            deadline = time.monotonic() + 1.0
            while pulse._pa_stream_get_state(self.stream) not in (
                lib.PA_STREAM_TERMINATED,
                lib.PA_STREAM_FAILED,
            ):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            self._unref()

        def _connect_stream(self, bufattr):
            pulse = pa_mod._pulse
            flags = lib.PA_STREAM_ADJUST_LATENCY | lib.PA_STREAM_DONT_MOVE
            pulse._pa_stream_connect_record(self.stream, self._id.encode(), bufattr, flags)

            @ffi.callback("pa_stream_request_cb_t")
            def read_callback(stream, nbytes, userdata):
                self._record_event.set()

            self._callback = read_callback
            pulse._pa_stream_set_read_callback(self.stream, read_callback, ffi.NULL)

    _recorder_classes[id(pa_mod)] = _Recorder
    return _Recorder


def _pulse_defaults(pa_mod) -> tuple[str, str]:
    """(default sink, default source) names; "" where there is none."""
    pulse, ffi = pa_mod._pulse, pa_mod._ffi
    out = ["", ""]

    @ffi.callback("pa_server_info_cb_t")
    def on_info(context, info, userdata):
        if info == ffi.NULL:
            return
        if info.default_sink_name != ffi.NULL:
            out[0] = ffi.string(info.default_sink_name).decode("utf-8", "replace")
        if info.default_source_name != ffi.NULL:
            out[1] = ffi.string(info.default_source_name).decode("utf-8", "replace")

    pulse._pa_context_get_server_info(pulse.context, on_info, ffi.NULL)
    return out[0], out[1]


def _pulse_sources(pa_mod) -> list[dict]:
    """One round trip: every source with its rate, channels and whether it is a monitor."""
    pulse, lib, ffi = pa_mod._pulse, pa_mod._pa, pa_mod._ffi
    out: list[dict] = []

    @ffi.callback("pa_source_info_cb_t")
    def on_info(context, info, eol, userdata):
        if eol or info == ffi.NULL:
            return
        cls = lib.pa_proplist_gets(info.proplist, b"device.class")
        out.append(
            dict(
                name=ffi.string(info.name).decode("utf-8", "replace"),
                label=ffi.string(info.description).decode("utf-8", "replace"),
                monitor_of=(
                    ffi.string(info.monitor_of_sink_name).decode("utf-8", "replace")
                    if info.monitor_of_sink != 0xFFFFFFFF and info.monitor_of_sink_name != ffi.NULL
                    else None
                ),
                device_class=ffi.string(cls).decode() if cls != ffi.NULL else "",
                channels=int(info.sample_spec.channels),
                rate=int(info.sample_spec.rate),
            )
        )

    pulse._pa_context_get_source_info_list(pulse.context, on_info, ffi.NULL)
    return out


def _list_pulse(sc) -> list[Source]:
    pa_mod = sc.pulseaudio
    infos = _pulse_sources(pa_mod)
    default_sink, default_source = _pulse_defaults(pa_mod)
    monitors = [i for i in infos if i["monitor_of"] is not None or i["device_class"] == "monitor"]
    mics = [i for i in infos if i not in monitors]
    default_name = next((i["name"] for i in monitors if i["monitor_of"] == default_sink), None)
    if default_name is None:
        default_name = next((i["name"] for i in mics if i["name"] == default_source), None)
    if default_name is None and mics:
        default_name = mics[0]["name"]
    sources = []
    for idx, info in enumerate(monitors + mics):
        sources.append(
            Source(
                name=info["name"],
                label=info["label"],
                kind="monitor" if info in monitors else "microphone",
                default=info["name"] == default_name,
                index=idx,
                channels=max(info["channels"], 1),
                samplerate=info["rate"] or SR,
            )
        )
    return sources


def _list_other(sc) -> list[Source]:
    """Windows (WASAPI loopback devices) and macOS (loopback drivers appear as inputs)."""
    mics = list(sc.all_microphones(include_loopback=True))
    try:
        default_mic = sc.default_microphone().id
    except Exception:
        default_mic = None
    try:
        default_speaker = sc.default_speaker()
    except Exception:
        default_speaker = None

    def is_monitor(m) -> bool:
        if getattr(m, "isloopback", False):
            return True
        return any(w in m.name.lower() for w in _LOOPBACK_WORDS)

    monitors = [m for m in mics if is_monitor(m)]
    inputs = [m for m in mics if not is_monitor(m)]
    default_id = None
    if default_speaker is not None:
        default_id = next(
            (m.id for m in monitors if default_speaker.name and default_speaker.name in m.name),
            None,
        )
    if default_id is None and monitors:
        default_id = monitors[0].id
    if default_id is None:
        default_id = default_mic if default_mic is not None else (inputs[0].id if inputs else None)
    sources = []
    for idx, m in enumerate(monitors + inputs):
        sources.append(
            Source(
                name=str(m.id),
                label=m.name,
                kind="monitor" if m in monitors else "microphone",
                default=m.id == default_id,
                index=idx,
                channels=max(int(m.channels), 1),
                samplerate=SR,  # WASAPI shared mode and CoreAudio convert to the rate we ask
            )
        )
    return sources


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.removesuffix("; choices:")


def list_sources() -> list[Source]:
    """Everything that can be captured: monitors (system audio) first, then microphones.

    Raises CaptureError with a clear message when no audio system is reachable.
    """
    sc = _import_soundcard()
    try:
        with _sc_lock:
            if sys.platform.startswith("linux"):
                return _list_pulse(sc)
            return _list_other(sc)
    except CaptureError:
        raise
    except Exception as exc:
        raise CaptureError(f"could not list audio sources: {_first_line(exc)}") from exc


def _choices(sources: list[Source]) -> str:
    if not sources:
        return "no sources at all (no monitor, no microphone)"
    return "choices:\n" + "\n".join("  " + s.describe() for s in sources)


def _pick(spec: str | int | None, sources: list[Source]) -> Source:
    if spec is None or (isinstance(spec, str) and spec.strip() in ("", "default")):
        for s in sources:
            if s.default:
                return s
        if sources:
            return sources[0]
        raise CaptureError("no capture source: no monitor and no microphone found")
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        n = int(spec)
        if 0 <= n < len(sources):
            return sources[n]
        raise CaptureError(f"no source number {n}; {_choices(sources)}")
    for s in sources:
        if s.name == spec:
            return s
    low = spec.lower()
    hits = [s for s in sources if low in s.name.lower() or low in s.label.lower()]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise CaptureError(f"source {spec!r} is ambiguous; {_choices(hits)}")
    raise CaptureError(f"no source matches {spec!r}; {_choices(sources)}")


def find_source(spec: str | int | None) -> Source:
    """``None`` (or ``"default"``): the default output's monitor, else the default microphone;
    ``"N"`` or ``N``: by index in ``list_sources()``; else an exact name, then a unique
    case-insensitive substring of a name or label. CaptureError (listing the choices) otherwise.
    """
    return _pick(spec, list_sources())


# ---------------------------------------------------------------------------------------------
# Capture


class _Stream:
    """One open recording stream: read() -> (frames [n, ch] float32, monotonic time at return)."""

    def __init__(self, sc, source: Source) -> None:
        self.source = source
        self._sc = sc
        rate = source.samplerate
        frames = max(int(rate * _READ_MS / 1000), 64)
        with _sc_lock:
            if sys.platform.startswith("linux"):
                # exact name (no fuzzy match), and a stream that fails rather than being moved
                # to another source behind our back when this one goes away
                self._rec = _pulse_recorder(sc.pulseaudio)(
                    source.name, rate, source.channels, frames
                )
            else:
                mic = sc.get_microphone(source.name, include_loopback=True)
                self._rec = mic.recorder(
                    samplerate=rate, channels=source.channels, blocksize=frames
                )
            self._rec.__enter__()
        self._open = True
        self._latency = 0.0
        self._latency_at = -1e9

    def read(self) -> tuple[np.ndarray, float]:
        data = self._rec.record(numframes=None)
        t = time.monotonic()
        if sys.platform.startswith("linux") and t - self._latency_at > _LATENCY_REFRESH_S:
            self._latency_at = t
            try:
                with _sc_lock:
                    lat = float(self._rec.latency)
                self._latency = lat if 0.0 <= lat < 2.0 else 0.0
            except Exception:
                self._latency = 0.0
        return np.asarray(data, dtype=np.float32), t - self._latency

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                with _sc_lock:
                    self._rec.__exit__(None, None, None)
            except Exception:
                pass


class _SampleClock:
    """Maps input sample indices to monotonic time, from noisy read-return times.

    A read returns at or after the moment its last sample was captured, so the earliest
    observation is the best one; the offset may creep later slowly (clock drift), and a later
    offset that persists means samples were lost (a gap), counted by the caller.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.offset: float | None = None
        self._late: list[float] = []
        self._last_t = 0.0

    def observe(self, last_index: int, t_last: float) -> float:
        """Feed one read; returns the length (s) of a gap (lost samples) detected now, else 0."""
        obs = t_last - last_index / self.rate
        dt = max(t_last - self._last_t, 0.0)
        self._last_t = t_last
        if self.offset is None or obs <= self.offset:
            self.offset = obs
            self._late.clear()
            return 0.0
        if obs - self.offset > _GAP_S:
            self._late.append(obs)
            if len(self._late) >= 10 and min(self._late) - self.offset > _GAP_S:
                gap = min(self._late) - self.offset
                self.offset = min(self._late)
                self._late.clear()
                return gap
            return 0.0
        self._late.clear()
        self.offset += min(obs - self.offset, 0.001 * dt + 1e-5)  # allow ~1 ms/s of drift
        return 0.0

    def time_of(self, index: float) -> float:
        return (self.offset or 0.0) + index / self.rate


class Capture:
    """Captures one source in its own thread and hands mono float32 blocks at 44.1 kHz to a
    callback.

    ``on_block(samples, t_capture)``: ``samples`` float32 ``[block]`` mono at ``sr``;
    ``t_capture`` the ``time.monotonic()`` at which the block's last sample was captured (best
    estimate: the read's return time less the server's reported latency, smoothed over reads).
    The callback runs on its own thread, fed by a bounded queue: when it falls behind, the oldest
    blocks are dropped and counted in ``status.overruns``.

    ``source``: as ``find_source`` (None follows the default monitor). When the source vanishes
    it waits for it, or with ``fallback_to_default`` captures the default source meanwhile and
    switches back when it returns.
    """

    def __init__(
        self,
        source: str | int | None,
        on_block: Callable[[np.ndarray, float], None],
        *,
        sr: int = SR,
        block: int = 512,
        fallback_to_default: bool = True,
        queue_s: float = 1.0,
    ) -> None:
        self._spec = source
        self._want: str | None = None  # resolved exact name of the asked-for source
        self._on_block = on_block
        self.sr = int(sr)
        self.block = int(block)
        self.fallback_to_default = fallback_to_default
        self._queue: collections.deque[tuple[np.ndarray, float]] = collections.deque()
        self._queue_max = max(int(queue_s * self.sr / self.block), 2)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status = CaptureStatus("", "stopped", "not started", -math.inf, 0, 0)
        self._threads: list[threading.Thread] = []
        self._ms_energy = 0.0
        self._ms_weight = 0.0

    # -- public ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._set(state="waiting", message=f"connecting to {self._spec_text()}…")
        self._threads = [
            threading.Thread(target=self._read_loop, name="hambajuba-capture", daemon=True),
            threading.Thread(target=self._dispatch_loop, name="hambajuba-capture-cb", daemon=True),
        ]
        for th in self._threads:
            th.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for th in self._threads:
            th.join(timeout=5.0)
        self._threads = []
        self._set(state="stopped", message="capture stopped")

    @property
    def status(self) -> CaptureStatus:
        with self._lock:
            s = self._status
            return CaptureStatus(s.source, s.state, s.message, s.level_db, s.overruns, s.samplerate)

    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    def _set(self, **fields) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(self._status, k, v)

    def _count_overrun(self, n: int = 1) -> None:
        with self._lock:
            self._status.overruns += n

    def _spec_text(self) -> str:
        if self._spec is None:
            return "the default source"
        return f"source {self._spec}"

    def _sleep(self, seconds: float) -> bool:
        """Wait unless stopped; True when stop was asked."""
        return self._stop.wait(seconds)

    def _choose(self) -> tuple[Source | None, str]:
        """The source to open now and a line saying why; (None, reason) when there is none."""
        sources = list_sources()
        if self._spec is None:
            try:
                return _pick(None, sources), ""
            except CaptureError as exc:
                return None, f"{exc}; waiting for one…"
        if self._want is None:
            try:
                self._want = _pick(self._spec, sources).name
            except CaptureError as exc:
                if not self.fallback_to_default:
                    return None, f"{_first_line(exc)}; waiting for it…"
                try:
                    d = _pick(None, sources)
                except CaptureError:
                    return None, f"{_first_line(exc)}; no default either; waiting…"
                return d, f"{_first_line(exc)}; capturing the default {d.name} meanwhile"
        for s in sources:
            if s.name == self._want:
                return s, ""
        if self.fallback_to_default:
            try:
                d = _pick(None, sources)
            except CaptureError:
                d = None
            if d is not None and d.name != self._want:
                return d, f"source {self._want} is gone; capturing the default {d.name} meanwhile"
            return None, f"source {self._want} vanished; waiting for it (or the default)…"
        return None, f"source {self._want} vanished; waiting for it…"

    def _read_loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            stream = None
            try:
                sc = _import_soundcard()
                source, why = self._choose()
                if source is None:
                    raise CaptureError(why)
                self._set(message=f"opening {source.name}…")
                try:
                    stream = _Stream(sc, source)
                except Exception as exc:
                    raise CaptureError(
                        f"cannot open {source.name} (busy or gone: {_first_line(exc)}); retrying…"
                    ) from exc
                attempt = 0
                fallback = bool(why)
                self._set(
                    source=source.name,
                    state="capturing",
                    samplerate=source.samplerate,
                    message=why or f"capturing {source.name} ({source.label})",
                )
                reason = self._pump(stream, fallback)
                if reason:
                    self._set(state="waiting", message=reason, source="", level_db=-math.inf)
                    continue  # reconnect right away; backoff starts if that fails
            except CaptureError as exc:
                msg = str(exc)
                if not msg.rstrip().endswith(("…", "retrying…")):
                    msg += "; retrying…"
                self._set(state="waiting", message=msg, source="", level_db=-math.inf)
            except Exception as exc:  # never let the thread die
                self._set(
                    state="waiting",
                    message=f"capture error: {_first_line(exc)}; retrying…",
                    source="",
                    level_db=-math.inf,
                )
            finally:
                if stream is not None:
                    stream.close()
            if self._sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)]):
                break
            attempt += 1

    def _pump(self, stream: _Stream, fallback: bool) -> str:
        """Read until stopped ("") or the stream fails / a better source exists (the reason)."""
        src = stream.source
        resampler = StreamResampler(src.samplerate, self.sr)
        clock = _SampleClock(src.samplerate)
        n_in = 0  # input frames so far
        n_out = 0  # output samples so far
        pending: list[np.ndarray] = []
        pending_n = 0
        next_check = time.monotonic() + _RECHECK_S
        while not self._stop.is_set():
            try:
                frames, t_read = stream.read()
            except Exception:  # the stream failed: the source (or the whole server) went away
                then = "waiting…"
                if self.fallback_to_default:
                    then = "waiting for it (or the default)…"
                return f"source {src.name} vanished; {then}"
            if frames.size == 0:
                continue
            if frames.ndim == 1:
                frames = frames[:, None]
            mono = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
            mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
            n_in += len(mono)
            gap = clock.observe(n_in - 1, t_read)
            if gap:
                self._count_overrun(max(1, round(gap * self.sr / self.block)))
            out = resampler.process(mono)
            if len(out):
                pending.append(out)
                pending_n += len(out)
            while pending_n >= self.block:
                buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
                blk, rest = buf[: self.block], buf[self.block :]
                pending, pending_n = ([rest] if len(rest) else []), len(rest)
                n_out += self.block
                t_last = clock.time_of((n_out - 1) * src.samplerate / self.sr)
                self._emit(np.clip(blk, -1.0, 1.0).astype(np.float32), t_last)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + _RECHECK_S
                better = self._better_source(src, fallback)
                if better:
                    return better
        return ""

    def _better_source(self, current: Source, fallback: bool) -> str:
        """A reason to reconnect: the asked-for source is back, or the default changed."""
        try:
            sources = list_sources()
        except CaptureError:
            return ""  # the read will fail soon enough if the server is gone
        if fallback and self._want and any(s.name == self._want for s in sources):
            return f"source {self._want} is back; switching to it…"
        if fallback and self._want is None and self._spec is not None:
            try:
                found = _pick(self._spec, sources)
            except CaptureError:
                found = None
            if found is not None:
                return f"source {found.name} appeared; switching to it…"
        if self._spec is None or fallback:
            try:
                d = _pick(None, sources)
            except CaptureError:
                return ""
            if d.name != current.name:
                return f"the default source is now {d.name}; switching…"
        return ""

    def _emit(self, blk: np.ndarray, t_last: float) -> None:
        energy = float(np.mean(blk.astype(np.float64) ** 2))
        decay = 0.9  # ~0.1 s memory at 512-sample blocks
        self._ms_energy = decay * self._ms_energy + (1 - decay) * energy
        level = 10 * math.log10(self._ms_energy) if self._ms_energy > 1e-20 else -math.inf
        with self._lock:
            self._status.level_db = level
        with self._cond:
            if len(self._queue) >= self._queue_max:
                self._queue.popleft()
                self._count_overrun()
            self._queue.append((blk, t_last))
            self._cond.notify()

    def _dispatch_loop(self) -> None:
        warned = False
        while True:
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    self._queue.clear()
                    return
                blk, t = self._queue.popleft()
            try:
                self._on_block(blk, t)
            except Exception as exc:  # the caller's bug must not kill capture
                if not warned:
                    warned = True
                    self._set(message=f"on_block failed: {_first_line(exc)}")
