"""The bad-input suite (issue 15): a corpus this file makes itself of hostile inputs across
audio, skins, performances, label tables, caches, SAE checkpoints and CLI options, plus
Hypothesis strategies that generate skins, performances and label tables.

Every case asserts a clear message (it names the file and says what is wrong), a non-zero
exit where the command failed, no traceback, and no partial file. The numbered defects of
issue 15 each have their own test in tests/test_hostile_*.py; the audio kinds already handled
(tests/test_audio_robustness.py, test_audio_decode.py, test_audio_analyze.py, test_demo.py)
stay there, and the audio cases here are the ones a hostile probe adds.
"""

from __future__ import annotations

import json
import math
import os
import string
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tomli_w
from conftest import make_analysis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hambajuba_tui.audio import cache
from hambajuba_tui.bridge.session import Session, SessionError, load, load_or_default
from hambajuba_tui.catalog.tables import LabelError, labels_dir, parse_table
from hambajuba_tui.cli import main
from hambajuba_tui.tui.skin import SkinError, parse_skin

SR = 44100
DEEP = "[" * 3000 + "]" * 3000
Make = Callable[[Path], Path]

pytestmark = pytest.mark.filterwarnings("ignore:'.*' is deprecated:DeprecationWarning")


def _one_line_error(capsys, path: Path | str | None = None) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and all(line.startswith("hambajuba: ") for line in lines), err
    if path is not None:
        assert str(path) in err or Path(path).name in err, err
    return err


def _text(name: str, text: str | bytes) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return make


def _fifo(name: str) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        os.mkfifo(path)
        return path

    return make


def _folder(name: str) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        path.mkdir()
        return path

    return make


def _wav_bytes(seconds: float = 0.5) -> bytes:
    import io

    buf = io.BytesIO()
    t = np.arange(int(seconds * SR)) / SR
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR, format="WAV")
    return buf.getvalue()


def _mp3_head(folder: Path) -> Path:
    t = np.arange(SR * 4) / SR
    full = folder / "full.mp3"
    sf.write(full, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR, format="MP3")
    cut = folder / "head.mp3"
    cut.write_bytes(full.read_bytes()[:300])
    full.unlink()
    return cut


def _symlink_loop(folder: Path) -> Path:
    path = folder / "loop.wav"
    os.symlink(path, path)
    return path


def _broken_link(folder: Path) -> Path:
    path = folder / "gone.wav"
    os.symlink(folder / "nowhere.wav", path)
    return path


def _header_only(folder: Path) -> Path:
    path = folder / "header.wav"
    sf.write(path, np.zeros((0, 2), np.float32), SR)
    return path


def _two_hours(folder: Path) -> Path:
    path = folder / "two hours.wav"
    frames = 7200 * 8000
    header = b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    header += b"data" + struct.pack("<I", 2 * frames)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + 2 * frames)  # sparse: no disk used
    return path


# -- audio ------------------------------------------------------------------------------------
AUDIO: dict[str, tuple[Make, str]] = {
    "missing file": (lambda d: d / "missing.mp3", "file not found"),
    "directory": (_folder("album.flac"), "is a directory"),
    "empty file": (_text("empty.wav", b""), "empty file"),
    "FIFO": (_fifo("pipe.mp3"), "is a FIFO (named pipe), not an audio file"),
    "text named .flac": (_text("notes.flac", "hello\n"), "not recognised as audio"),
    "random bytes .mp3": (_text("noise.mp3", bytes(range(256)) * 40), "not recognised"),
    "zero bytes .wav": (_text("zeros.wav", b"\0" * 4096), "not recognised as audio"),
    "PNG named .ogg": (_text("cover.ogg", b"\x89PNG\r\n\x1a\n" + b"\0" * 512), "not recognised"),
    "JSON named .m4a": (_text("meta.m4a", '{"a": 1}'), "m4a"),
    "header cut at 30 bytes": (_text("cut.wav", _wav_bytes()[:30]), "truncated"),
    "header only, no frames": (_header_only, "no audio"),
    "broken symlink": (_broken_link, "file not found"),
    "symlink loop": (_symlink_loop, "loop.wav"),
    "first 300 bytes of an MP3": (_mp3_head, "head.mp3"),
    "two hours (sparse)": (_two_hours, "the limit is 60 min"),
}


