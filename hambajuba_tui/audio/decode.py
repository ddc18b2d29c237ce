"""Decode a song file to float32 stereo at 44.1 kHz, with clear messages for bad input.

Formats: everything libsndfile reads (wav, flac, ogg/vorbis, opus, mp3, aiff, ...); anything else
(m4a, aac, wma, ...) goes through audioread when the system has a backend for it (ffmpeg,
GStreamer, Core Audio).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf

from hambajuba_tui.safeio import kind_of
from hambajuba_tui.vocab import SAMPLE_RATE

T = TypeVar("T")

MAX_DURATION_S = 60 * 60
"""Longest song accepted, in seconds (one hour)."""

HASH_CHARS = 20
"""Hex characters kept from the sha256 content hash."""

_CHUNK = 1 << 20


class AudioError(Exception):
    """A song could not be used. ``str(err)`` is a one-line message meant for the user."""


@dataclass
class Audio:
    """Decoded audio.

    ``samples`` is float32 [n, 2] (stereo, nominally in [-1, 1]; [n, 1] from
    :func:`load_mono`); ``sr`` is in Hz.
    """

    samples: np.ndarray
    sr: int

    @property
    def mono(self) -> np.ndarray:
        """float32 [n]: the mean of the two channels."""
        return self.samples.mean(axis=1, dtype=np.float32)

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.n_samples / float(self.sr)


def check_path(path: Path) -> None:
    """Raise AudioError unless ``path`` is a readable, non-empty file."""
    if not path.exists():
        raise AudioError(f"file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file")
    try:
        st = os.stat(path)
    except OSError as err:
        raise AudioError(f"cannot read {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(
            f"{path} is {kind_of(st.st_mode)}, not an audio file; expected a regular file"
        )
    size = st.st_size
    if size == 0:
        raise AudioError(f"{path} is an empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(f"cannot read {path}: permission denied")


def _too_long(path: Path, seconds: float, limit: float) -> AudioError:
    return AudioError(
        f"{path.name} is {seconds / 60:.0f} min long; the limit is {limit / 60:.0f} min"
    )


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C-level writes to fd 2 (libmpg123 prints "Note: Illegal Audio-MPEG-Header ..."
    while probing a file that is not mp3); the one-line AudioError is the message."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _read_soundfile(path: Path, max_duration: float) -> tuple[np.ndarray, int]:
    """float32 [n, channels] and the file's sample rate; raises sf.LibsndfileError/RuntimeError."""
    with _quiet_stderr(), sf.SoundFile(str(path)) as f:
        sr = int(f.samplerate)
        frames = int(f.frames)
        if sr <= 0:
            raise AudioError(f"{path.name} has an invalid sample rate ({sr} Hz)")
        # mp3 and some ogg files report no frame count up front; the length is checked after.
        if frames > 0 and frames / sr > max_duration:
            raise _too_long(path, frames / sr, max_duration)
        data = f.read(dtype="float32", always_2d=True)
    return data, sr


def _read_audioread(path: Path, max_duration: float) -> tuple[np.ndarray, int]:
    """Fallback for formats libsndfile does not know (m4a, aac, ...)."""
    audioread = _audioread(path)
    with _audioread_errors(path), audioread.audio_open(str(path)) as f:
        sr, channels = int(f.samplerate), int(f.channels)
        if f.duration and f.duration > max_duration:
            raise _too_long(path, f.duration, max_duration)
        chunks = [np.frombuffer(buf, dtype="<i2") for buf in f]
    if channels <= 0 or sr <= 0:
        raise AudioError(f"{path.name}: the format was not recognised as audio")
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
    pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels)
    return pcm.astype(np.float32) / 32768.0, sr


def _audioread(path: Path):
    """The audioread module (librosa's fallback decoder), imported quietly."""
    try:
        with warnings.catch_warnings():  # audioread imports stdlib modules deprecated in 3.11
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioread
    except ImportError as err:  # pragma: no cover - audioread ships with librosa
        raise AudioError(f"{path.name}: the format was not recognised as audio") from err
    return audioread


@contextmanager
def _audioread_errors(path: Path) -> Iterator[None]:
    """audioread's zoo of backend-specific errors as one :class:`AudioError`."""
    try:
        yield
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(
            f"{path.name}: the format was not recognised as audio (not an audio file, "
            "or a format this system cannot decode)"
        ) from err


