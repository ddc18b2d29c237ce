"""Shared fixtures. Every test runs with HAMBAJUBA_HOME in a temp dir and no sound device.

``./run test`` runs the suite on every core with pytest-xdist (``-n logical --dist loadgroup``);
``-n 0`` or ``-p no:xdist`` runs it in one process. See ``pytest_collection_modifyitems`` for how
the tests are spread over the workers.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

# Under xdist each worker gets its share of the cores for OpenMP/BLAS threads, before numpy or
# torch load here or in any subprocess a test starts: two processes with two spinning OpenMP
# threads each on two cores run torch 3-10x slower than with one each (bench/RESULTS.md).
# A value the developer set is kept.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    _threads = str(max(1, len(os.sched_getaffinity(0)) // max(1, _workers)))
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)
    # numba's on-disk cache (librosa's kernels) is written by whichever process compiles first:
    # two workers compiling into one cold cache at once crashed a fresh clone's run (a
    # segfault in peak_pick). Each worker, and what it starts, gets its own cache folder.
    import tempfile as _tempfile

    os.environ.setdefault(
        "NUMBA_CACHE_DIR",
        os.path.join(
            _tempfile.gettempdir(),
            f"hambajuba-numba-{os.getuid()}-{os.environ['PYTEST_XDIST_WORKER']}",
        ),
    )

# A run started in the background by a script (`./run test &`) inherits an ignored SIGINT, and so
# would every CLI a test starts: its Ctrl-C tests would see the signal ignored. Give the tests
# what a terminal gives (Ctrl-C raises KeyboardInterrupt, children start with the default).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hambajuba_tui.audio.analysis import Analysis  # noqa: E402
from hambajuba_tui.vocab import GRID_RATE, PHYSICAL_STEMS  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HAMBAJUBA_HOME", str(tmp_path_factory.getbasetemp() / "home"))
    monkeypatch.setenv("HAMBAJUBA_AUDIO", "none")
    # Model caches (demucs weights, Hugging Face): empty, so `auto` behaves the same everywhere.
    models = tmp_path_factory.getbasetemp() / "models"
    for var, sub in (("HF_HOME", "hf"), ("TORCH_HOME", "torch"), ("XDG_CACHE_HOME", "xdg")):
        monkeypatch.setenv(var, str(models / sub))


@dataclass(frozen=True)
class DemoAnalysis:
    """The demo song analysed cold: its file, the cache dir the analysis went to, the result, the
    seconds it took and the progress calls it made."""

    path: Path
    cache_dir: Path
    analysis: Analysis
    seconds: float
    calls: list[tuple[str, float]]


@pytest.fixture(scope="session")
def demo_song():
    """The synthesised demo song (``synthesize_demo()``), made once per test process."""
    from hambajuba_tui.audio.demo_song import synthesize_demo

    return synthesize_demo()


@pytest.fixture(scope="session")
def demo_analysis(tmp_path_factory) -> DemoAnalysis:
    """The demo song analysed once per test process, shared by test_audio_analyze and
    test_audio_signals_full (one xdist group, so one worker makes it). Read-only: tests that
    change a cache make their own."""
    from hambajuba_tui.audio.analysis import analyze
    from hambajuba_tui.audio.demo_song import write_demo_song

    home = tmp_path_factory.mktemp("demo-analysis-home")
    models = tmp_path_factory.getbasetemp() / "models"
    with pytest.MonkeyPatch.context() as mp:  # as _isolated_home, which is not set up yet here
        mp.setenv("HAMBAJUBA_HOME", str(home))
        mp.setenv("HAMBAJUBA_AUDIO", "none")
        for var, sub in (("HF_HOME", "hf"), ("TORCH_HOME", "torch"), ("XDG_CACHE_HOME", "xdg")):
            mp.setenv(var, str(models / sub))
        path = write_demo_song(home / "demo")
        cache_dir = home / "cache" / "analysis"
        calls: list[tuple[str, float]] = []
        start = time.perf_counter()
        result = analyze(path, cache_dir=cache_dir, progress=lambda st, f: calls.append((st, f)))
        seconds = time.perf_counter() - start
    return DemoAnalysis(path, cache_dir, result, seconds, calls)


def make_analysis(duration: float = 12.0, bpm: float = 120.0) -> Analysis:
    """A small hand-made Analysis: drums hit on every beat, bass swells per bar, others hum.

    Built without librosa so bridge, worker and app tests stay fast and their truth is known.
    """
    n = int(duration * GRID_RATE)
    t = np.arange(n) / GRID_RATE
    period = 60.0 / bpm
    beats = np.arange(0.0, duration, period)
    since = t - beats[np.clip(np.searchsorted(beats, t, side="right") - 1, 0, None)]
    pulse = np.exp(-since / 0.04).astype(np.float32)
    signals: dict[str, np.ndarray] = {}
    shapes = {
        "drums": 0.3 + 0.7 * np.exp(-since / 0.15),
        "bass": 0.5 + 0.5 * np.sin(2 * np.pi * t / (4 * period)) ** 2,
        "vocals": np.clip(np.sin(2 * np.pi * t / 5.0), 0, 1),
        "other": np.full(n, 0.4),
    }
    for stem in PHYSICAL_STEMS:
        env = shapes[stem].astype(np.float32)
        signals[f"{stem}.envelope"] = env
        signals[f"{stem}.energy_smooth"] = env
        signals[f"{stem}.flash"] = env
        signals[f"{stem}.sustain"] = env
        signals[f"{stem}.transient"] = pulse if stem == "drums" else np.zeros(n, np.float32)
    mix = np.mean([signals[f"{s}.energy_smooth"] for s in PHYSICAL_STEMS], axis=0)
    for name in ("envelope", "energy_smooth", "flash", "sustain"):
        signals[f"global.{name}"] = mix.astype(np.float32)
    signals["global.transient"] = pulse
    return Analysis(
        song_hash="synthetic",
        duration=duration,
        bpm=bpm,
        beats=beats,
        downbeats=beats[::4],
        stems_backend="synthetic",
        signals=signals,
        title="synthetic",
    )


@pytest.fixture
def analysis() -> Analysis:
    return make_analysis()


@pytest.fixture
def make_app(analysis):
    """Builds the real app on a silent Show of the synthetic song (``tests/pilot.py``); call it
    inside the scenario: ``make_app()``, ``make_app(graphics=...)``, ``make_app(size=64)``."""
    from pilot import app_for  # here, not at the top: only the app tests pay for Textual

    return lambda **kwargs: app_for(analysis, **kwargs)


# --- spreading the suite over xdist workers ------------------------------------------------

_SHARED_SCOPES = ("module", "class", "package")


def _module_group(item: pytest.Item) -> str | None:
    """The test's module when it uses a module-wide fixture of that module (an analysed song,
    a compiled model, a virtual screen): that module's tests then run on one worker, so the
    fixture is made once, as in a serial run, and not once per worker."""
    defs = getattr(item, "_fixtureinfo", None)
    if defs is None:
        return None
    module = item.nodeid.split("::", 1)[0]
    for fixturedefs in defs.name2fixturedefs.values():
        for fd in fixturedefs:
            mine = fd.baseid == module or fd.baseid.startswith(module + "::")
            if fd.scope in _SHARED_SCOPES and mine:
                return module
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (``--dist loadgroup``), group and order the tests for two busy cores:

    - tests sharing a module-scoped fixture go to one worker (``xdist_group`` = their module),
      unless they already name a group;
    - work marked ``slow`` (a slow test, or a group holding one) is handed out first, so the
      long tests do not start last and leave one worker idle at the end.

    A serial run (``-n 0``, ``-p no:xdist``) keeps the collection order and adds no marks.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    group_of: dict[str, str] = {}
    for item in items:
        explicit = item.get_closest_marker("xdist_group")
        if explicit is not None:
            group_of[item.nodeid] = str(
                explicit.args[0] if explicit.args else explicit.kwargs.get("name", "default")
            )
            continue
        group = _module_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            group_of[item.nodeid] = group
    slow_groups = {
        group_of[item.nodeid]
        for item in items
        if item.nodeid in group_of and item.get_closest_marker("slow") is not None
    }

    def first(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is not None:
            return 0
        return 0 if group_of.get(item.nodeid) in slow_groups else 1

    items.sort(key=first)  # stable: the collection order otherwise


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_group_suffix(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """What pytest-xdist 3.8 does for ``--dist loadgroup``, for pytest 9 too: the group name goes
    on the end of the node id (``…::test_x@group``), which is how the controller groups the
    work. xdist writes ``item._nodeid``, which pytest 9 no longer reads (the id is ``item._id``),
    so its groups are silently ignored there. Where xdist's suffix took, nothing is done."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not config.getvalue("loadgroup"):
        return
    for item in items:
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        if not names:
            continue
        suffix = "@" + "_".join(names)
        if item.nodeid.endswith(suffix) or not hasattr(item, "_id"):
            continue
        item._id = type(item._id).parse(item.nodeid + suffix)