@pytest.mark.parametrize("kind", list(AUDIO))
def test_bad_audio_is_one_line_exit_3_and_no_cache_entry(kind, tmp_path, capsys):
    make, words = AUDIO[kind]
    path = make(tmp_path)
    before = _tree(_analysis_cache())
    assert main(["analyze", str(path), "--stems", "dsp"]) == 3
    err = _one_line_error(capsys, path.name)
    assert words in err, err
    assert _tree(_analysis_cache()) == before  # no cache entry, no temporary left


def _analysis_cache() -> Path:
    return Path(os.environ["HAMBAJUBA_HOME"]) / "cache" / "analysis"


def test_the_char_device_dev_zero_is_refused_by_type(capsys):
    assert main(["analyze", "/dev/zero"]) == 3
    assert "is a character device, not an audio file" in _one_line_error(capsys)


# -- skins ------------------------------------------------------------------------------------
SKINS: dict[str, tuple[Make, str]] = {
    "nested 3000 deep": (_text("deep.toml", f"name = {DEEP}\n"), "nested 3000 levels deep"),
    "over 64 KB": (_text("big.toml", "# " + "x" * 70_000 + "\n"), "skin too large"),
    "FIFO": (_fifo("pipe.toml"), "a FIFO (named pipe), not a skin"),
    "directory": (_folder("dir.toml"), "a directory, not a skin"),
    "not UTF-8": (_text("latin.toml", b'name = "caf\xe9"\n'), "not UTF-8 text"),
    "NUL bytes": (_text("nul.toml", b"name = 1\0\0\n"), "TOML syntax"),
    "TOML syntax": (_text("syntax.toml", "[colors\naccent = 1\n"), "TOML syntax"),
    "colour not a colour": (_text("c.toml", '[colors]\naccent = "pink"\n'), "expected a colour"),
    "colour a number": (_text("n.toml", "[colors]\naccent = 5\n"), "expected a colour"),
    "unknown key": (_text("u.toml", "wings = 2\n"), "unknown key 'wings'"),
    "5000 unknown keys": (
        _text("many.toml", "".join(f"k{i} = 1\n" for i in range(5000))),
        "… and 4950 more problems",
    ),
    "table where a value goes": (_text("t.toml", "[colors.accent]\nx = 1\n"), "expected"),
    "control character": (_text("ctl.toml", '[face]\nmini = "\\u0007{l}{r}"\n'), "control"),
    "heart border unknown": (_text("b.toml", '[heart]\nborder = "zigzag"\n'), "expected one of"),
    "pulse out of range": (_text("p.toml", "[heart]\npulse_s = 99\n"), "expected seconds"),
    "orb stages wrong shape": (_text("o.toml", "[orbs]\nstages = [1, 2]\n"), "stage 1"),
}