# Downmix weights for common layouts (WAV / SMPTE channel order). Rows: channels; cols: L, R.
_C = 0.7071
_DOWNMIX: dict[int, list[tuple[float, float]]] = {
    3: [(1, 0), (0, 1), (_C, _C)],  # L R C
    4: [(1, 0), (0, 1), (_C, 0), (0, _C)],  # L R Ls Rs
    5: [(1, 0), (0, 1), (_C, _C), (_C, 0), (0, _C)],  # L R C Ls Rs
    6: [(1, 0), (0, 1), (_C, _C), (0.5, 0.5), (_C, 0), (0, _C)],  # L R C LFE Ls Rs
    8: [(1, 0), (0, 1), (_C, _C), (0.5, 0.5), (_C, 0), (0, _C), (_C, 0), (0, _C)],  # 7.1
}


def to_stereo(data: np.ndarray) -> np.ndarray:
    """float32 [n, channels] -> float32 [n, 2].

    Mono is duplicated; more than two channels are downmixed (standard surround weights for
    3-8 channels, otherwise even channels left and odd channels right), then scaled down only if
    the downmix would clip.
    """
    channels = data.shape[1]
    if channels == 1:
        return np.repeat(data, 2, axis=1)
    if channels == 2:
        return data
    weights = _DOWNMIX.get(channels)
    if weights is None:
        weights = [(1.0, 0.0) if c % 2 == 0 else (0.0, 1.0) for c in range(channels)]
    matrix = np.asarray(weights, dtype=np.float32)
    out = data @ matrix
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 1.0:
        out /= peak
    return out.astype(np.float32, copy=False)


