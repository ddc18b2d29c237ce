"""Issue 15, defects 2 (label tables) and 9: deep label tables are refused with a message and
never installed; special files (a FIFO) are refused by type wherever the app opens a file."""

from __future__ import annotations

import os
import time

import pytest
from catalog_tables import UP01, rows, write_table
from hostile import cli

from hambajuba_tui.audio.decode import AudioError, check_path
from hambajuba_tui.bridge.session import Session, SessionError, load
from hambajuba_tui.catalog.packs import PackError, load_pack
from hambajuba_tui.catalog.tables import LabelError, import_tables, labels_dir, read_table
from hambajuba_tui.cli import main
from hambajuba_tui.tui.skin import load_skin


def test_features_import_of_a_deep_table_is_refused_and_installs_nothing(tmp_path, capsys):
    deep = tmp_path / "up.0.1.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["features", "import", str(deep)]) == 3
    err = capsys.readouterr().err
    assert f"nothing imported: {deep}: nested 100000 levels deep" in err
    assert not labels_dir().exists()
    assert main(["features", "list"]) == 0
    assert main(["features", "search", "neon"]) == 3  # nothing imported: says how to
    assert "no feature labels yet" in capsys.readouterr().err


def test_a_deep_table_already_installed_gives_a_message_not_a_crash(tmp_path, capsys):
    folder = tmp_path / "good"
    write_table(folder, "up.0.1", rows(UP01))
    import_tables([folder])
    (labels_dir() / "mid.0.json").write_text("[" * 100_000 + "]" * 100_000)
    for command in (["features", "list"], ["features", "search", "neon"]):
        assert main(command) == 3
        err = capsys.readouterr().err
        assert "mid.0.json: nested 100000 levels deep" in err and "re-import" in err


@pytest.fixture
def fifo(tmp_path):
    def make(name: str):
        path = tmp_path / name
        os.mkfifo(path)
        return path

    return make


def test_a_fifo_named_like_a_label_table_is_refused_at_once(tmp_path, fifo):
    path = fifo("up.0.1.json")
    start = time.monotonic()
    res = cli("features", "import", str(path), home=tmp_path / "home", timeout=60)
    assert time.monotonic() - start < 30
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert f"{path}: a FIFO (named pipe), not a label table" in res.stderr
    folder = tmp_path / "tables"
    folder.mkdir()
    os.mkfifo(folder / "mid.0.json")
    with pytest.raises(LabelError, match="a FIFO"):
        import_tables([folder])
    with pytest.raises(LabelError, match="a FIFO"):
        read_table(path)


def test_special_files_are_refused_by_type_everywhere(tmp_path, fifo):
    with pytest.raises(AudioError, match=r"is a FIFO \(named pipe\), not an audio file"):
        check_path(fifo("song.wav"))
    with pytest.raises(SessionError, match="a FIFO"):
        load(fifo("perf.toml"), Session())
    with pytest.raises(PackError, match="a FIFO"):
        load_pack(fifo("pack.toml"))
    skin, problems = load_skin(fifo("skin.toml"))
    assert skin.name == "default" and "a FIFO (named pipe), not a skin" in problems[0]
    with pytest.raises(SessionError, match="a character device"):
        load("/dev/zero", Session())
