"""The signal store and StreamAnalysis: the streaming seam the conductor, face and orbs read."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import make_analysis

from hambajuba_tui.audio.store import StreamAnalysis
from hambajuba_tui.bridge.composition import StreamBeatWalk, make_walk
from hambajuba_tui.bridge.conductor import Conductor
from hambajuba_tui.bridge.handover import Handover
from hambajuba_tui.catalog.packs import load_pack
from hambajuba_tui.tui.moment import CreatureClock

NAMES = (
    "drums.energy_smooth",
    "drums.transient",
    "drums.envelope",
    "global.energy_smooth",
    "global.novelty_mid",
    "bass.energy_smooth",
)


@dataclass
class Update:
    """Shaped like audio.stream.StreamUpdate."""

    start: int
    values: np.ndarray
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bpm: float = 0.0
    next_beat: float = math.nan
    key: str = ""
    layer_entries: list = field(default_factory=list)


@pytest.fixture
def live():
    a = StreamAnalysis.create(NAMES, title="live")
    yield a
    a.close()


def ramp(start: int, k: int) -> np.ndarray:
    """Each signal's value at frame i is (i % 100) / 100, so every read is checkable."""
    i = np.arange(start, start + k)
    return np.tile(((i % 100) / 100.0).astype(np.float32), (len(NAMES), 1))


def test_sample_interpolates_and_clamps_to_written_frames(live):
    assert live.sample("drums.energy_smooth", 1.0) == 0.0  # nothing written yet
    live.store.put(Update(0, ramp(0, 50)))
    assert live.n_hops == 50
    assert live.sample("drums.energy_smooth", 0.105) == pytest.approx(0.105, abs=1e-6)
    assert live.sample("drums.energy_smooth", 5.0) == pytest.approx(0.49)  # newest frame
    assert "drums.transient" in live.signals and "vocals.pitch_norm" not in live.signals


def test_live_ring_keeps_the_newest_frames_only(live):
    cap = live.store.capacity
    step = 10_000
    for start in range(0, cap + 3 * step, step):
        live.store.put(Update(start, ramp(start, step)))
    n = live.n_hops
    assert n == step * len(range(0, cap + 3 * step, step))
    window = live.signals["drums.envelope"]
    assert len(window) == cap
    expect = ((np.arange(n - cap, n) % 100) / 100).astype(np.float32)
    np.testing.assert_array_equal(window, expect)
    t_old = 1.0  # long gone from the ring: clamps to the oldest kept frame
    assert live.sample("drums.envelope", t_old) == pytest.approx(((n - cap) % 100) / 100)


def test_pickles_to_the_same_segment(live):
    live.store.put(Update(0, ramp(0, 30), bpm=128.0, next_beat=0.5, key="A minor"))
    other = pickle.loads(pickle.dumps(live))
    try:
        assert other.store.name == live.store.name
        assert other.sample("bass.energy_smooth", 0.2) == pytest.approx(0.2)
        assert other.bpm == 128.0 and other.key == "A minor"
        live.store.put(Update(30, ramp(30, 10)))
        assert other.n_hops == 40  # the reader sees the producer's new frames
    finally:
        other.store.close()


def test_beat_phase_counts_the_predicted_beat_on_time(live):
    live.store.put(Update(0, ramp(0, 100), beats=np.array([0.5]), bpm=120.0, next_beat=1.0))
    assert live.beat_phase(0.75) == (0, pytest.approx(0.5))
    # 1.0 s has come but the analyser has not emitted it yet: the prediction counts
    i, phase = live.beat_phase(1.01)
    assert i == 1 and phase == pytest.approx(0.02, abs=1e-6)
    assert live.beat_time(1) == 1.0
    # no tempo and no prediction (silence): the phase holds at 1, nothing steps
    live.store.set_tempo(0.0, math.nan)
    assert live.beat_phase(3.0) == (0, 1.0)
    assert live.bpm == 120.0 and not live.has_tempo


def test_stream_walk_steps_once_per_beat_and_holds_in_silence(live):
    values = np.ones((len(NAMES), 400), np.float32)
    live.store.put(Update(0, values, beats=np.array([0.5, 1.0, 1.5]), bpm=120, next_beat=2.0))
    walk = make_walk(live, distance=0.25, mode="pulse")
    assert isinstance(walk, StreamBeatWalk)
    step = 0.25 * 2 * math.pi
    assert walk.pulse(0.4) == 0.0
    assert walk.pulse(0.999) == pytest.approx(step)  # beat 0 fully moved, held
    assert walk.pulse(1.99) == pytest.approx(3 * step)
    assert walk.pulse(2.4) == pytest.approx(4 * step)  # the predicted beat at 2.0
    live.store.set_tempo(0.0, math.nan)
    live.store.put(Update(400, values[:, :1]))
    held = walk.pulse(5.0)
    assert walk.pulse(9.0) == held  # silence: no new beats, no motion


def test_conductor_and_creature_run_on_a_stream(live):
    values = np.random.default_rng(1).random((len(NAMES), 300)).astype(np.float32)
    values[NAMES.index("global.novelty_mid")] = 0.0  # the only drop is the layer entry
    live.store.put(
        Update(
            0,
            values,
            beats=np.arange(0.5, 3.0, 0.5),
            bpm=120,
            next_beat=3.0,
            layer_entries=[("drums", 1.2)],
        )
    )
    conductor = Conductor(live, load_pack().session())
    thetas = [conductor.step(t).theta for t in np.arange(0, 3, 1 / 30)]
    assert np.all(np.diff(thetas) >= -1e-9) and thetas[-1] > 0
    clock = CreatureClock(live)
    assert clock.since_drop(1.5) == pytest.approx(0.3)
    moment = clock.at(2.05, True, ["drums", "bass", "vocals", "other"])
    assert moment.pulse > 0  # 0.05 s after the beat at 2.0


def test_handover_fades_between_conductors():
    session = load_pack().session()
    old, new = make_analysis(bpm=100), make_analysis(bpm=140)
    a, b = Conductor(old, session), Conductor(new, session)
    ref_a, ref_b = Conductor(old, session), Conductor(new, session)
    h = Handover(a, b, seconds=1.0)
    times = np.arange(2.0, 3.5, 1 / 30)
    for t in times:
        p = h.step(float(t))
        pa, pb = ref_a.step(float(t)), ref_b.step(float(t))
        w = min(1.0, (t - times[0]) / 1.0)
        np.testing.assert_allclose(
            p.strengths, pa.strengths + w * (pb.strengths - pa.strengths), rtol=1e-5, atol=1e-5
        )
        assert p.theta == pytest.approx(pa.theta + w * (pb.theta - pa.theta))
    assert h.done
