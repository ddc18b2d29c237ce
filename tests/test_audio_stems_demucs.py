"""The demucs stem backend and ``auto``: the real separation path on demucs' tiny random model
(``demucs_unittest``, no download), htdemucs loaded offline from a Hugging Face cache (a fake
one holding that tiny model under htdemucs' name), the dsp fallback, the messages, ``--stems``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hambajuba_tui.audio import demucs_backend
from hambajuba_tui.audio.decode import Audio, AudioError
from hambajuba_tui.audio.stems import BACKEND_CHOICES, resolve_backend, separate_stems
from hambajuba_tui.vocab import PHYSICAL_STEMS, SAMPLE_RATE

needs_demucs = pytest.mark.skipif(
    not demucs_backend.is_installed(), reason="demucs is not installed (pip install -e '.[stems]')"
)


def _clip(seconds: float, sr: int = SAMPLE_RATE, channels: int = 2) -> np.ndarray:
    """A few seconds of a kick-ish pulse, a bass tone and noise: float32 [n, channels]."""
    t = np.arange(int(seconds * sr)) / sr
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-12 * (t % 0.5))
    bass = 0.3 * np.sin(2 * np.pi * 110 * t)
    noise = 0.05 * np.random.default_rng(0).standard_normal((len(t), channels))
    return ((kick + bass)[:, None] + noise).astype(np.float32)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Empty Hugging Face and torch hub caches."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture
def fake_htdemucs(no_weights):
    """A Hugging Face cache laid out as the hub leaves it after get_model("htdemucs"), with the
    tiny demucs_unittest network saved under htdemucs' name (random weights)."""
    pytest.importorskip("demucs")
    from demucs.pretrained import SOURCES, get_model
    from safetensors.torch import save_file

    repo = no_weights / "hf" / "hub" / "models--adefossez--HTDemucs"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / "htdemucs.yaml").write_text("models: ['f00dcafe']\n")
    model = get_model("demucs_unittest")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {
        "klass": "demucs.hdemucs.HDemucs",
        "args": "[]",
        "kwargs": json.dumps({"channels": 4, "sources": list(SOURCES)}),
    }
    save_file(state, str(snapshot / "f00dcafe.safetensors"), metadata=meta)
    return snapshot


def _check_stems(stems: dict[str, np.ndarray], n: int) -> None:
    assert list(stems) == list(PHYSICAL_STEMS)
    for y in stems.values():
        assert y.dtype == np.float32 and y.shape == (n,)
        assert np.isfinite(y).all()


@needs_demucs
def test_the_random_model_separates_in_a_child_process():
    mix = _clip(4.0)
    calls: list[float] = []
    stems = demucs_backend.separate_demucs(
        mix, SAMPLE_RATE, calls.append, model_name=demucs_backend.TEST_MODEL_NAME
    )
    _check_stems(stems, len(mix))
    assert calls and calls == sorted(calls) and calls[-1] == 1.0
    assert any(np.abs(y).max() > 0 for y in stems.values())  # it really ran, random as it is


@needs_demucs
def test_mono_input_at_another_rate_is_resampled():
    mix = _clip(3.0, sr=22_050, channels=1)[:, 0]
    stems = demucs_backend.separate_demucs(mix, 22_050, model_name=demucs_backend.TEST_MODEL_NAME)
    _check_stems(stems, len(mix))


@needs_demucs
def test_long_input_runs_in_overlapping_segments_with_progress_for_each():
    model = demucs_backend.load_model(demucs_backend.TEST_MODEL_NAME)
    mix = _clip(10.0)
    calls: list[float] = []
    stems = demucs_backend.separate_in_process(
        mix, SAMPLE_RATE, model, calls.append, device="cpu", segment=4.0
    )
    _check_stems(stems, len(mix))
    # 4 s segments, 3 s stride: chunks at 0, 3, 6, 9 s -> 0.25 ... 1.0, plus the start
    assert calls == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


@needs_demucs
def test_htdemucs_loads_offline_from_the_hub_cache_and_auto_uses_it(fake_htdemucs, tmp_path):
    ok, why = demucs_backend.availability()
    assert ok and "huggingface" in why
    assert resolve_backend("auto")[0] == "demucs"
    mix = _clip(3.0)
    result = separate_stems(mix, SAMPLE_RATE, "auto")
    assert result.backend == "demucs" and "demucs" in result.note
    _check_stems(result.stems, len(mix))

    # The pipeline records the backend that ran, and a dsp cache entry is not a demucs one.
    from hambajuba_tui.audio.pipeline import analyze

    audio = Audio(samples=mix, sr=SAMPLE_RATE)
    cache_dir = tmp_path / "analysis-cache"
    seen: list[tuple[str, float]] = []
    dsp = analyze(tmp_path / "clip.wav", audio=audio, cache_dir=cache_dir, stems_backend="dsp")
    assert dsp.stems_backend == "dsp"
    auto = analyze(
        tmp_path / "clip.wav",
        audio=audio,
        cache_dir=cache_dir,
        stems_backend="auto",
        progress=lambda s, f: seen.append((s, f)),
    )
    assert auto.stems_backend == "demucs"
    assert [f for s, f in seen if s == "stems"][-1] == pytest.approx(0.45)
    again = analyze(tmp_path / "clip.wav", audio=audio, cache_dir=cache_dir, stems_backend="demucs")
    assert again.stems_backend == "demucs"
    assert (
        analyze(
            tmp_path / "clip.wav", audio=audio, cache_dir=cache_dir, stems_backend="dsp"
        ).stems_backend
        == "dsp"
    )


