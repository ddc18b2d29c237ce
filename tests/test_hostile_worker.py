"""Issue 15, the fault test: the engine worker is killed three times during a headless run.
The run completes, frames resume within a second each time, and no shared-memory segment is
left behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_analysis

from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.headless import run_headless
from hambajuba_tui.shm import PREFIX
from hambajuba_tui.show import Show, ShowOptions
from hambajuba_tui.vocab import SAMPLE_RATE

KILLS_AT = (3.0, 6.0, 9.0)
"""Seconds into the run at which the worker is killed."""


def _segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob(f"{PREFIX}{os.getpid()}-*")}


@pytest.mark.slow
def test_killing_the_worker_three_times_the_run_completes_and_frames_resume():
    before = _segments()
    analysis = make_analysis(duration=16.0)
    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    options = ShowOptions(width=96, height=96, sound=False)
    show = Show(analysis, silence, SAMPLE_RATE, load_pack().session(), options)
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(run_headless(show, 13.0)))
    try:
        run.start()
        deadline = time.monotonic() + 120
        while show.waiting_for_engine and time.monotonic() < deadline:
            time.sleep(0.05)
        began = time.monotonic()
        killed = []
        for at in KILLS_AT:
            time.sleep(max(0.0, began + at - time.monotonic()))
            pid = show.worker.proc.pid
            assert pid not in killed
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        run.join(120)
        assert not run.is_alive()
    finally:
        show.close()
    assert result["worker_restarts"] == 3, result["events"]
    times = [f["t"] for f in result["shown_frames"]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    big = [(round(times[i], 2), round(g, 2)) for i, g in enumerate(gaps) if g > 0.5]
    assert max(gaps) < 1.0, (big, result["events"])  # frames resume within a second each time
    assert times[-1] > 12.0
    assert _segments() <= before  # no segment left behind
