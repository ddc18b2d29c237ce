"""Audio output and the media clock.

The clock lives in shared memory so the engine worker reads the same time the listener hears:
``now = media_time + (monotonic() - wall)`` while playing. The TUI process is the only writer
(a seqlock keeps readers from seeing half an update). ``epoch`` changes on every seek, so the
frame ring can drop frames rendered for the old position.

``SoundPlayer`` plays through PortAudio (sounddevice) and stamps the clock from the stream's
DAC times; ``SilentPlayer`` advances the same clock from the wall clock when there is no audio
device (CI, SSH, no PortAudio), and says why.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from hambajuba_tui import shm

_CLOCK_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("media_time", "<f8"),
        ("wall", "<f8"),
        ("playing", "<u8"),
        ("epoch", "<u8"),
        ("duration", "<f8"),
        ("pad", "V16"),
    ]
)


@dataclass(frozen=True)
class ClockReading:
    now: float
    """Media time (s) being heard now."""
    playing: bool
    epoch: int
    duration: float


class MediaClock:
    """Shared-memory media clock. Create in the TUI process, attach in the worker."""

    def __init__(self, segment, owner: bool) -> None:
        self._shm = segment
        self.owner = owner
        self._rec = np.ndarray((), _CLOCK_DTYPE, buffer=segment.buf)
        self._lock = threading.Lock()  # writers in this process: UI thread and audio callback

    @classmethod
    def create(cls, duration: float) -> MediaClock:
        clock = cls(shm.create("clock", _CLOCK_DTYPE.itemsize), owner=True)
        clock._rec["duration"] = duration
        clock._rec["wall"] = time.monotonic()
        return clock

    @classmethod
    def attach(cls, name: str) -> MediaClock:
        return cls(shm.attach(name), owner=False)

    @property
    def name(self) -> str:
        return self._shm.name

    def publish(
        self, media_time: float, wall: float, playing: bool, new_epoch: bool = False
    ) -> None:
        """At monotonic time ``wall`` the listener hears ``media_time``."""
        with self._lock:
            rec = self._rec
            rec["seq"] += 1
            rec["media_time"] = media_time
            rec["wall"] = wall
            rec["playing"] = 1 if playing else 0
            if new_epoch:
                rec["epoch"] += 1
            rec["seq"] += 1

    def read(self) -> ClockReading:
        rec = self._rec
        for _ in range(100):
            seq = int(rec["seq"])
            if seq & 1:
                continue
            media, wall = float(rec["media_time"]), float(rec["wall"])
            playing, epoch = bool(rec["playing"]), int(rec["epoch"])
            duration = float(rec["duration"])
            if int(rec["seq"]) == seq:
                break
        now = media + (time.monotonic() - wall) if playing else media
        return ClockReading(min(max(now, 0.0), duration), playing, epoch, duration)

    def now(self) -> float:
        return self.read().now

    def close(self) -> None:
        self._rec = None
        shm.release(self._shm, self.owner)


class SilentPlayer:
    """A wall-clock player: the show goes on without sound."""

    kind = "silent"

    def __init__(self, clock: MediaClock, duration: float, reason: str) -> None:
        self.clock = clock
        self.duration = duration
        self.reason = reason
        self._pos = 0.0
        self._started_at: float | None = None

    @property
    def playing(self) -> bool:
        return self._started_at is not None

    def position(self) -> float:
        if self._started_at is None:
            return self._pos
        return min(self._pos + time.monotonic() - self._started_at, self.duration)

    def play(self) -> None:
        if self._started_at is None:
            self._started_at = time.monotonic()
            self.clock.publish(self._pos, self._started_at, True)

    def pause(self) -> None:
        if self._started_at is not None:
            self._pos = self.position()
            self._started_at = None
            self.clock.publish(self._pos, time.monotonic(), False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, seconds: float) -> None:
        self._pos = min(max(seconds, 0.0), self.duration)
        now = time.monotonic()
        if self._started_at is not None:
            self._started_at = now
        self.clock.publish(self._pos, now, self.playing, new_epoch=True)

    def tick(self) -> None:
        """Stop at the end of the song."""
        if self.playing and self.position() >= self.duration:
            self.pause()

    def close(self) -> None:
        self.pause()

    def describe(self) -> str:
        return f"silent ({self.reason})"


class SoundPlayer(SilentPlayer):
    """PortAudio output; the clock follows the DAC, so frames match what is heard."""

    kind = "sound"

    def __init__(self, clock: MediaClock, samples: np.ndarray, sr: int, sd) -> None:
        super().__init__(clock, len(samples) / sr, reason="")
        self._samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._sr = sr
        self._frame = 0
        self._run = False
        self._stream = sd.OutputStream(
            samplerate=sr,
            channels=self._samples.shape[1],
            dtype="float32",
            callback=self._callback,
            latency="low",
        )
        self.device_name = str(sd.query_devices(kind="output")["name"])
        self._stream.start()

    def _callback(self, outdata, frames, t, status) -> None:  # PortAudio thread
        if not self._run:
            outdata.fill(0)
            return
        start = self._frame
        chunk = self._samples[start : start + frames]
        outdata[: len(chunk)] = chunk
        outdata[len(chunk) :] = 0
        self._frame = start + len(chunk)
        dac_delay = max(t.outputBufferDacTime - t.currentTime, 0.0)
        self.clock.publish(start / self._sr, time.monotonic() + dac_delay, True)
        if len(chunk) < frames:
            self._run = False

    @property
    def playing(self) -> bool:
        return self._run

    def position(self) -> float:
        return self.clock.now()

    def play(self) -> None:
        if not self._run and self._frame < len(self._samples):
            self.clock.publish(self._frame / self._sr, time.monotonic(), True)
            self._run = True

    def pause(self) -> None:
        if self._run:
            self._run = False
            pos = self.clock.now()
            self._frame = int(pos * self._sr)
            self.clock.publish(pos, time.monotonic(), False)

    def seek(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), self.duration)
        self._frame = int(seconds * self._sr)
        self.clock.publish(seconds, time.monotonic(), self._run, new_epoch=True)

    def tick(self) -> None:
        if not self._run and self.clock.read().playing:
            self.clock.publish(self.duration, time.monotonic(), False)

    def close(self) -> None:
        self._run = False
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:
            pass

    def describe(self) -> str:
        return f"sound ({self.device_name})"


def open_player(clock: MediaClock, samples: np.ndarray, sr: int, want_sound: bool = True):
    """A SoundPlayer when PortAudio and an output device exist, else a SilentPlayer saying why."""
    duration = len(samples) / sr
    if not want_sound or os.environ.get("HAMBAJUBA_AUDIO", "").lower() in ("none", "off", "0"):
        return SilentPlayer(clock, duration, "sound off")
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        return SilentPlayer(clock, duration, f"no audio: {exc}")
    try:
        return SoundPlayer(clock, samples, sr, sd)
    except Exception as exc:  # no device, device busy, host API error
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SilentPlayer(clock, duration, f"no audio device: {msg}")


class LivePlayer:
    """The clock for live input: media time is capture time, seconds since the listener's
    first sample (its ``t0``). Nothing plays out loud (the music is already playing); there is
    no seek, and a pause freezes the creature while listening goes on."""

    kind = "live"

    def __init__(self, clock: MediaClock, listener) -> None:
        self.clock = clock
        self.listener = listener
        self._want = False
        self._paused = False
        self._t0: float | None = None

    @property
    def playing(self) -> bool:
        return self._want and not self._paused and self._t0 is not None

    def position(self) -> float:
        return self.clock.now()

    def _publish(self, new_epoch: bool) -> None:
        now = time.monotonic()
        self.clock.publish(max(0.0, now - self._t0), now, self.playing, new_epoch=new_epoch)

    def play(self) -> None:
        self._want, self._paused = True, False
        self.tick()
        if self._t0 is not None:
            self._publish(new_epoch=True)

    def pause(self) -> None:
        if self.playing:
            self._paused = True
            self.clock.publish(self.clock.now(), time.monotonic(), False)

    def toggle(self) -> None:
        self.play() if self._paused or not self._want else self.pause()

    def seek(self, seconds: float) -> None:
        """Live music has no seek: the creature always dances to now."""

    def tick(self) -> None:
        """Start the clock once the listener knows its time origin; follow it if it moves."""
        t0 = self.listener.t0
        if t0 is not None and t0 != self._t0:
            self._t0 = t0
            if self._want and not self._paused:
                self._publish(new_epoch=True)

    def close(self) -> None:
        self._want = False

    def describe(self) -> str:
        return f"live ({self.listener.status.source})"