@pytest.mark.parametrize("kind", list(SKINS))
def test_bad_skins_are_reported_by_skins_check(kind, tmp_path, capsys):
    make, words = SKINS[kind]
    path = make(tmp_path)
    assert main(["skins", "check", str(path)]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(str(path)), err
    assert words in err, err


# -- performances -----------------------------------------------------------------------------
PERFORMANCES: dict[str, tuple[Make, str]] = {
    "blocks an array": (_text("p.toml", 'blocks = ["down.2.1"]\n'), "[blocks]: expected a table"),
    "blocks a number": (_text("p.toml", "blocks = 3\n"), "[blocks]: expected a table, got int"),
    "blocks text": (_text("p.toml", 'blocks = "d"\n'), "[blocks]: expected a table, got str"),
    "unknown block": (_text("p.toml", '[blocks."up.9"]\nfeature = 1\n'), "blocks: expected one"),
    "block a number": (_text("p.toml", '[blocks]\n"mid.0" = 3\n'), '[blocks."mid.0"]: expected'),
    "painted a number": (
        _text("p.toml", '[blocks."mid.0"]\npainted = 3\n'),
        "painted: expected an array of 16 arrays",
    ),
    "painted text": (
        _text("p.toml", '[blocks."mid.0"]\npainted = [["x"]]\n'),
        "painted[0][0]: expected a number",
    ),
    "painted 20 rows": (
        _text("p.toml", '[blocks."mid.0"]\npainted = ' + str([[0.5]] * 20) + "\n"),
        "painted: expected an array of 16",
    ),
    "stage a number": (_text("p.toml", '[blocks."mid.0"]\nstage = 5\n'), "stage]: expected a"),
    "stage nan": (_text("p.toml", '[blocks."mid.0".stage]\nleft = nan\n'), "stage.left"),
    "feature out of range": (_text("p.toml", '[blocks."mid.0"]\nfeature = 99999\n'), "0..5119"),
    "feature an array": (_text("p.toml", '[blocks."mid.0"]\nfeature = [1]\n'), "feature id"),
    "source unknown": (_text("p.toml", '[blocks."mid.0"]\nsource = "kazoo"\n'), "source"),
    "scenes a number": (_text("p.toml", "scenes = 4\n"), "[scenes]: expected a table"),
    "composition an array": (_text("p.toml", "composition = [1]\n"), "[composition]: expected"),
    "prompt a number": (_text("p.toml", "[scenes]\nprompt_a = 5\n"), "prompt_a: expected text"),
    "seed negative": (_text("p.toml", "seed = -1\n"), "seed: expected a whole number"),
    "seed nested 3000 deep": (_text("p.toml", f"seed = {DEEP}\n"), "nested 3000 levels deep"),
    "version 99": (_text("p.toml", "version = 99\n"), "version 99 is not 1"),
    "unknown key": (_text("p.toml", "tempo = 3\n"), "unknown key 'tempo'"),
    "TOML syntax": (_text("p.toml", "seed = = 1\n"), "not valid TOML"),
    "not UTF-8": (_text("p.toml", b"seed = 1 # \xff\n"), "not UTF-8 text"),
    "over 256 KB": (_text("p.toml", "# " + "x" * 300_000 + "\n"), "performance too large"),
    "FIFO": (_fifo("p.toml"), "a FIFO (named pipe), not a performance"),
}


@pytest.mark.parametrize("kind", list(PERFORMANCES))
def test_bad_performances_give_the_defaults_and_a_message(kind, tmp_path):
    make, words = PERFORMANCES[kind]
    path = make(tmp_path)
    before = path.stat().st_mtime_ns
    session, problem = load_or_default(path, Session())
    assert session == Session()
    assert problem.startswith(str(path)) and words in problem, problem
    assert problem.endswith("; using the default setup")
    assert path.stat().st_mtime_ns == before  # the file is left as it was


# -- label tables -----------------------------------------------------------------------------
def _row(**over) -> dict:
    return {
        "id": 1,
        "label": "warm amber glow",
        "category": "lighting",
        "confidence": "high",
        "meanActivation": 2.0,
        **over,
    }


def _table(data: object, name: str = "up.0.1.json") -> Make:
    return _text(name, data if isinstance(data, str | bytes) else json.dumps(data))


TABLES: dict[str, tuple[Make, str]] = {
    "nested 100000 deep": (_table("[" * 100_000 + "]" * 100_000), "nested 100000 levels deep"),
    "FIFO": (_fifo("up.0.1.json"), "a FIFO (named pipe), not a label table"),
    "not JSON": (_table("{oops"), "not valid JSON"),
    "an object": (_table({"rows": []}), "expected a JSON list of rows"),
    "no rows": (_table([]), "the table has no rows"),
    "row not an object": (_table([3]), "row 0: expected an object"),
    "row missing fields": (_table([{"id": 1}]), "missing 'label'"),
    "id out of range": (_table([_row(id=9999999)]), "id must be an integer"),
    "id a bool": (_table([_row(id=True)]), "id must be an integer"),
    "ids repeat": (_table([_row(), _row()]), "id 1 repeats row 0"),
    "confidence unknown": (_table([_row(confidence="sure")]), "confidence must be one of"),
    "meanActivation NaN": (
        _table(
            '[{"id": 1, "label": "a", "category": "b", '
            '"confidence": "high", "meanActivation": NaN}]'
        ),
        "meanActivation must be a finite number",
    ),  # fmt: skip
    "not UTF-8": (_table(b'[{"label": "\xff"}]'), "not UTF-8"),
    "unknown block name": (_table([_row()], "bogus.json"), "bogus"),
    "folder without tables": (_folder("empty folder"), "no label tables here"),
}


@pytest.mark.parametrize("kind", list(TABLES))
def test_bad_label_tables_import_nothing(kind, tmp_path, capsys):
    make, words = TABLES[kind]
    path = make(tmp_path)
    before = _tree(labels_dir())
    assert main(["features", "import", str(path)]) == 3
    err = _one_line_error(capsys, path)
    assert "nothing imported" in err and words in err, err
    assert _tree(labels_dir()) == before  # no partial install
    assert not list(labels_dir().parent.glob(".labels.*"))


def _tree(folder: Path) -> list[tuple[str, int]]:
    if not folder.exists():
        return []
    return sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*"))


# -- caches -----------------------------------------------------------------------------------
def _meta_change(**change) -> Callable[[Path], None]:
    def spoil(entry: Path) -> None:
        meta = json.loads((entry / "meta.json").read_text())
        meta.update(change)
        (entry / "meta.json").write_text(json.dumps(meta))

    return spoil


def _meta_text(text: str) -> Callable[[Path], None]:
    return lambda entry: (entry / "meta.json").write_text(text)


def _meta_fifo(entry: Path) -> None:
    (entry / "meta.json").unlink()
    os.mkfifo(entry / "meta.json")


def _npz_cut(entry: Path) -> None:
    npz = entry / "signals.npy"
    npz.write_bytes(npz.read_bytes()[:500])


CACHES: dict[str, Callable[[Path], None]] = {
    "bpm NaN": _meta_change(bpm=math.nan),
    "bpm infinite": _meta_change(bpm=math.inf),
    "bpm zero": _meta_change(bpm=0),
    "duration -1": _meta_change(duration=-1),
    "duration two days": _meta_change(duration=172_800.0),
    "rate 0": _meta_change(rate=0),
    "rate text": _meta_change(rate="100"),
    "sections of pairs": _meta_change(sections=[[1, 2]]),
    "other song hash": _meta_change(song_hash="other"),
    "signals list wrong": _meta_change(signals=["drums.envelope"]),
    "meta not JSON": _meta_text("{oops"),
    "meta a list": _meta_text("[]"),
    "meta nested deep": _meta_text("[" * 100_000 + "]" * 100_000),
    "meta a FIFO": _meta_fifo,
    "arrays cut": _npz_cut,
}


@pytest.mark.parametrize("kind", list(CACHES))
def test_a_spoilt_cache_entry_counts_as_missing(kind, tmp_path):
    a = make_analysis()
    a.song_hash = "f" * 16
    entry = cache.save(a, tmp_path)
    assert cache.load_cached(a.song_hash, tmp_path) is not None
    CACHES[kind](entry)
    assert cache.load_cached(a.song_hash, tmp_path) is None
    cache.save(a, tmp_path)  # the next analysis replaces it, leaving nothing else behind
    assert cache.load_cached(a.song_hash, tmp_path) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == [a.song_hash]


# -- SAE checkpoints --------------------------------------------------------------------------
def _sae(config: object = None, state: bytes | None = None, fifo: str = "") -> Make:
    def make(folder: Path) -> Path:
        sae = folder / "sae"
        sae.mkdir()
        for name in ("config.json", "state_dict.pth"):
            if name == fifo:
                os.mkfifo(sae / name)
        if fifo != "config.json":
            text = config if isinstance(config, str) else json.dumps(config)
            (sae / "config.json").write_text(text)
        if fifo != "state_dict.pth":
            (sae / "state_dict.pth").write_bytes(state or b"not a torch file")
        return sae

    return make


GOOD_CONFIG = {"d_model": 8, "n_dirs_local": 16}
CHECKPOINTS: dict[str, tuple[Make, str]] = {
    "folder missing": (lambda d: d / "nowhere", "SAE folder is missing"),
    "config nested deep": (_sae("[" * 100_000 + "]" * 100_000), "nested 100000 levels deep"),
    "config a FIFO": (_sae(fifo="config.json"), "a FIFO (named pipe)"),
    "config not JSON": (_sae("{oops"), "not valid JSON"),
    "config a list": (_sae([1]), "expected a JSON object"),
    "d_model negative": (_sae({"d_model": -1, "n_dirs_local": 4}), "'d_model' must be a positive"),
    "d_model text": (_sae({"d_model": "8", "n_dirs_local": 4}), "'d_model' must be a positive"),
    "weights garbage": (_sae(GOOD_CONFIG), "state_dict.pth"),
    "weights a FIFO": (_sae(GOOD_CONFIG, fifo="state_dict.pth"), "a FIFO (named pipe)"),
}


@pytest.mark.parametrize("kind", list(CHECKPOINTS))
def test_bad_sae_checkpoints_name_the_file(kind, tmp_path):
    from hambajuba_tui.engine.errors import CheckpointError
    from hambajuba_tui.engine.sae import load_sae

    make, words = CHECKPOINTS[kind]
    path = make(tmp_path)
    with pytest.raises(CheckpointError) as err:
        load_sae(path)
    assert str(err.value).startswith(str(path)) and words in str(err.value), str(err.value)


# -- CLI options ------------------------------------------------------------------------------
def _song(folder: Path) -> Path:
    path = folder / "song.wav"
    path.write_bytes(_wav_bytes(1.0))
    return path


CLI: dict[str, tuple[list[str], int, str]] = {
    "--size 5": (["play", "{song}", "--headless", "--size", "5"], 2, "--size must be between"),
    "--size 99999": (["play", "{song}", "--headless", "--size", "99999"], 2, "--size must be"),
    "--fps 0": (["play", "{song}", "--headless", "--fps", "0"], 2, "--fps must be between"),
    "--fps nan": (["play", "{song}", "--headless", "--fps", "nan"], 2, "--fps must be between"),
    "--frames-out a file": (
        ["play", "{song}", "--headless", "--frames-out", "{song}"],
        2,
        "exists and is not a folder",
    ),
    "--frames-out /proc/x": (
        ["play", "{song}", "--headless", "--frames-out", "/proc/x"],
        2,
        "cannot write there",
    ),
    "--pack missing": (["play", "{song}", "--headless", "--pack", "nope"], 3, "no pack named"),
    "--pack a FIFO": (["play", "{song}", "--headless", "--pack", "{fifo}"], 3, "a FIFO"),
    "snapshot --at -1": (["snapshot", "{song}", "--at", "-1"], 2, "--at must be a time"),
    "snapshot --size 1": (["snapshot", "{song}", "--at", "0", "--size", "1"], 2, "--size must"),
    "skins check missing": (["skins", "check", "{dir}/nope.toml"], 3, "nope.toml"),
    "features show bad ref": (["features", "show", "up.9:1"], 2, "up.9"),
}


@pytest.mark.parametrize("kind", list(CLI))
def test_bad_cli_options_are_refused_before_any_work(kind, tmp_path, capsys):
    args, code, words = CLI[kind]
    song = _song(tmp_path)
    fifo = tmp_path / "pack.toml"
    os.mkfifo(fifo)
    argv = [a.format(song=song, fifo=fifo, dir=tmp_path) for a in args]
    before = _tree(_analysis_cache())
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and words in err, err
    assert _tree(_analysis_cache()) == before  # refused before any analysis


def test_the_corpus_has_at_least_60_kinds():
    kinds = len(AUDIO) + len(SKINS) + len(PERFORMANCES) + len(TABLES) + len(CACHES)
    kinds += len(CHECKPOINTS) + len(CLI) + 1  # + /dev/zero
    assert kinds >= 60, kinds


# -- Hypothesis: generated skins, performances, label tables ----------------------------------
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
_keys = st.one_of(
    st.sampled_from(
        ["name", "colors", "face", "orbs", "heart", "tendrils", "accent", "background", "frame",
         "mini", "stages", "flutter", "border", "pulse_s", "glyphs", "bead", "stems", "bass"]
    ),
    st.text(string.ascii_letters + "_-.", min_size=1, max_size=12),
)  # fmt: skip
_toml_values = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True),
        st.text(max_size=30),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)
