"""Skins: the built-ins, errors that name file, line and key, the search order, the CLI,
and property tests: random skin documents never crash loading or drawing."""

import io
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from hambajuba_tui.cli import main
from hambajuba_tui.tui.border import border_style, edge_text
from hambajuba_tui.tui.face import Expression, FaceRenderable
from hambajuba_tui.tui.orbs import OrbRenderable
from hambajuba_tui.tui.skin import (
    FACE_STATES,
    SCHEMA,
    SkinError,
    builtin_dir,
    default_skin,
    find_skin,
    key_line,
    load_skin,
    parse_skin,
    skin_files,
    user_dir,
)
from hambajuba_tui.tui.status import StatusInfo
from hambajuba_tui.tui.tendrils import tendril_paths

BUILTINS = ["default", "kawaii", "mono", "neon"]


def test_four_distinct_builtin_skins_load_without_problems():
    skins = {}
    for name in BUILTINS:
        skin, problems = load_skin(name)
        assert problems == [] and skin.name == name and skin.description
        skins[name] = skin
    for field in ("colors", "face_frame", "orb_stages", "tendril_glyphs"):
        assert len({repr(getattr(s, field)) for s in skins.values()}) == 4, field
    mono = skins["mono"]
    text = "".join(
        [
            *mono.face_frame,
            mono.face_mini,
            mono.tendril_glyphs,
            mono.tendril_bead,
            *mono.eyes.values(),
            *mono.mouths.values(),
            *(line for stage in mono.orb_stages for line in stage),
        ]
    )
    assert text.isascii()  # the mono skin draws in any terminal
    assert {n for n, o, _ in skin_files() if o == "built-in"} == set(BUILTINS)


def test_every_builtin_skin_sets_every_key_it_documents():
    for name in BUILTINS:
        data = tomllib.loads((builtin_dir() / f"{name}.toml").read_text("utf-8"))
        for table, keys in SCHEMA.items():
            if isinstance(keys, str):
                assert table in data, (name, table)
                continue
            node = data
            for part in table.split("."):
                node = node[part]
            assert set(node) == set(keys), (name, table)


@pytest.mark.parametrize(
    "body, line, where, message",
    [
        (
            'name = "x"\n[colors]\ntext = "#ffffff"\naccent = "red"\n',
            4,
            "[colors] accent",
            "expected a colour",
        ),
        ('[face]\neyes_open = "o"\n\nnose = "v"\n', 4, "[face] nose", "unknown key 'nose'"),
        (
            '[colors.stems]\nbass = "#000000"\nkazoo = "#ffffff"\n',
            3,
            "[colors.stems] kazoo",
            "unknown key",
        ),
        ("colors = { accent = 3 }\n", 1, "[colors] accent", "expected a colour"),
        ('\n\n[heart]\nborder = "wavy"\n', 4, "[heart] border", "expected one of round"),
        ("[heart]\npulse_s = 30\n", 2, "[heart] pulse_s", "between 0.02 and 2"),
        (
            '[orbs]\nstages = [["a", "bb", "c"], ["x", "y", "z"]]\n',
            2,
            "[orbs] stages",
            "stage 1: expected three lines of equal width",
        ),
        ('[orbs]\nflutter = ["ab", "ab", "ab"]\n', 2, "[orbs] flutter", "equally wide"),
        ('[face]\nframe = ["( o o )"]\n', 2, "[face] frame", "{l} and {r}"),
        ('[face]\neyes_open = "\\u001b[31m"\n', 2, "[face] eyes_open", "control"),
        ('[tendrils]\nglyphs = "-|"\n', 2, "[tendrils] glyphs", "6 one-cell glyphs"),
        ("faces = 1\n", 1, "faces", "unknown key 'faces'"),
        ('colors = "blue"\n', 1, "colors", "expected a table [colors]"),
        ('[colors]\naccent = "#ffffff"\n[colors\n', 3, "TOML syntax", ""),
    ],
)
def test_a_bad_skin_names_the_file_the_line_and_the_key(tmp_path, body, line, where, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    skin, problems = load_skin(path)
    assert skin == default_skin()  # the default is worn instead
    assert problems and problems[0].startswith(f"{path}:{line}: {where}")
    assert message in problems[0] and problems[-1].endswith("using the default skin")


def test_every_problem_is_reported_at_once():
    with pytest.raises(SkinError) as err:
        parse_skin('[colors]\naccent = "x"\ndim = "y"\n[heart]\nborder = 1\n', "s.toml")
    assert [p.split(": ")[0] for p in err.value.problems] == ["s.toml:2", "s.toml:3", "s.toml:5"]


def test_key_line_scans_tables_quoted_keys_and_falls_back():
    text = (
        'name = "a"\n[colors]\n"accent" = "#000000"\n[colors.stems]\nbass = 1\n'
        '[face]\nframe = [\n  "x",\n]\n'
    )
    assert key_line(text, "", "name") == 1
    assert key_line(text, "colors", "accent") == 3
    assert key_line(text, "colors.stems", "bass") == 5
    assert key_line(text, "face", "frame") == 7
    assert key_line(text, "face", "mini") == 6  # not set: the table's header
    assert key_line(text, "heart", "border") == 1


def test_search_order_path_then_user_dir_then_builtin(tmp_path):
    assert find_skin("neon") == builtin_dir() / "neon.toml"
    mine = user_dir() / "neon.toml"
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text('name = "my neon"\ndescription = "mine"\n')
    try:
        assert find_skin("neon") == mine
        skin, problems = load_skin("neon")
        assert problems == [] and skin.name == "my neon"
        assert ("neon", "user", mine) in skin_files()
        elsewhere = tmp_path / "neon.toml"
        elsewhere.write_text('name = "a file"\n')
        assert load_skin(elsewhere)[0].name == "a file"
    finally:
        mine.unlink()
    skin, problems = load_skin("no-such-skin")
    assert skin == default_skin() and "no such skin" in problems[0] and "neon" in problems[0]


def test_skins_list_and_check_on_the_command_line(tmp_path, capsys):
    assert main(["skins", "list"]) == 0
    out = capsys.readouterr().out
    for name in BUILTINS:
        assert f"{name} " in out and str(builtin_dir() / f"{name}.toml") in out
    assert "Monochrome ASCII" in out

    assert main(["skins", "check", str(builtin_dir() / "kawaii.toml")]) == 0
    assert "ok" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[colors]\naccent = "pink"\n[face]\nnose = "v"\n')
    assert main(["skins", "check", str(bad)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:2: [colors] accent:")
    assert err[1].startswith(f"{bad}:4: [face] nose: unknown key")
    assert main(["skins", "check", str(tmp_path / "missing.toml")]) == 3
    assert "cannot read skin" in capsys.readouterr().err


# -- property tests ----------------------------------------------------------------------------
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_huge = st.text(min_size=300, max_size=3000)
_scalar = st.one_of(
    _text,
    _huge,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.sampled_from(["#ff00ff", "#12345", "round", "heavy", "{l}{r}", "o", "─│╭╮╰╯"]),
)
_known_keys = sorted(
    {k for spec in SCHEMA.values() if isinstance(spec, dict) for k in spec} | set(SCHEMA)
)
_key = st.one_of(st.sampled_from(_known_keys), _text.filter(bool))
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(_key, inner, max_size=5)),
    max_leaves=20,
)
_documents = st.dictionaries(_key, _value, max_size=6)


_glyph = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn")),
    min_size=1,
    max_size=2,
)