def resample(data: np.ndarray, sr: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [n, ch] at ``sr`` -> float32 [m, ch] at ``target`` (soxr, high quality)."""
    if sr == target or len(data) == 0:
        return data
    import soxr

    return soxr.resample(data, sr, target, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | os.PathLike[str], *, max_duration: float = MAX_DURATION_S) -> Audio:
    """Decode ``path`` to an :class:`Audio` of float32 [n, 2] at 44.1 kHz.

    Raises :class:`AudioError` with a one-line message for: a missing file, a directory, an empty
    file, a file whose format is not recognised as audio, audio of zero length, and audio longer
    than ``max_duration`` seconds.
    """
    path = Path(path)
    check_path(path)
    data, sr = _soundfile_else_audioread(
        path,
        lambda: _read_soundfile(path, max_duration),
        lambda: _read_audioread(path, max_duration),
    )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(f"{path.name} contains no audio (zero length)")
    if data.shape[0] / sr > max_duration:
        raise _too_long(path, data.shape[0] / sr, max_duration)
    if not np.all(np.isfinite(data)):
        data = np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0)
    stereo = resample(to_stereo(data), sr)
    if stereo.shape[0] == 0:
        raise AudioError(f"{path.name} contains no audio (zero length)")
    return Audio(samples=np.ascontiguousarray(stereo, dtype=np.float32), sr=SAMPLE_RATE)


MONO_BLOCK = 1 << 20
"""Frames decoded at once by :func:`load_mono`."""


def load_mono(path: str | os.PathLike[str], *, max_duration: float = MAX_DURATION_S) -> Audio:
    """What ``load_audio(path).mono`` is, as an :class:`Audio` of float32 [n, 1], decoded a
    block at a time into the mono mix where the file allows (libsndfile, one or two
    channels at 44.1 kHz, a known length): the stereo song (twice the mono) is never held.
    Anything else is decoded whole by :func:`load_audio` first. Same errors."""
    path = Path(path)
    check_path(path)
    try:
        with _quiet_stderr(), sf.SoundFile(str(path)) as f:
            sr, frames, channels = int(f.samplerate), int(f.frames), int(f.channels)
            if sr == SAMPLE_RATE and channels in (1, 2) and frames > 0:
                if frames / sr > max_duration:
                    raise _too_long(path, frames / sr, max_duration)
                mono = np.empty(frames, dtype=np.float32)
                done = 0
                for block in f.blocks(MONO_BLOCK, dtype="float32", always_2d=True):
                    block = block[: frames - done]
                    if not np.all(np.isfinite(block)):
                        block = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
                    if channels == 1:
                        mono[done : done + len(block)] = block[:, 0]
                    else:
                        mono[done : done + len(block)] = block.mean(axis=1, dtype=np.float32)
                    done += len(block)
                if done > 0:
                    return Audio(samples=mono[:done, None], sr=SAMPLE_RATE)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass  # load_audio says what is wrong, or decodes it another way
    except MemoryError:
        raise AudioError(f"{path.name} is too large to decode in memory") from None
    audio = load_audio(path, max_duration=max_duration)
    mono = audio.mono
    del audio
    return Audio(samples=mono[:, None], sr=SAMPLE_RATE)


DECODE_BLOCK = 1 << 20
"""Frames decoded at once by :func:`decode_mono_file`."""


def _downmix_matrix(channels: int) -> np.ndarray:
    """The float32 [channels, 2] matrix of :func:`to_stereo` for more than two channels."""
    weights = _DOWNMIX.get(channels)
    if weights is None:
        weights = [(1.0, 0.0) if c % 2 == 0 else (0.0, 1.0) for c in range(channels)]
    return np.asarray(weights, dtype=np.float32)


def _finite(block: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(block)):
        return np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
    return block


class _MonoSink:
    """Blocks of float32 [m, channels] at ``sr`` -> the mono mix at 44.1 kHz appended to
    ``out`` (raw float32): cleaned (non-finite samples as :func:`load_audio`), downmixed
    (:func:`to_stereo`, scaled by ``peak`` -- the whole downmix's, found by a first pass --
    when it would clip), averaged to mono, resampled by one soxr stream. Past ``max_duration``
    the frames are only counted, so the error can say how long the song is."""

    def __init__(self, out, sr: int, channels: int, peak: float, max_duration: float) -> None:
        self.out, self.sr, self.channels, self.peak = out, sr, channels, peak
        self.matrix = _downmix_matrix(channels) if channels > 2 else None
        self.max_duration = max_duration
        self.frames = 0
        self.count = 0
        self.stream = None
        if sr != SAMPLE_RATE:
            import soxr

            self.stream = soxr.ResampleStream(sr, SAMPLE_RATE, 1, dtype="float32", quality="HQ")

    def _write(self, mono: np.ndarray) -> None:
        np.ascontiguousarray(mono, dtype=np.float32).tofile(self.out)
        self.count += len(mono)

    def push(self, block: np.ndarray) -> None:
        self.frames += len(block)
        if self.frames / self.sr > self.max_duration or len(block) == 0:
            return
        block = _finite(block)
        if self.channels == 1:
            mono = block[:, 0]
        elif self.channels == 2:
            mono = block.mean(axis=1, dtype=np.float32)
        else:
            stereo = block @ self.matrix
            if self.peak > 1.0:
                stereo /= self.peak
            mono = stereo.mean(axis=1, dtype=np.float32)
        if self.stream is not None:
            mono = self.stream.resample_chunk(np.ascontiguousarray(mono), last=False)
        self._write(mono)

    def finish(self, path: Path) -> int:
        """Flush the resampler; the sample count written, or the AudioError of
        :func:`load_audio` for an empty or too long song."""
        if self.frames == 0 or self.channels <= 0:
            raise AudioError(f"{path.name} contains no audio (zero length)")
        if self.frames / self.sr > self.max_duration:
            raise _too_long(path, self.frames / self.sr, self.max_duration)
        if self.stream is not None:
            self._write(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
        if self.count == 0:
            raise AudioError(f"{path.name} contains no audio (zero length)")
        return self.count

    def downmix_peak(self, block: np.ndarray) -> float:
        """Largest ``|sample|`` of :func:`to_stereo`'s unscaled downmix of ``block``."""
        stereo = _finite(block) @ self.matrix
        return float(np.max(np.abs(stereo))) if stereo.size else 0.0


def _sf_blocks(f: sf.SoundFile) -> Iterator[np.ndarray]:
    """What ``f.read()`` gives, a block at a time (up to the frames the file reports)."""
    while len(block := f.read(DECODE_BLOCK, dtype="float32", always_2d=True)):
        yield block


def _stream_soundfile(path: Path, out, max_duration: float) -> int:
    with _quiet_stderr(), sf.SoundFile(str(path)) as f:
        sr, frames, channels = int(f.samplerate), int(f.frames), int(f.channels)
        if sr <= 0:
            raise AudioError(f"{path.name} has an invalid sample rate ({sr} Hz)")
        if frames > 0 and frames / sr > max_duration:
            raise _too_long(path, frames / sr, max_duration)
        sink = _MonoSink(out, sr, channels, 0.0, max_duration)
        if channels > 2:
            for block in _sf_blocks(f):
                sink.peak = max(sink.peak, sink.downmix_peak(block))
            f.seek(0)
        for block in _sf_blocks(f):
            sink.push(block)
    return sink.finish(path)


def _audioread_blocks(f, channels: int) -> Iterator[np.ndarray]:
    """float32 [m, channels] blocks of an audioread file's 16-bit buffers (a frame split
    between buffers is joined; a partial frame at the end is dropped, as :func:`load_audio`)."""
    rest = np.zeros(0, dtype="<i2")
    for buf in f:
        pcm = np.frombuffer(buf, dtype="<i2")
        if len(rest):
            pcm = np.concatenate([rest, pcm])
        whole = len(pcm) - len(pcm) % channels
        rest = pcm[whole:].copy()
        if whole:
            yield pcm[:whole].reshape(-1, channels).astype(np.float32) / 32768.0


def _stream_audioread(path: Path, out, max_duration: float) -> int:
    """:func:`_read_audioread` a buffer at a time into ``out`` (more than two channels: the
    file is decoded twice, the first time for the downmix's peak)."""
    audioread = _audioread(path)
    with _audioread_errors(path), audioread.audio_open(str(path)) as f:
        sr, channels = int(f.samplerate), int(f.channels)
        if f.duration and f.duration > max_duration:
            raise _too_long(path, f.duration, max_duration)
        if channels <= 0 or sr <= 0:
            for _ in f:
                pass
        else:
            sink = _MonoSink(out, sr, channels, 0.0, max_duration)
            if channels > 2:
                for block in _audioread_blocks(f, channels):
                    sink.peak = max(sink.peak, sink.downmix_peak(block))
                with audioread.audio_open(str(path)) as again:
                    for block in _audioread_blocks(again, channels):
                        sink.push(block)
            else:
                for block in _audioread_blocks(f, channels):
                    sink.push(block)
    if channels <= 0 or sr <= 0:
        raise AudioError(f"{path.name}: the format was not recognised as audio")
    return sink.finish(path)


def decode_mono_file(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_duration: float = MAX_DURATION_S,
) -> int:
    """Decode ``path`` into the file ``dest`` as raw float32: the mono mix at 44.1 kHz, a
    block at a time, so no copy of the song is ever in memory whole. Returns the samples
    written. The same samples as ``load_audio(path).mono`` (resampling runs on the mix
    rather than on each channel: equal within float32 rounding) and the same errors. More
    than two channels are decoded twice: :func:`to_stereo` scales the downmix down only if
    it would clip, which needs the whole song's peak before the first sample is written."""
    path = Path(path)
    check_path(path)
    with open(dest, "wb") as out:

        def by_audioread() -> int:
            out.seek(0)
            out.truncate()
            return _stream_audioread(path, out, max_duration)

        return _soundfile_else_audioread(
            path, lambda: _stream_soundfile(path, out, max_duration), by_audioread
        )


def _soundfile_else_audioread(
    path: Path, by_soundfile: Callable[[], T], by_audioread: Callable[[], T]
) -> T:
    """``by_soundfile()``, or ``by_audioread()`` where libsndfile does not know the format;
    a truncated header and running out of memory are said as such (both decoders)."""
    try:
        return by_soundfile()
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as sf_err:
        if _is_truncated_header(path):
            raise AudioError(
                f"{path.name}: the file is truncated or damaged (incomplete audio header)"
            ) from sf_err
        return by_audioread()
    except MemoryError:
        raise AudioError(f"{path.name} is too large to decode in memory") from None


_HEADER_MAGIC = (b"RIFF", b"RF64", b"FORM", b"fLaC", b"OggS", b"caff", b".snd")


def _is_truncated_header(path: Path) -> bool:
    """True for a file that starts like a known container but is too short to hold its header."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head[:4] in _HEADER_MAGIC and len(head) < 64


def content_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's bytes (streamed), as the first :data:`HASH_CHARS` hex characters."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()[:HASH_CHARS]


def samples_hash(samples: np.ndarray, sr: int) -> str:
    """Hash of decoded samples, for audio that did not come from a file."""
    h = hashlib.sha256()
    h.update(f"{samples.dtype.str}{samples.shape}{sr}".encode())
    h.update(np.ascontiguousarray(samples).tobytes())
    return h.hexdigest()[:HASH_CHARS]