@needs_demucs
def test_htdemucs_loads_from_the_legacy_torch_hub_cache(no_weights):
    """Older demucs releases left ``<sig>-<checksum>.th`` under $TORCH_HOME/hub/checkpoints."""
    import torch
    from demucs.hdemucs import HDemucs
    from demucs.pretrained import SOURCES, get_model

    # A half-filled hub cache (bag yaml, no weights) does not count.
    snapshot = no_weights / "hf" / "hub" / "models--adefossez--HTDemucs" / "snapshots" / "c0ffee"
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("c0ffee")
    (snapshot / "htdemucs.yaml").write_text("models: ['f00dcafe']\n")
    assert demucs_backend.find_weights() is None

    checkpoints = no_weights / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    package = {
        "klass": HDemucs,
        "args": [],
        "kwargs": {"channels": 4, "sources": list(SOURCES)},
        "state": get_model("demucs_unittest").state_dict(),
    }
    torch.save(package, checkpoints / "955717e8-8726e21a.th")
    weights = demucs_backend.find_weights()
    assert weights is not None and weights.source == "torch hub"
    result = separate_stems(_clip(2.0), SAMPLE_RATE, "demucs")
    assert result.backend == "demucs"
    _check_stems(result.stems, int(2.0 * SAMPLE_RATE))


def test_auto_falls_back_to_dsp_without_weights_and_says_why(no_weights):
    backend, note = resolve_backend("auto")
    assert backend == "dsp"
    # one short line on every run: what is missing, and where to read more
    assert len(note) < 160 and "--stems demucs" in note
    if demucs_backend.is_installed():
        assert "htdemucs weights" in note
    else:
        assert "not installed" in note
    mix = _clip(2.0)
    result = separate_stems(mix, SAMPLE_RATE, "auto")
    assert result.backend == "dsp" and result.note == note
    _check_stems(result.stems, len(mix))


@needs_demucs
def test_asking_for_demucs_without_weights_names_what_is_missing(no_weights):
    assert resolve_backend("demucs")[0] == "demucs"  # explicit: separation itself says
    with pytest.raises(AudioError, match="htdemucs weights are not on this machine") as err:
        separate_stems(_clip(1.0), SAMPLE_RATE, "demucs")
    assert "adefossez/HTDemucs" in str(err.value) and str(no_weights / "hf") in str(err.value)


def test_without_the_demucs_package_the_message_says_how_to_install(no_weights, monkeypatch):
    real = demucs_backend.importlib.util.find_spec
    monkeypatch.setattr(
        demucs_backend.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "demucs" else real(name, *a),
    )
    ok, why = demucs_backend.availability()
    assert not ok and "not installed" in why and "pip install 'demucs>=4.1,<5'" in why
    with pytest.raises(AudioError, match="demucs package is not installed"):
        separate_stems(_clip(1.0), SAMPLE_RATE, "demucs")
    result = separate_stems(_clip(1.0), SAMPLE_RATE, "auto")
    assert result.backend == "dsp" and "not installed" in result.note


def test_an_unknown_backend_names_the_choices():
    assert BACKEND_CHOICES == ("auto", "demucs", "dsp")
    with pytest.raises(AudioError, match="choose one of: auto, demucs, dsp"):
        separate_stems(_clip(0.1), SAMPLE_RATE, "spleeter")
    with pytest.raises(AudioError, match="'spleeter'"):
        resolve_backend("spleeter")


def test_dsp_and_auto_without_weights_never_import_torch(no_weights):
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        from hambajuba_tui.audio.decode import Audio
        from hambajuba_tui.audio.pipeline import analyze
        from hambajuba_tui.audio.stems import separate_stems
        mix = (0.1 * np.random.default_rng(1).standard_normal((44100 * 2, 2))).astype("float32")
        backends = [separate_stems(mix, 44100, "dsp").backend,
                    separate_stems(mix, 44100, "auto").backend]
        a = analyze("clip.wav", audio=Audio(samples=mix, sr=44100), stems_backend="auto",
                    use_cache=False)
        print(json.dumps({"backends": backends + [a.stems_backend],
                          "torch": sorted(m for m in sys.modules if m.split(".")[0] in
                                          ("torch", "demucs"))}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=no_weights
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"backends": ["dsp", "dsp", "dsp"], "torch": []}


def test_the_cli_takes_stems_on_play_demo_and_analyze(capsys):
    from hambajuba_tui.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo"]).stems == "auto"
    assert parser.parse_args(["play", "x.wav", "--stems", "dsp"]).stems == "dsp"
    assert parser.parse_args(["demo", "--stems", "demucs"]).stems == "demucs"
    assert parser.parse_args(["analyze", "x.wav", "--stems", "auto"]).stems == "auto"
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["analyze", "x.wav", "--stems", "magic"])
    assert exc.value.code == 2
    assert "choose from 'auto', 'demucs', 'dsp'" in capsys.readouterr().err


def test_cli_analyze_says_when_auto_falls_back_and_refuses_demucs_without_it(no_weights, capsys):
    import soundfile as sf

    from hambajuba_tui.cli import EXIT_INPUT, main

    path = no_weights / "clip.wav"
    sf.write(path, _clip(3.0), SAMPLE_RATE)
    assert main(["analyze", str(path), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["stems_backend"] == "dsp"
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hambajuba: stems by dsp")
    assert "--stems demucs" in lines[0]

    assert main(["analyze", str(path), "--json", "--stems", "dsp"]) == 0
    assert capsys.readouterr().err == ""  # asked for dsp: nothing to explain

    assert main(["analyze", str(path), "--stems", "demucs"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hambajuba: demucs: ")