@st.composite
def _plausible(draw, kind: str):
    """A value of ``kind`` that is often valid but unusual (unicode, wide glyphs, extremes)."""
    if kind == "colour":
        return draw(st.from_regex(r"\A#[0-9a-fA-F]{6}\Z"))
    if kind in ("glyph", "text"):
        return draw(_glyph)
    if kind == "line":
        return draw(_glyph) + "{l}" + draw(_glyph) + "{m}{r}"
    if kind == "border":
        return draw(st.sampled_from(["round", "heavy", "double", "solid", "ascii", "none"]))
    if kind == "seconds":
        return draw(st.floats(0.02, 2.0))
    if kind == "lines":
        lines = draw(st.lists(_glyph, min_size=1, max_size=8))
        return [*lines[:-1], lines[-1] + " {l} {m} {r} "]
    if kind == "stage":
        return [draw(st.from_regex(r"\A[a-z]{5}\Z")) for _ in range(3)]
    width = draw(st.integers(1, 9))
    return [
        [
            c * width
            for c in draw(
                st.lists(
                    _glyph.filter(lambda g: len(g) == 1 and g.isascii() and g.isprintable()),
                    min_size=3,
                    max_size=3,
                )
            )
        ]
        for _ in range(draw(st.integers(2, 8)))
    ]


@st.composite
def _mutated_default(draw):
    """The default skin's document with a few of its values replaced: deep validation."""
    doc = tomllib.loads((builtin_dir() / "default.toml").read_text("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        table = draw(st.sampled_from(["colors", "face", "orbs", "heart", "tendrils"]))
        node = doc[table]
        key = draw(st.sampled_from(sorted(node)))
        kind = SCHEMA.get(table, {}).get(key, "table") if table != "colors.stems" else "colour"
        if kind == "table":
            continue
        node[key] = draw(
            st.one_of(
                _value,
                st.lists(st.lists(_text, max_size=4), max_size=9),
                _plausible(kind),
                _plausible(kind),
                _plausible(kind),
            )
        )
    return doc


def _draw_everything(skin) -> None:
    """Render every part of the creature with ``skin``, as the app would."""
    console = Console(file=io.StringIO(), width=60, color_system="truecolor")
    for eyes in FACE_STATES:
        for compact in (False, True):
            console.print(FaceRenderable(skin, Expression(eyes, "wide"), compact))
    for activity in (0.0, 0.5, 1.0):
        for flutter in (False, True):
            console.print(OrbRenderable(skin, "drums_low", activity, flutter))
    for pulse in (0.0, 0.5, 1.0):
        glyphs, color = border_style(skin, pulse)
        for edge in ("top", "bottom", "left", "right"):
            edge_text(edge, 17, 5, glyphs, "♥ a song title")
    paths = tendril_paths(9, 14, [(2, 6), (12, 8)])
    assert "".join(skin.tendril_glyphs[g] for path in paths for _, _, g in path)
    StatusInfo(True, 1.0, 2.0, 120.0, "preview", 30.0, 0, "sixel", "silent", key="A").text()


def _check_document(doc, tmp_path) -> None:
    path = tmp_path / "random.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    skin, problems = load_skin(path)
    if problems:
        assert skin == default_skin()
        assert all(p.startswith(f"{path}:") for p in problems)
    _draw_everything(skin)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=_documents)
def test_random_skin_documents_never_crash(doc, tmp_path):
    _check_document(doc, tmp_path)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=_mutated_default())
def test_random_changes_to_a_good_skin_never_crash(doc, tmp_path):
    _check_document(doc, tmp_path)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400))
def test_random_text_is_a_skin_or_a_skin_error(text):
    try:
        skin = parse_skin(text, "t.toml")
    except SkinError as exc:
        assert all(p.startswith("t.toml:") for p in exc.problems)
    else:
        _draw_everything(skin)
