import pytest

from hambajuba_tui.catalog.packs import PackError, load_pack, parse_pack
from hambajuba_tui.tui.face import Expression, FaceRenderable, expression_at
from hambajuba_tui.tui.orbs import OrbRenderable, bloom_stage
from hambajuba_tui.tui.skin import default_skin, load_skin
from hambajuba_tui.vocab import BLOCKS


def test_default_pack_routes_the_four_stems_to_the_four_blocks():
    pack = load_pack()
    routes = {r.block: r.source for r in pack.routes}
    assert routes == {"down.2.1": "bass", "up.0.0": "drums", "up.0.1": "vocals", "mid.0": "other"}
    assert set(pack.starters) == set(BLOCKS) and all(len(v) >= 3 for v in pack.starters.values())


@pytest.mark.parametrize(
    "body, message",
    [
        ('[[route]]\nblock = "up.9"\nsource = "bass"\nfeature = 1', "block must be one of"),
        ('[[route]]\nblock = "mid.0"\nsource = "kazoo"\nfeature = 1', "not a stem"),
        ('[[route]]\nblock = "mid.0"\nsource = "bass"\nfeature = 5120', "0..5119"),
        (
            '[[route]]\nblock = "mid.0"\nsource = "bass"\nfeature = 1\ncolour = 2',
            "unknown key 'colour'",
        ),
        ("[[route]\n", "my.toml"),
    ],
)
def test_bad_packs_name_the_file_and_the_problem(body, message):
    with pytest.raises(PackError, match=message) as err:
        parse_pack(body, "my.toml")
    assert "my.toml" in str(err.value)


def test_a_bad_skin_falls_back_to_the_default_and_says_where(tmp_path):
    bad = tmp_path / "loud.toml"
    bad.write_text('[colors]\naccent = "red-ish"\n')
    skin, problems = load_skin(bad)
    assert skin == default_skin()
    assert len(problems) == 1 and "loud.toml" in problems[0] and "accent" in problems[0]

    bad.write_text('[face]\nnose = "v"\n')
    _, problems = load_skin(bad)
    assert "unknown key 'nose'" in problems[0]

    _, problems = load_skin(tmp_path / "missing.toml")
    assert "no such skin file or skin name" in problems[0]


def test_a_partial_skin_keeps_the_defaults_for_what_it_leaves_out(tmp_path):
    path = tmp_path / "blue.toml"
    path.write_text('name = "blue"\n[colors]\naccent = "#0000ff"\n[face]\neyes_open = "o"\n')
    skin, problems = load_skin(path)
    assert problems == [] and skin.name == "blue"
    assert skin.colors["accent"] == "#0000ff"
    assert skin.colors["background"] == default_skin().colors["background"]
    assert skin.eyes["open"] == "o" and skin.eyes["closed"] == "-"


def test_face_expression_follows_beat_drop_vocals_and_pause():
    assert expression_at(0.05, 0.0, 0.0, True).eyes == "closed"
    assert expression_at(0.30, 0.0, 0.0, True) == Expression("open", "rest")
    assert expression_at(0.30, 0.0, 0.9, True).mouth == "open"
    assert expression_at(0.30, 0.9, 0.0, True) == Expression("wide", "wide")
    assert expression_at(0.05, 0.9, 0.9, False) == Expression("asleep", "asleep")
    skin = default_skin()
    open_face = "\n".join(FaceRenderable(skin, Expression("open", "rest")).lines())
    closed = "\n".join(FaceRenderable(skin, Expression("closed", "rest")).lines())
    assert open_face.count(skin.eyes["open"]) >= 2 and skin.eyes["closed"] * 2 not in open_face
    assert open_face != closed


def test_orbs_bloom_with_activity_and_flutter_on_hits():
    skin = default_skin()
    n = len(skin.orb_stages)
    assert [bloom_stage(a, n) for a in (0.0, 0.5, 1.0)] == [0, n // 2, n - 1]
    bud = OrbRenderable(skin, "bass", 0.0, False).glyph_lines()
    bloom = OrbRenderable(skin, "bass", 1.0, False).glyph_lines()
    flutter = OrbRenderable(skin, "bass", 1.0, True).glyph_lines()
    assert bud == skin.orb_stages[0] and bloom == skin.orb_stages[-1]
    assert flutter == skin.orb_flutter != bloom
    assert OrbRenderable(skin, "bass", 0.1, True).glyph_lines() == skin.orb_stages[0]
