"""Issue 15, defect 1 (malformed performances) and the depth limits of defect 2."""

from __future__ import annotations

import time

import pytest
from hostile import DEEP, cli, deep, performance_file, seeded_song

from hambajuba_tui.bridge.session import Session, SessionError, load, load_or_default
from hambajuba_tui.safeio import LoadError, load_json, load_toml, nesting_depth

# -- 1: a malformed performance ----------------------------------------------------------------
MALFORMED = {
    'blocks = ["down.2.1"]\n': ("[blocks]", "expected a table"),
    "blocks = 3\n": ("[blocks]", "expected a table"),
    'blocks = "d"\n': ("[blocks]", "expected a table"),
    '[blocks]\n"down.2.1" = 3\n': ('[blocks."down.2.1"]', "expected a table"),
    '[blocks."down.2.1"]\npainted = 3\n': ("painted", "expected an array of 16 arrays"),
    '[blocks."down.2.1"]\npainted = [3]\n': ("painted[0]", "expected an array of 16 arrays"),
    '[blocks."down.2.1"]\npainted = [["x"]]\n': ("painted[0][0]", "expected a number"),
    "scenes = 4\n": ("[scenes]", "expected a table"),
    "composition = [1]\n": ("[composition]", "expected a table"),
    '[blocks."down.2.1"]\nstage = 5\n': ("stage", "expected a table"),
}


@pytest.mark.parametrize("text", list(MALFORMED))
def test_a_malformed_performance_names_the_file_the_key_and_what_was_expected(tmp_path, text):
    path = tmp_path / "song.toml"
    path.write_text(text)
    key, expected = MALFORMED[text]
    with pytest.raises(SessionError) as err:
        load(path, Session())
    message = str(err.value)
    assert message.startswith(str(path)) and key in message and expected in message, message
    session, problem = load_or_default(path, Session())
    assert session == Session() and "using the default setup" in problem


def test_play_headless_with_a_malformed_performance_says_so_and_plays(tmp_path):
    home = tmp_path / "home"
    song = seeded_song(tmp_path, home)
    perf = performance_file(home, song)
    perf.write_text('blocks = ["down.2.1"]\n')
    res = cli("play", str(song), "--headless", "--seconds", "1", "--stems", "dsp", home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert f"{perf}: [blocks]: expected a table, got an array" in res.stderr
    assert "using the default setup" in res.stderr


# -- 2: depth and size limits -----------------------------------------------------------------
def test_nesting_depth_is_one_linear_scan_that_skips_strings_and_comments():
    assert nesting_depth('a = "[[[[" # [[[[\nb = [[1]]\n[t]\n') == 2
    assert nesting_depth("x = '''[[[''' \n") == 0
    assert nesting_depth('{"a": "\\"[[["}', toml=False) == 1
    start = time.perf_counter()
    assert nesting_depth(deep(200_000)) == 200_000
    assert time.perf_counter() - start < 2.0


def test_deep_toml_and_json_are_refused_with_a_message(tmp_path):
    toml = tmp_path / "deep.toml"
    toml.write_text(f"name = {deep()}\n")
    with pytest.raises(LoadError, match=rf"{toml}: nested {DEEP} levels deep; at most 32"):
        load_toml(toml)
    js = tmp_path / "deep.json"
    js.write_text(deep(100_000))
    with pytest.raises(LoadError, match=r"nested 100000 levels deep"):
        load_json(js)
    perf = tmp_path / "perf.toml"
    perf.write_text(f"seed = {deep()}\n")
    with pytest.raises(SessionError, match="nested 3000 levels deep"):
        load(perf, Session())