_toml_docs = st.dictionaries(_keys, _toml_values, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=_toml_docs)
def test_generated_skins_load_or_list_their_problems(doc):
    text = tomli_w.dumps(doc)
    try:
        skin = parse_skin(text, "gen.toml")
    except SkinError as exc:
        assert exc.problems and all(p.startswith("gen.toml") for p in exc.problems)
    else:
        assert skin.name


_perf_keys = st.sampled_from(["version", "seed", "blocks", "scenes", "composition", "x"])
_block_names = st.sampled_from(["down.2.1", "mid.0", "up.0.0", "up.0.1", "up.9"])
_block_keys = st.sampled_from(
    ["source", "feature", "mix_feature", "mix", "stage", "position_source", "intensity_source",
     "rank", "mask", "painted", "silence", "bogus"]
)  # fmt: skip
_performances = st.fixed_dictionaries(
    {},
    optional={
        "seed": _toml_values,
        "version": _toml_values,
        "blocks": st.one_of(
            _toml_values,
            st.dictionaries(_block_names, st.dictionaries(_block_keys, _toml_values, max_size=4)),
        ),
        "scenes": _toml_values,
        "composition": _toml_values,
    },
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=st.one_of(_performances, st.dictionaries(_perf_keys, _toml_values, max_size=4)))
def test_generated_performances_load_or_name_the_file(doc, tmp_path_factory):
    path = tmp_path_factory.mktemp("perf") / "song.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    try:
        session = load(path, Session())
    except SessionError as exc:
        assert str(exc).startswith(f"{path}: "), str(exc)
        assert "\n" not in str(exc)
    else:
        assert isinstance(session, Session)


_rows = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.integers(-5, 6000), _scalars),
        "label": _scalars,
        "category": _scalars,
        "confidence": st.one_of(st.sampled_from(["high", "medium", "low"]), _scalars),
        "meanActivation": st.one_of(st.floats(allow_nan=True), _scalars),
    },
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.one_of(st.lists(st.one_of(_rows, _json_values), max_size=6), _json_values))
def test_generated_label_tables_parse_or_name_the_file(rows):
    data = json.dumps(rows).encode()
    try:
        table = parse_table(data, "gen/up.0.1.json", "up.0.1")
    except LabelError as exc:
        assert str(exc).startswith("gen/up.0.1.json: "), str(exc)
    else:
        assert len(table.rows) == len(rows)
