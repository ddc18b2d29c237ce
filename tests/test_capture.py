"""Live capture (hambajuba_tui.audio.capture) against a real PulseAudio server (tests/pulse.py)."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from pulse import PulseServer, pulse  # noqa: F401  (fixture)
from scipy.signal import correlate, resample_poly

from hambajuba_tui.audio import capture as cap
from hambajuba_tui.audio.capture import (
    Capture,
    CaptureError,
    Source,
    StreamResampler,
    find_source,
    list_sources,
)

SR = 44100


class Sink:
    """Collects blocks from a Capture's callback."""

    def __init__(self, delay: float = 0.0) -> None:
        self.blocks: list[np.ndarray] = []
        self.times: list[float] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, samples: np.ndarray, t: float) -> None:
        assert samples.dtype == np.float32 and samples.ndim == 1
        with self.lock:
            self.blocks.append(samples.copy())
            self.times.append(t)
        if self.delay:
            time.sleep(self.delay)

    def count(self) -> int:
        with self.lock:
            return len(self.blocks)

    def since(self, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples from block ``start`` on, and the capture time of every sample."""
        with self.lock:
            blocks, times = self.blocks[start:], self.times[start:]
        x = np.concatenate(blocks)
        n = len(blocks[0])
        t = np.concatenate([tb - (n - 1 - np.arange(n)) / SR for tb in times])
        return x, t


def wait_for(pred, timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- no server needed ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate_in", [48000, 22050, 96000])
def test_stream_resampler_equals_resample_poly_at_any_block_joins(rate_in):
    rng = np.random.default_rng(0)
    t = np.arange(int(rate_in * 0.5)) / rate_in
    x = (0.8 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    rs = StreamResampler(rate_in, SR)
    pieces, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 700))
        pieces.append(rs.process(x[i : i + n]))
        i += n
    y = np.concatenate(pieces)
    ref = resample_poly(x.astype(np.float64), rs.up, rs.down)
    m = min(len(y), len(ref)) - 200  # the reference pads the end; the stream has not reached it
    assert len(y) >= len(ref) - 64
    assert np.max(np.abs(y[:m] - ref[:m])) < 1e-5
    # no clicks at joins: the sine's second difference stays smooth everywhere
    d2 = np.abs(np.diff(y[200:m], 2))
    assert d2.max() < 1.2 * (2 * np.pi * 440 / SR) ** 2 * 0.8 + 1e-4


def test_stream_resampler_identity_at_44100():
    rs = StreamResampler(SR, SR)
    x = np.arange(10, dtype=np.float32)
    assert np.array_equal(rs.process(x), x)


def test_sample_clock_ignores_late_reads_and_counts_real_gaps():
    rate, frames = 48000, 480
    clk = cap._SampleClock(rate)
    rng = np.random.default_rng(1)
    gaps, n = [], 0
    for k in range(300):
        n += frames
        t = 100.0 + n / rate + rng.uniform(0, 0.004)  # reads return 0-4 ms after capture
        if k == 100:
            t += 0.08  # one stalled read: not a gap
        if k >= 200:
            t += 0.25  # 250 ms of samples never arrived: a gap
        gaps.append(clk.observe(n - 1, t))
    assert sum(1 for g in gaps if g) == 1
    assert max(gaps) == pytest.approx(0.25, abs=0.01)
    assert clk.time_of(n - 1) == pytest.approx(100.0 + n / rate + 0.25, abs=0.005)


def _fake(names):
    return [
        Source(n, f"Label {n}", "monitor" if n.endswith(".monitor") else "microphone", d, i, 2, SR)
        for i, (n, d) in enumerate(names)
    ]


def test_pick_rules():
    srcs = _fake([("a.monitor", False), ("b.monitor", True), ("alsa_input.usb-mic", False)])
    assert cap._pick(None, srcs).name == "b.monitor"
    assert cap._pick("2", srcs).name == "alsa_input.usb-mic"
    assert cap._pick(0, srcs).name == "a.monitor"
    assert cap._pick("a.monitor", srcs).name == "a.monitor"
    assert cap._pick("usb", srcs).name == "alsa_input.usb-mic"
    with pytest.raises(CaptureError, match="ambiguous"):
        cap._pick("monitor", srcs)
    with pytest.raises(CaptureError, match="(?s)no source matches 'zzz'.*b.monitor"):
        cap._pick("zzz", srcs)
    with pytest.raises(CaptureError, match="no source number 7"):
        cap._pick(7, srcs)
    with pytest.raises(CaptureError, match="no monitor and no microphone"):
        cap._pick(None, [])


def test_no_audio_server_is_a_clear_error_and_a_waiting_status(monkeypatch, tmp_path):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/nobody-home")
    with pytest.raises(CaptureError, match="no audio server reachable"):
        list_sources()
    with pytest.raises(CaptureError, match="no audio server"):
        find_source(None)
    c = Capture(None, Sink())
    c.start()
    try:
        wait_for(lambda: "no audio server" in c.status.message, 3, "a waiting status")
        st = c.status
        assert st.state == "waiting" and st.source == "" and "retrying" in st.message
    finally:
        c.stop()
    assert c.status.state == "stopped"
    c.stop()  # idempotent


class FakeStream:
    """Stands in for a device: 48 kHz stereo (or mono) at real-time pace, clipped, with DC."""

    def __init__(self, sc, source: Source) -> None:
        self.source = source
        self.rate, self.n = source.samplerate, 0
        self.t0 = time.monotonic()

    def read(self):
        frames = self.rate // 100
        due = self.t0 + (self.n + frames) / self.rate
        time.sleep(max(0.0, due - time.monotonic()))
        i = self.n + np.arange(frames)
        self.n += frames
        x = 1.5 * np.sin(2 * np.pi * 440 * i / self.rate) + 0.2  # clips, and has DC
        out = np.stack([x] * self.source.channels, axis=1).astype(np.float32)
        return out, time.monotonic()

    def close(self) -> None:
        pass


@pytest.mark.parametrize("channels", [1, 2])
def test_capture_pipeline_on_a_fake_48k_device(monkeypatch, channels):
    src = Source("fake.mic", "Fake mic", "microphone", True, 0, channels, 48000)
    monkeypatch.setattr(cap, "_import_soundcard", lambda: None)
    monkeypatch.setattr(cap, "list_sources", lambda: [src])
    monkeypatch.setattr(cap, "_Stream", FakeStream)
    sink = Sink()
    with Capture(None, sink, block=512) as c:
        wait_for(lambda: sink.count() > 60, 5, "blocks")
        st = c.status
    assert st.state == "capturing" and st.source == "fake.mic" and st.samplerate == 48000
    assert st.level_db > -3.0  # loud: clipped sine with DC
    x, t = sink.since(0)
    assert all(len(b) == 512 for b in sink.blocks)
    assert np.max(np.abs(x)) <= 1.0  # clip-safe
    assert np.mean(x[4096:]) > 0.05  # the DC passes through
    # the block stamps advance by one block's duration at 44.1 kHz
    steps = np.diff(np.array(sink.times))
    assert np.median(steps) == pytest.approx(512 / SR, rel=0.02)
    assert c.status.state == "stopped"


# -- a real PulseAudio server -------------------------------------------------------------------


def test_list_sources_shows_the_null_sinks_monitor_as_default(pulse):  # noqa: F811
    srcs = list_sources()
    mon = next(s for s in srcs if s.name == "hjtest.monitor")
    assert mon.kind == "monitor" and mon.default and mon.index == srcs.index(mon)
    assert mon.samplerate == 44100 and mon.channels == 2
    assert find_source(None) == mon
    assert find_source(str(mon.index)) == mon
    assert find_source("hjtest") == mon
    pulse.load_sink("other", rate=48000)
    pulse.set_default_sink("other")
    srcs = list_sources()
    assert [s.name for s in srcs if s.default] == ["other.monitor"]
    assert next(s for s in srcs if s.name == "other.monitor").samplerate == 48000
    with pytest.raises(CaptureError, match="hjtest.monitor"):
        find_source("nothing-like-this")


def test_capture_recovers_a_click_train_with_its_timing(pulse):  # noqa: F811
    sink = Sink()
    with Capture(None, sink) as c:
        wait_for(lambda: sink.count() > 60, 6, "blocks from the monitor, the clock settled")
        st = c.status
        assert st.state == "capturing" and st.source == "hjtest.monitor"
        assert st.samplerate == 44100 and st.level_db == -math.inf  # the null sink is silent
        # a click train: 5 ms 2 kHz bursts every 0.15 s, the first 0.2 s in
        period, first, n_clicks = 0.15, 0.2, 6
        sig = np.zeros(int(SR * (first + period * n_clicks + 0.2)), np.float32)
        burst = (0.5 * np.sin(2 * np.pi * 2000 * np.arange(int(0.005 * SR)) / SR)).astype(
            np.float32
        )
        onsets = first + period * np.arange(n_clicks)
        for o in onsets:
            i = int(round(o * SR))
            sig[i : i + len(burst)] = burst
        start_block = sink.count()
        t_launch = time.monotonic()
        player = pulse.play(sig, latency_ms=200)  # no underruns on a busy machine
        player.wait(timeout=10)
        time.sleep(0.15)
        x, t = sink.since(start_block)
        assert c.status.level_db > -90 or c.status.level_db == -math.inf
    # every click is there, intact: normalised cross-correlation of each with the burst (a
    # whole-signal correlation would also grade the player, which can underrun on a busy box)
    lag = int(np.argmax(correlate(x.astype(np.float64), sig.astype(np.float64), "valid", "fft")))
    assert lag > 0
    # click times from the capture timestamps
    env = np.abs(x) > 0.25
    starts = np.flatnonzero(env[1:] & ~env[:-1]) + 1
    starts = starts[np.insert(np.diff(starts) > SR * 0.05, 0, True)]
    assert len(starts) == n_clicks, np.diff(starts)
    for st in starts:
        seg = x[st - 20 : st + len(burst) + 20].astype(np.float64)
        c = correlate(seg, burst.astype(np.float64), "valid")
        assert c.max() / (np.linalg.norm(burst) * np.linalg.norm(burst)) > 0.95
    heard = t[starts]
    intervals = np.diff(heard)
    # stamps are good to a few ms (the null sink renders in blocks; the clock settles)
    assert np.all(np.abs(intervals - period) < 0.006), intervals
    offset = float(np.median(heard - (t_launch + onsets)))
    # from launching the player to the capture stamp: player start-up and buffering, less the
    # null sink rendering a little ahead of real time (a real device delivers after capture)
    jitter = np.max(np.abs(intervals - period))
    print(f"capture offset from player launch: {offset * 1e3:.1f} ms, jitter {jitter * 1e3:.1f} ms")
    assert -0.03 < offset < 0.3


def test_48k_sink_gives_44k1_blocks_at_the_right_pitch(pulse):  # noqa: F811
    pulse.load_sink("hj48", rate=48000)
    sink = Sink()
    with Capture("hj48.monitor", sink) as c:
        wait_for(lambda: sink.count() > 5, 5, "blocks")
        assert c.status.samplerate == 48000
        start = sink.count()
        tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(int(48000 * 0.8)) / 48000)
        pulse.play(np.stack([tone, tone], axis=1), sr=48000, device="hj48").wait(timeout=10)
        time.sleep(0.2)
        x, _ = sink.since(start)
    loud = x[np.abs(x) > 0.0]
    assert len(loud) > SR // 2
    seg = loud[2000 : 2000 + 16384]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    peak = np.argmax(spec) * SR / len(seg)
    assert abs(peak - 1000) < 3.0, peak
    assert np.max(np.abs(seg)) == pytest.approx(0.5, abs=0.02)


def test_source_vanishes_then_returns(pulse):  # noqa: F811
    sink = Sink()
    with Capture("hjtest.monitor", sink) as c:
        wait_for(lambda: c.status.state == "capturing", 5, "capturing")
        pulse.unload(pulse.sink_module("hjtest"))
        wait_for(lambda: c.status.state == "waiting", 5, "waiting after the sink went")
        st = c.status
        assert "hjtest.monitor" in st.message and "waiting" in st.message, st.message
        time.sleep(0.5)
        n = sink.count()
        pulse.load_sink("hjtest")
        wait_for(lambda: c.status.state == "capturing", 6, "capturing again")
        assert c.status.source == "hjtest.monitor"
        wait_for(lambda: sink.count() > n + 10, 3, "blocks again")


def test_falls_back_to_the_default_and_switches_back(pulse):  # noqa: F811
    pulse.load_sink("extra")
    sink = Sink()
    with Capture("extra.monitor", sink, fallback_to_default=True) as c:
        wait_for(lambda: c.status.source == "extra.monitor", 5, "capturing extra")
        pulse.unload(pulse.sink_module("extra"))
        wait_for(lambda: c.status.source == "hjtest.monitor", 6, "the default meanwhile")
        assert c.status.state == "capturing"
        assert "extra.monitor" in c.status.message and "default" in c.status.message
        pulse.load_sink("extra")
        wait_for(lambda: c.status.source == "extra.monitor", 8, "switching back")


def test_a_mono_48k_microphone_is_listed_and_captured(pulse):  # noqa: F811
    pulse.pactl(
        "load-module", "module-null-source", "source_name=hjmic", "channels=1", "rate=48000"
    )
    mic = find_source("hjmic")
    assert (mic.kind, mic.channels, mic.samplerate, mic.default) == ("microphone", 1, 48000, False)
    assert list_sources()[-1] == mic  # monitors first, then microphones
    sink = Sink()
    with Capture("hjmic", sink) as c:
        wait_for(lambda: sink.count() > 10, 6, "blocks from the mic")
        st = c.status
    assert st.source == "hjmic" and st.samplerate == 48000
    assert all(len(b) == 512 for b in sink.blocks)


def test_a_source_named_before_it_exists_is_picked_up_when_it_appears(pulse):  # noqa: F811
    sink = Sink()
    with Capture("later", sink) as c:
        wait_for(lambda: c.status.source == "hjtest.monitor", 6, "the default meanwhile")
        assert c.status.message.startswith("no source matches 'later'; capturing the default")
        pulse.load_sink("later")
        wait_for(lambda: c.status.source == "later.monitor", 8, "switching to it")


def test_overruns_are_counted_when_the_callback_is_slow(pulse):  # noqa: F811
    sink = Sink(delay=0.05)  # 50 ms per 11.6 ms block
    c = Capture(None, sink, queue_s=0.1)
    c.start()
    try:
        wait_for(lambda: c.status.overruns > 10, 5, "overruns")
        assert c.status.state == "capturing"
    finally:
        t0 = time.monotonic()
        c.stop()
    assert time.monotonic() - t0 < 2.0


def test_server_restart_is_survived():
    server = PulseServer()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.skip(f"no PulseAudio: {exc}")
    mp = pytest.MonkeyPatch()
    try:
        for k, v in server.env.items():
            mp.setenv(k, v)
        sink = Sink()
        with Capture(None, sink) as c:
            wait_for(lambda: c.status.state == "capturing", 5, "capturing")
            server.crash()
            wait_for(lambda: c.status.state == "waiting", 5, "waiting without a server")
            assert "server" in c.status.message or "vanished" in c.status.message
            server.start()
            wait_for(lambda: c.status.state == "capturing", 8, "capturing after the restart")
            n = sink.count()
            wait_for(lambda: sink.count() > n + 5, 3, "blocks after the restart")
    finally:
        server.stop()
        mp.undo()


def test_a_subprocess_sees_the_fixture_server(pulse):  # noqa: F811
    """How a CLI test (``hambajuba live --headless --source hjtest.monitor``) reuses the fixture:
    the env is already set for children; ``pulse.client_env()`` spells it out."""
    import subprocess
    import sys

    code = (
        "from hambajuba_tui.audio.capture import find_source; s = find_source('hjtest.monitor'); "
        "print(s.name, s.kind, s.default)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=pulse.client_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hjtest.monitor", "monitor", "True"]
