"""Instant start for files: a fast streaming pass now, the full offline analysis behind it.

``play`` and ``demo`` on a song with no cached analysis start an :class:`AnalysisJob`: a
spawned process that decodes the song, runs the streaming analyser over it in chunks into a
shared :class:`~hambajuba_tui.audio.store.SignalStore` (the first seconds first, so the show
starts at once), then lowers its priority and runs the full offline analysis (stems and all),
which lands in the cache. The show polls the job; when the offline analysis is ready it loads
it from the cache and hands the conductor over to it (bridge/handover.py), and the next play
of the song starts from the cache.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hambajuba_tui.audio.store import StreamAnalysis

FIRST_CHUNK_S = 2.0
"""The first chunk of the fast pass: small, so the show can start after it."""
CHUNK_S = 10.0
BACKGROUND_NICE = 10
"""The offline analysis runs this much nicer, so the frame rate holds while it works."""


def fast_pass(analysis: StreamAnalysis, mono: np.ndarray, sr: int) -> None:
    """Stream ``mono`` (float32 [n] at ``sr``) through the analyser into the store, chunked so
    memory stays flat beyond the store's own arrays."""
    from hambajuba_tui.audio.stream import StreamingAnalyser

    store = analysis.store
    analyser = StreamingAnalyser(sr)
    first = int(FIRST_CHUNK_S * sr)
    step = int(CHUNK_S * sr)
    start = 0
    while start < len(mono):
        end = min(len(mono), start + (first if start == 0 else step))
        update = analyser.push(np.ascontiguousarray(mono[start:end], dtype=np.float32))
        if update is not None:
            store.put(update)
        start = end
    tail = analyser.flush()
    if tail is not None:
        store.put(tail)


def _job_main(path: str, meta, stems: str, conn, audio=None) -> None:
    """The job: fast pass, then the offline analysis at a lower priority. ``audio``: the song
    already decoded (a forked job inherits it; a spawned one decodes the file itself)."""
    from hambajuba_tui.audio.analysis import analyze
    from hambajuba_tui.audio.decode import AudioError, load_audio

    analysis = StreamAnalysis(meta)  # attached afresh: never the parent's owning handle
    store = analysis.store
    try:
        if audio is None:
            audio = load_audio(path)
        fast_pass(analysis, audio.mono, audio.sr)
        conn.send(("fast", store.hops))
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICE)

        def progress(stage: str, fraction: float) -> None:
            store.set_progress(fraction)

        result = analyze(path, audio=audio, stems_backend=stems, progress=progress)
        store.set_progress(1.0, done=True)
        conn.send(("done", result.stems_backend))
    except AudioError as exc:
        conn.send(("failed", str(exc)))
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        pass
    except Exception as exc:
        with contextlib.suppress(Exception):
            last = traceback.format_exc(limit=3).strip().splitlines()[-1]
            conn.send(("failed", f"background analysis failed: {last or exc}"))
    finally:
        analysis.close()


@dataclass
class JobNews:
    stage: str
    """``fast`` (the streaming pass is complete), ``done`` or ``failed``."""
    detail: str = ""


class AnalysisJob:
    """TUI-side handle: owns the store, spawns the job, reports its progress."""

    def __init__(self, path: Path, song_hash: str, title: str, duration: float, stems: str) -> None:
        from hambajuba_tui.audio.stream import stream_signal_names

        self.path, self.song_hash, self.stems = path, song_hash, stems
        self.analysis = StreamAnalysis.create(
            stream_signal_names(), duration=duration, song_hash=song_hash, title=title
        )
        self.proc = None
        self._conn = None
        self.state = "fast pass"
        self.error = ""
        self.closed = False

    def start(self, audio=None) -> None:
        """Start the job. With the decoded ``audio`` and where the OS can fork, the job is
        forked: it starts at once with the song and the modules this process already has
        (call this before any threads start, e.g. before the TUI runs). Else it is spawned
        and decodes the song itself."""
        method = "fork" if audio is not None and "fork" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        self._conn, child = ctx.Pipe(duplex=False)
        args = (str(self.path), self.analysis.meta, self.stems, child)
        self.proc = ctx.Process(
            target=_job_main,
            args=(*args, audio) if method == "fork" else args,
            name="hambajuba-analysis",
            daemon=True,
        )
        self.proc.start()
        child.close()

    @property
    def progress(self) -> float:
        """0..1 of the offline analysis (0 while the fast pass runs)."""
        return float(self.analysis.store.head["progress"])

    @property
    def ready(self) -> bool:
        """The fast pass is far enough ahead for the show to start (or can go no further)."""
        need = min(FIRST_CHUNK_S, self.analysis.duration) - 0.05
        return self.covered >= need or self.state != "fast pass"

    @property
    def covered(self) -> float:
        """Seconds of the song the fast pass has analysed."""
        return self.analysis.covered

    def poll(self) -> list[JobNews]:
        news: list[JobNews] = []
        if self.closed:
            return news
        try:
            while self._conn is not None and self._conn.poll():
                stage, detail = self._conn.recv()
                news.append(JobNews(stage, str(detail)))
        except (EOFError, OSError):
            self._conn = None
        for n in news:
            if n.stage == "fast":
                self.state = "analysing"
            elif n.stage in ("done", "failed"):
                self.state = n.stage
                self.error = n.detail if n.stage == "failed" else ""
        if (
            self.state in ("fast pass", "analysing")
            and self.proc is not None
            and not self.proc.is_alive()
            and not news
        ):
            self.state, self.error = (
                "failed",
                f"background analysis stopped (exit code {self.proc.exitcode})",
            )
            news.append(JobNews("failed", self.error))
        return news

    def status_text(self) -> str:
        """A few words for the status line (empty once the full analysis is in)."""
        if self.state == "fast pass":
            return "quick analysis"
        if self.state == "analysing":
            return f"analysing {100 * self.progress:.0f}%"
        return ""

    def finish_detached(self) -> bool:
        """When the show ends before the offline analysis did: run it again in a detached,
        low-priority ``hambajuba analyze`` (it outlives this process), so the next play starts
        from the cache. Returns whether one was started."""
        if not self.closed:
            self.poll()
        if self.state not in ("fast pass", "analysing"):  # as last heard, if the show closed it
            return False
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "hambajuba_tui.cli", "analyze", str(self.path)]
        cmd += ["--stems", self.stems, "--json"]
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal does not reach it
            )
        except OSError:
            return False
        if hasattr(os, "setpriority"):  # not preexec_fn: this process has threads by now
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, proc.pid, BACKGROUND_NICE)
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2.0)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Stop the job (an unfinished analysis leaves no partial cache); free the store."""
        if self.closed:
            return
        self.closed = True
        self.stop()
        self.analysis.close()
