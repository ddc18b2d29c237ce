"""Headless mode: the same processes as the TUI, no terminal — for tests, scripts and benchmarks.

Plays the Show for a while on its clock, takes the newest due frame at the display rate,
writes shown frames as PNG and a ``summary.json`` (frames generated / shown / dropped, fps).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hambajuba_tui.show import Show


def run_headless(
    show: Show,
    seconds: float,
    frames_out: Path | None = None,
    start: float = 0.0,
    every: int = 1,
    ready_timeout: float = 60.0,
    command_started: float | None = None,
) -> dict:
    """Run ``show`` for ``seconds`` of media time from ``start``; returns the summary.

    ``command_started`` (monotonic s): when the command began, for ``first_frame_s``. Live
    input runs ``seconds`` from when the listener hears its first sample.
    """
    if frames_out is not None:
        frames_out.mkdir(parents=True, exist_ok=True)
    started_on = "streaming" if getattr(show.analysis, "streaming", False) else "full"
    show.player.seek(start)
    show.start(play=True, wait_ready_s=ready_timeout)
    news: list[str] = []
    deadline = time.monotonic() + ready_timeout
    while show.waiting_for_engine and time.monotonic() < deadline:
        news += show.poll_worker()
        time.sleep(0.01)
    if show.live:  # live: the clock starts with the first captured sample, if one comes
        deadline = time.monotonic() + max(seconds, 5.0)
    while show.live and not show.playing and time.monotonic() < deadline:
        news += show.poll_worker()  # live: the clock starts with the first captured sample
        show.player.tick()
        time.sleep(0.01)
    end = min(start + seconds, show.analysis.duration)
    interval = 1.0 / show.options.fps
    shown: list[dict] = []
    began = time.monotonic()
    first_frame_at: float | None = None
    next_tick = began
    wall_end = began + seconds + 5.0  # live: a clock that stalls cannot hold the run forever
    while show.playing and show.now < end and time.monotonic() < wall_end:
        news += show.poll_worker()
        info = show.poll_frame()
        if info is not None and first_frame_at is None:
            first_frame_at = time.monotonic()
        if info is not None:
            lag = show.now - info.media_time  # how late the frame is against what is heard
            entry = {
                "frame_no": info.frame_no,
                "t": round(info.media_time, 4),
                "lag_ms": round(1000 * lag, 2),
                "file": None,
            }
            if frames_out is not None and (len(shown) % every == 0):
                name = f"frame_{len(shown):05d}.png"
                Image.fromarray(show.frame[: info.height, : info.width]).save(
                    frames_out / name, compress_level=1
                )
                entry["file"] = name
            shown.append(entry)
        next_tick += interval
        time.sleep(max(0.0, next_tick - time.monotonic()))
    elapsed = time.monotonic() - began
    news += show.poll_worker()
    generated = show.ring.written
    lags = np.array([f["lag_ms"] for f in shown]) if shown else np.zeros(1)
    summary = {
        "song": show.analysis.title,
        "duration": (
            round(show.analysis.duration, 3) if math.isfinite(show.analysis.duration) else None
        ),
        "bpm": round(show.analysis.bpm, 3),
        "engine": show.status.engine,
        "graphics": "none (headless)",
        "sound": show.player.describe(),
        "start": start,
        "seconds": round(elapsed, 3),
        "frames_generated": generated,
        "frames_shown": len(shown),
        "frames_dropped": show.status.dropped,
        "mean_fps": round(len(shown) / elapsed, 2) if elapsed > 0 else 0.0,
        "gen_ms": round(show.status.gen_ms, 3),
        "av_offset_ms": {
            "mean": round(float(lags.mean()), 2),
            "p95": round(float(np.percentile(lags, 95)), 2),
        },
        "worker_restarts": max(0, show.worker.starts - 1),
        "first_frame_s": (
            round(first_frame_at - command_started, 3)
            if first_frame_at is not None and command_started is not None
            else None
        ),
        "started_on": started_on,
        "analysis": "streaming" if getattr(show.analysis, "streaming", False) else "full",
        "events": list(show.status.events),
        "shown_frames": shown,
    }
    if show.live:
        a = show.analysis
        t0 = show.listener.t0
        summary.update(
            source=show.listener.status.source,
            bpm=round(a.bpm, 3) if a.has_tempo else None,
            beats=[round(float(b), 4) for b in a.beats],
            capture_t0=t0,
            input_state=a.input_state,
            overruns=a.overruns,
        )
    if frames_out is not None:
        (frames_out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
