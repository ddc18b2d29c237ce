"""Issue 15, defects 2 and 3 for skins: depth and size limits, linear checking."""

from __future__ import annotations

import time

import pytest
from hostile import DEEP, cli, deep

from hambajuba_tui.tui.skin import MAX_SKIN_BYTES, SkinError, load_skin, parse_skin


def test_a_deep_skin_is_refused_by_check_list_and_load(tmp_path):
    home = tmp_path / "home"
    skins = home / "config" / "skins"
    skins.mkdir(parents=True)
    bad = skins / "deep.toml"
    bad.write_text(f"name = {deep()}\n")
    res = cli("skins", "check", str(bad), home=home)
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert f"{bad}: nested {DEEP} levels deep" in res.stderr
    res = cli("skins", "list", home=home)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "cannot be read: nested 3000 levels deep" in res.stdout
    skin, problems = load_skin(bad)
    assert skin.name == "default" and "nested 3000 levels deep" in problems[0]


def test_files_over_the_size_limit_are_refused(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * MAX_SKIN_BYTES + "\n")
    skin, problems = load_skin(big)
    assert skin.name == "default" and "skin too large" in problems[0]
    assert f"the limit is {MAX_SKIN_BYTES:,}" in problems[0]


# -- 3: skin checking is linear ----------------------------------------------------------------
def test_checking_a_skin_with_thousands_of_unknown_keys_is_fast():
    text = "".join(f"k{i} = 1\n" for i in range(5000))  # ~45 KB, under the size limit
    start = time.perf_counter()
    with pytest.raises(SkinError) as err:
        parse_skin(text, "many.toml")
    took = time.perf_counter() - start
    assert took < 1.0, took  # was 6 s
    problems = err.value.problems
    assert problems[0].startswith("many.toml:1: k0: unknown key 'k0'")
    assert problems[49].startswith("many.toml:50: k49:")
    assert problems[-1] == "many.toml: … and 4950 more problems"


def test_k_onto_deep_and_huge_user_skins_reports_them_and_keeps_dancing(analysis):
    import asyncio

    from test_app import _app, _until

    from hambajuba_tui.tui.skin import user_dir

    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a-deep.toml").write_text(f"name = {deep()}\n")
    (folder / "b-huge.toml").write_text("".join(f"k{i} = 1\n" for i in range(14_000)))  # 130 KB
    try:

        async def scenario():
            app = _app(analysis)
            async with app.run_test(size=(90, 30)) as pilot:
                assert await _until(pilot, lambda: app.show.playing, timeout=40)
                for name, expected in (
                    ("a-deep", "nested 3000 levels deep"),
                    ("b-huge", "skin too large"),
                ):

                    def worn(n=name):
                        return any(f"skin: {n}" in m.message for m in app._notifications)

                    for _ in range(8):  # the built-ins come first
                        start = time.perf_counter()
                        await pilot.press("k")
                        assert await _until(pilot, lambda: app._skin_at is not None)
                        await pilot.pause(0.2)
                        assert time.perf_counter() - start < 5.0  # was a 50 s freeze
                        if worn():
                            break
                    assert worn()
                    messages = [m.message for m in app._notifications]
                    assert any(expected in m for m in messages), messages
                    assert app.is_running and app.skin.name == "default"
                await pilot.press("q")

        asyncio.run(scenario())
    finally:
        for path in folder.glob("[ab]-*.toml"):
            path.unlink()
