"""Graphics: terminal probe, kitty and sixel encoders, the encoder thread."""

from __future__ import annotations

import base64
import os
import pty
import re
import threading
import time

import numpy as np
import pytest

from hambajuba_tui.graphics import kitty, probe
from hambajuba_tui.graphics.layout import Placement, fit
from hambajuba_tui.graphics.painter import Painter
from hambajuba_tui.graphics.sixel import CUBE, SixelEncoder, quantize_cube, sixel_body


# -- a sixel decoder, written from the DEC format, to check the encoder against ------------
def decode_sixel(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(rgb [H, W, 3], painted mask [H, W]) of one DCS … q … ST sixel image."""
    m = re.fullmatch(r'\x1bP[\d;]*q"1;1;(\d+);(\d+)(.*)\x1b\\', text, re.S)
    assert m, "not a sixel image with raster attributes"
    w, h, data = int(m.group(1)), int(m.group(2)), m.group(3)
    img = np.zeros((h + 6, w, 3), np.uint8)
    painted = np.zeros((h + 6, w), bool)
    palette: dict[int, tuple[int, ...]] = {}
    color, x, band, i = 0, 0, 0, 0
    token = re.compile(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?|!(\d+)(.)|([?-~])|(\$)|(-)")
    while i < len(data):
        t = token.match(data, i)
        assert t, f"bad sixel data at {i}: {data[i : i + 10]!r}"
        i = t.end()
        if t.group(1) is not None:
            n = int(t.group(1))
            if t.group(2) is not None:
                palette[n] = tuple(round(int(t.group(k)) * 255 / 100) for k in (2, 3, 4))
            else:
                color = n
        elif t.group(8):
            x = 0
        elif t.group(9):
            x, band = 0, band + 1
        else:
            reps, ch = (int(t.group(5)), t.group(6)) if t.group(5) else (1, t.group(7))
            bits = ord(ch) - 63
            for r in range(6):
                if bits >> r & 1:
                    img[band * 6 + r, x : x + reps] = palette[color]
                    painted[band * 6 + r, x : x + reps] = True
            x += reps
    return img[:h], painted[:h]


def _smooth(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 3) % 256, (y * 2) % 256, ((x + y) * 5) % 256], -1).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (6, 1), (13, 40), (64, 64)])
def test_sixel_fixed_palette_round_trips_to_the_nearest_cube_colour(shape):
    px = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    img, painted = decode_sixel(SixelEncoder("fixed").encode_image(px))
    assert painted.all()  # every pixel is drawn: nothing of the old image shows through
    expected = CUBE[quantize_cube(px)]
    assert np.abs(img.astype(int) - expected).max() <= 2  # sixel colours are percentages
    assert np.abs(img.astype(int) - px).max() <= 26  # half a cube step + rounding


def test_sixel_adaptive_palette_is_exact_for_few_colours_and_close_for_many():
    few = np.zeros((30, 50, 3), np.uint8)
    few[:, 10:20] = (200, 30, 90)
    few[12:, :] = (10, 240, 60)
    img, painted = decode_sixel(SixelEncoder("adaptive").encode_image(few))
    assert painted.all() and np.abs(img.astype(int) - few).max() <= 2
    y, x = np.mgrid[0:120, 0:160]
    t = ((x + y) / 280.0)[..., None]  # a two-colour gradient, like a frame's palette
    smooth = (np.array([30, 60, 200]) * (1 - t) + np.array([250, 180, 40]) * t).astype(np.uint8)
    fixed, _ = decode_sixel(SixelEncoder("fixed").encode_image(smooth))
    adaptive, _ = decode_sixel(SixelEncoder("adaptive").encode_image(smooth))
    err_fixed = np.abs(fixed.astype(int) - smooth).mean()
    err_adaptive = np.abs(adaptive.astype(int) - smooth).mean()
    assert err_adaptive < 0.5 * err_fixed  # what the adaptive palette is for


def test_sixel_runs_are_length_coded_and_empty_tails_dropped():
    px = np.zeros((6, 100, 3), np.uint8)
    px[:, :] = (255, 255, 255)
    idx = quantize_cube(px)
    body = sixel_body(idx, len(CUBE)).decode()
    assert body == "#215!100~$-"  # one colour, one run of 100 full sixels
    px[:3, 50:80] = (0, 0, 0)  # top half of columns 50–79 black
    body = sixel_body(quantize_cube(px), len(CUBE)).decode()
    assert body == "#0!50?!30F$#215!50~!30w!20~$-"  # black's row stops after its last pixel


def test_sixel_encode_places_the_image_at_the_pane_with_its_pixel_size():
    frame = _smooth(64, 64)
    place = fit(64, 64, 10, 3, 20, 10, 8, 16)
    out = SixelEncoder().encode(frame, place)
    assert out.startswith(f"\x1b7\x1b[{place.row + 1};{place.col + 1}H\x1bP")
    assert out.endswith("\x1b\\\x1b8")
    img, _ = decode_sixel(out[out.index("\x1bP") : -2])
    assert img.shape[:2] == (place.height, place.width) == (160, 160)


# -- kitty ----------------------------------------------------------------------------------
def _apc(out: str) -> list[dict]:
    cmds = []
    for keys, payload in re.findall(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\", out):
        d = dict(kv.split("=") for kv in keys.split(","))
        d["payload"] = payload
        cmds.append(d)
    return cmds


def test_kitty_direct_sends_raw_rgb_in_4096_byte_chunks_quietly():
    frame = np.random.default_rng(2).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    enc = kitty.KittyEncoder(shm=False)
    out = enc.encode(frame, Placement(3, 4, 10, 5, 50, 40))
    assert out.startswith("\x1b7\x1b[5;4H") and "\x1b8" in out
    cmds = _apc(out)
    first, chunks = cmds[0], [c for c in cmds if c.get("a") != "d"]
    assert first["a"] == "T" and first["f"] == "24" and first["t"] == "d"
    assert (first["s"], first["v"], first["c"], first["r"]) == ("50", "40", "10", "5")
    assert all(c.get("q", first["q"]) == "2" for c in [first]) and first["q"] == "2"
    assert [c["m"] for c in chunks] == ["1"] * (len(chunks) - 1) + ["0"]
    assert all(len(c["payload"]) <= 4096 for c in chunks)
    data = base64.standard_b64decode("".join(c["payload"] for c in chunks))
    assert data == frame.tobytes()


def test_kitty_alternates_two_ids_and_deletes_the_previous_image_after_placing():
    frame = np.zeros((8, 8, 3), np.uint8)
    enc = kitty.KittyEncoder(shm=False)
    place = Placement(0, 0, 4, 2, 8, 8)
    ids = []
    for _ in range(3):
        cmds = _apc(enc.encode(frame, place))
        ids.append(int(cmds[0]["i"]))
        deletes = [c for c in cmds if c.get("a") == "d"]
        if len(ids) > 1:
            # the new image is placed first, then the old one goes: never an empty pane
            assert cmds[-1]["a"] == "d" and int(cmds[-1]["i"]) == ids[-2]
            assert deletes[0]["d"] == "I" and deletes[0]["q"] == "2"
        else:
            assert not deletes
    assert ids[0] != ids[1] and ids[0] == ids[2]
    cleared = _apc(enc.clear())
    assert {int(c["i"]) for c in cleared} == set(kitty.IMAGE_IDS)
    assert all(c["a"] == "d" and c["d"] == "I" and c["q"] == "2" for c in cleared)


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs POSIX shm under /dev/shm")
def test_kitty_shared_memory_holds_the_frame_and_the_escape_names_it():
    frame = np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    enc = kitty.KittyEncoder(shm=True)
    cmd = _apc(enc.encode(frame, Placement(0, 0, 3, 2, 24, 16)))[0]
    name = base64.standard_b64decode(cmd["payload"]).decode()
    assert cmd["t"] == "s" and cmd["S"] == str(frame.nbytes) and cmd["q"] == "2"
    try:
        with open(f"/dev/shm/{name}", "rb") as f:  # what kitty would read
            assert f.read() == frame.tobytes()
    finally:
        enc.clear()
    assert not os.path.exists(f"/dev/shm/{name}")  # nothing left behind


def test_kitty_placeholders_use_a_virtual_placement_and_name_row_and_column():
    enc = kitty.KittyEncoder(shm=False, placeholders=True, tmux=True)
    out = enc.encode(np.zeros((4, 4, 3), np.uint8), Placement(5, 5, 3, 2, 4, 4))
    assert out.startswith("\x1bPtmux;\x1b\x1b_G")  # passthrough, escapes doubled
    inner = out.replace("\x1bPtmux;", "").replace("\x1b\x1b", "\x1b")
    cmd = _apc(inner)[0]
    assert cmd["U"] == "1" and "p" not in cmd
    assert "\x1b[" not in inner.split("\x1b_G")[0]  # no cursor moves: text carries the image
    row = kitty.placeholder_row(3, 1)
    assert row == (
        kitty.PLACEHOLDER + kitty.DIACRITICS[1] + kitty.DIACRITICS[0] + kitty.PLACEHOLDER * 2
    )
    assert len(kitty.DIACRITICS) == 297 and kitty.DIACRITICS[0] == "\u0305"
    assert kitty.id_color(0x123456) == (0x12, 0x34, 0x56)
    with pytest.raises(ValueError):
        kitty.placeholder_row(400, 0)


# -- probe ----------------------------------------------------------------------------------
def test_replies_are_parsed_into_capabilities():
    base = probe.Capabilities(term="xterm-kitty")
    kitty_reply = (
        b"\x1b_Gi=31;OK\x1b\\\x1b_Gi=32;OK\x1b\\\x1bP>|kitty(0.35.2)\x1b\\\x1b[6;20;10t\x1b[?62;c"
    )
    caps = probe.parse_replies(kitty_reply, base, shm_id=32)
    assert caps.kitty and caps.kitty_shm and caps.kitty_version == (0, 35, 2)
    assert caps.kitty_placeholders and caps.cell_px == (10, 20) and not caps.sixel
    xterm_reply = b"\x1bP>|XTerm(379)\x1b\\\x1b[6;17;8t\x1b[?63;1;2;4;6;9;15;22c"
    caps = probe.parse_replies(xterm_reply, probe.Capabilities(), shm_id=32)
    assert caps.sixel and not caps.kitty and caps.cell_px == (8, 17) and caps.replied
    old = probe.parse_replies(
        b"\x1b_Gi=31;OK\x1b\\\x1b_Gi=32;EBADF:no shm\x1b\\\x1bP>|kitty(0.26.5)\x1b\\\x1b[?62;c",
        base,
        shm_id=32,
    )
    assert old.kitty and not old.kitty_shm and not old.kitty_placeholders


def test_choice_prefers_kitty_then_sixel_then_half_blocks_and_obeys_overrides():
    kitty_caps = probe.Capabilities(
        kitty=True, kitty_shm=True, kitty_version=(0, 26, 5), sixel=True, replied=True
    )
    mode = probe.choose_mode(kitty_caps)
    assert mode.protocol == "kitty" and mode.kitty_shm and not mode.kitty_placeholders
    assert mode.label() == "kitty shm"
    assert probe.choose_mode(kitty_caps, "sixel").protocol == "sixel"
    assert probe.choose_mode(kitty_caps, "halfblock").label() == "half-blocks"
    over_ssh = probe.Capabilities(kitty=True, kitty_shm=True, ssh=True, replied=True)
    assert probe.choose_mode(over_ssh).label() == "kitty direct"
    # old kitty inside tmux cannot place images: sixel or half-blocks instead
    in_tmux = probe.Capabilities(kitty=True, kitty_version=(0, 26, 5), tmux=True, replied=True)
    assert probe.choose_mode(in_tmux).protocol == "halfblock"
    new_in_tmux = probe.Capabilities(kitty=True, kitty_version=(0, 31, 0), tmux=True)
    chosen = probe.choose_mode(new_in_tmux)
    assert chosen.protocol == "kitty" and chosen.kitty_placeholders and chosen.tmux
    assert probe.choose_mode(probe.Capabilities(sixel=True)).protocol == "sixel"
    plain = probe.choose_mode(probe.Capabilities(replied=True))
    assert plain.protocol == "halfblock" and "no kitty" in plain.reason
    with pytest.raises(ValueError, match="unknown graphics mode"):
        probe.choose_mode(kitty_caps, "iterm")


def test_environment_names_kitty_tmux_and_ssh():
    caps = probe.env_capabilities(
        {
            "TERM": "xterm-kitty",
            "TMUX": "/tmp/tmux-0/default,1,0",
            "SSH_CONNECTION": "10.0.0.1 1 10.0.0.2 22",
        }
    )
    assert caps.kitty and caps.tmux and caps.ssh
    assert not probe.env_capabilities({"TERM": "xterm-256color"}).kitty


def test_probe_asks_a_real_pty_and_reads_the_answers():
    """A fake terminal on the master side of a pty answers like xterm with sixel."""
    master, slave = pty.openpty()
    seen = b""

    def terminal():
        nonlocal seen
        while b"\x1b[c" not in seen:
            seen += os.read(master, 4096)
        os.write(master, b"\x1b[6;18;9t\x1b[?63;1;2;4;6;9;15;22c")

    t = threading.Thread(target=terminal, daemon=True)
    t.start()
    try:
        caps = probe.probe_terminal(slave, timeout=3.0, env={"TERM": "xterm-256color"})
    finally:
        t.join(2)
        os.close(master)
        os.close(slave)
    assert caps.replied and caps.sixel and caps.cell_px == (9, 18) and not caps.kitty
    assert b"\x1b_Gi=31" in seen and seen.index(b"\x1b_Gi=31") < seen.index(b"\x1b[c")
    # the probe's shm object is named by its process (another test process may be probing now)
    assert not os.path.exists(f"/dev/shm/hambajuba-probe-{os.getpid()}")


def test_probe_gives_up_on_a_silent_terminal():
    master, slave = pty.openpty()
    try:
        began = time.monotonic()
        caps = probe.probe_terminal(slave, timeout=0.3, env={})
        assert time.monotonic() - began < 2.0
    finally:
        os.close(master)
        os.close(slave)
    assert not caps.replied and probe.choose_mode(caps).protocol == "halfblock"


# -- the encoder thread ---------------------------------------------------------------------
class _SlowEncoder:
    protocol = "test"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def encode(self, frame, place):
        self.seen.append(int(frame[0, 0, 0]))
        time.sleep(0.03)
        return f"frame {int(frame[0, 0, 0])}"

    def clear(self):
        return ""


def test_painter_encodes_only_the_newest_frame():
    enc = _SlowEncoder()
    emitted: list[str] = []
    painter = Painter(enc, lambda payload, place, serial: emitted.append(payload))
    frame = np.zeros((4, 4, 3), np.uint8)
    place = Placement(0, 0, 1, 1, 4, 4)
    try:
        for i in range(40):
            frame[:] = i
            painter.submit(frame, place)  # a copy: changing ``frame`` after is safe
            time.sleep(0.002)
        deadline = time.monotonic() + 3
        while (not emitted or emitted[-1] != "frame 39") and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        painter.close()
    assert emitted[-1] == "frame 39"  # the newest always lands
    assert len(enc.seen) < 20  # stale frames were dropped, not queued
    assert enc.seen == sorted(enc.seen)  # and never out of order


# -- hambajuba snapshot ---------------------------------------------------------------------
def _cli(*args, **kw):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        **kw,
    )


def test_snapshot_prints_the_frame_inline_and_saves_it(tmp_path):
    import soundfile as sf
    from PIL import Image
    from songs import steady

    song = steady(120.0, seconds=5.0)
    path = tmp_path / "beat.wav"
    sf.write(path, song.mix, song.sr)
    png = tmp_path / "frame.png"
    out = _cli(
        "snapshot",
        str(path),
        "--at",
        "2.5",
        "--size",
        "64",
        "--blocks",
        "--width",
        "24",
        "--save",
        str(png),
        "--stems",
        "dsp",
    )
    assert out.returncode == 0, out.stderr[-1500:]
    frame = np.asarray(Image.open(png))
    assert frame.shape == (64, 64, 3) and frame.std() > 5  # a picture, not a flat fill
    lines = [ln for ln in out.stdout.splitlines() if "\u2580" in ln]
    assert len(lines) == 12  # 24 cells wide, square: 24 pixel rows in 12 half-block rows
    colours = set(re.findall(r"\x1b\[38;2;(\d+;\d+;\d+)m", out.stdout))
    assert len(colours) > 20
    # the same frame again: rendering is deterministic
    again = _cli(
        "snapshot",
        str(path),
        "--at",
        "2.5",
        "--size",
        "64",
        "--blocks",
        "--save",
        str(tmp_path / "again.png"),
        "--stems",
        "dsp",
    )
    assert again.returncode == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "again.png")), frame)
    late = _cli("snapshot", str(path), "--at", "99", "--stems", "dsp")
    assert late.returncode == 2 and "--at must be between 0 and the song's length" in late.stderr
    assert "Traceback" not in late.stderr


def test_snapshot_refuses_bad_input_clearly(tmp_path):
    missing = _cli("snapshot", str(tmp_path / "nope.wav"), "--at", "1")
    assert missing.returncode == 3 and "nope.wav" in missing.stderr
    negative = _cli("snapshot", str(tmp_path / "nope.wav"), "--at", "-1")
    assert negative.returncode == 2 and "--at" in negative.stderr
    assert "Traceback" not in missing.stderr + negative.stderr
