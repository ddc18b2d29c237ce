"""The engine worker as a real spawned process: control pipe, frame ring, restarts, cleanup."""

import os
import signal
import time

import numpy as np

from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.show import Show, ShowOptions
from hambajuba_tui.vocab import SAMPLE_RATE


def _show(analysis, **kw) -> Show:
    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    opts = ShowOptions(width=64, height=64, fps=30.0, sound=False, **kw)
    return Show(analysis, silence, SAMPLE_RATE, load_pack().session(), opts)


def _wait(predicate, timeout=30.0, show=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if show is not None:
            show.poll_worker()
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_worker_renders_ahead_of_the_clock_and_frames_reach_the_reader(analysis):
    with _show(analysis) as show:
        names = [f"/dev/shm/{show.ring.name}", f"/dev/shm/{show.clock.name}"]
        assert all(os.path.exists(n) for n in names)
        show.start()
        assert _wait(lambda: show.status.worker == "running", show=show)
        assert _wait(lambda: show.playing, show=show)
        shown = []
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            show.poll_worker()
            info = show.poll_frame()
            if info is not None:
                assert info.media_time <= show.now + 1e-3  # never shown before its time
                shown.append((info.frame_no, show.frame[:64, :64].copy()))
            time.sleep(1 / 60)
        assert len(shown) >= 15
        # Frame numbers only grow; the pictures move.
        numbers = [n for n, _ in shown]
        assert numbers == sorted(set(numbers))
        diffs = [np.abs(a.astype(int) - b).mean() for (_, a), (_, b) in zip(shown, shown[1:])]
        assert np.mean(diffs) > 0.5
        assert show.status.gen_ms > 0
    assert not any(os.path.exists(n) for n in names)


def test_a_killed_worker_is_restarted_and_the_show_goes_on(analysis):
    with _show(analysis) as show:
        show.start()
        assert _wait(lambda: show.status.worker == "running", show=show)
        first = show.worker.proc.pid
        os.kill(first, signal.SIGKILL)
        news: list[str] = []
        assert _wait(lambda: bool(news.extend(show.poll_worker()) or news), timeout=5)
        assert "restarted" in news[0] and "-9" in news[0]
        assert show.playing  # the music did not stop
        assert _wait(lambda: show.status.worker == "running", show=show)
        assert show.worker.proc.pid != first
        before = show.ring.written
        assert _wait(lambda: show.ring.written > before + 5, show=show)


def test_session_changes_reach_the_worker_while_paused(analysis):
    with _show(analysis) as show:
        show.start(play=False)
        assert _wait(lambda: show.status.worker == "running", show=show)
        assert _wait(lambda: show.poll_frame() is not None, show=show)
        before = show.frame.copy()
        show.set_session(show.session.with_block("up.0.1", source="other", feature=4321))
        assert _wait(lambda: show.poll_frame() is not None, show=show)
        assert np.abs(show.frame.astype(int) - before).mean() > 1.0


def test_seeking_drops_frames_of_the_old_position(analysis):
    with _show(analysis) as show:
        show.start()
        assert _wait(lambda: show.playing, show=show)
        assert _wait(lambda: show.poll_frame() is not None, show=show)
        show.seek_by(6.0)
        assert _wait(lambda: show.poll_frame() is not None, show=show)
        assert show.frame_info.media_time >= 6.0


def test_a_new_show_removes_segments_left_by_a_crashed_run(analysis):
    """A run that owns a ring and a clock dies with its whole process group (its resource
    tracker too, as when the terminal is closed); the next start cleans up what it left."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import time
        from hambajuba_tui.engine.ring import FrameRing
        from hambajuba_tui.player import MediaClock
        ring, clock = FrameRing.create(8, 8), MediaClock.create(1.0)
        print(ring.name, clock.name, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    names = proc.stdout.readline().split()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    leftovers = [f"/dev/shm/{n}" for n in names]
    assert len(leftovers) == 2 and all(os.path.exists(p) for p in leftovers)
    with _show(analysis) as show:
        assert sorted(show.stale_removed) == sorted(names)
        assert not any(os.path.exists(p) for p in leftovers)
