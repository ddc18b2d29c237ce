"""``hambajuba render``: the real CLI renders the demo song, then the file is read back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hambajuba_tui.audio.demo_song import synthesize_demo, write_demo_song
from hambajuba_tui.render.encoder import RenderError, _explain, check_writable
from hambajuba_tui.render.probe import decode_audio, decode_frames, probe
from hambajuba_tui.render.render import Renderer, RenderOptions, clip_frames

SECONDS, FPS, SIZE = 5.0, 30, 192


def _env(base: Path) -> dict:
    models = base / "models"
    return {
        **os.environ,
        "HAMBAJUBA_HOME": str(base / "home"),
        "HAMBAJUBA_AUDIO": "none",
        "HF_HOME": str(models / "hf"),
        "TORCH_HOME": str(models / "torch"),
        "XDG_CACHE_HOME": str(models / "xdg"),
    }


def _cli(base: Path, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", "render", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(base),
    )


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return write_demo_song(tmp_path_factory.mktemp("song"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, song):
    """5 s of the demo song at 30 fps, preview engine; and the same clip with the creature."""
    base = tmp_path_factory.getbasetemp()
    out = tmp_path_factory.mktemp("render") / "demo.mp4"
    common = ["--engine", "preview", "--stems", "dsp", "--size", SIZE, "--seed", 7]
    res = _cli(base, song, "-o", out, "--end", SECONDS, *common, "--progress-json")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    creature = out.with_name("creature.mp4")
    res2 = _cli(base, song, "-o", creature, "--start", 2, "--end", 4, *common, "--creature")
    assert res2.returncode == 0, res2.stderr[-3000:]
    # No terminal: plain progress lines on stderr, the result on stdout.
    assert "hambajuba: render 60/60 frames" in res2.stderr
    assert res2.stdout.startswith(f"wrote {creature}")
    return out, lines, creature


@pytest.fixture(scope="module")
def song_analysis(tmp_path_factory, song):
    """The demo song's Analysis, from the cache the CLI wrote (same home)."""
    from hambajuba_tui.audio.analysis import analyze

    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(tmp_path_factory.getbasetemp()).items():
            mp.setenv(k, v)
        return analyze(song, stems_backend="dsp")


def _default_session():
    from hambajuba_tui.catalog.packs import load_pack

    return load_pack().session()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_the_file_reads_back_as_h264_yuv420p_with_audio_of_the_clip(rendered):
    out, progress, _ = rendered
    info = probe(out)
    v = info["video"]
    assert (v["codec"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", SIZE, SIZE)
    assert v["fps"] == FPS
    assert abs(info["duration"] - SECONDS) < 0.05
    assert info["audio"]["codec"] == "aac" and info["audio"]["sr"] == 44100
    frames = decode_frames(out, SIZE, SIZE)
    assert len(frames) == SECONDS * FPS
    audio = decode_audio(out)
    assert abs(len(audio) / 44100 - SECONDS) < 0.03
    assert np.abs(audio).max() > 0.05  # the song, not silence
    # Progress: JSON lines up to the last frame, then the summary with the path.
    assert progress[-2]["frame"] == progress[-2]["frames"] == SECONDS * FPS
    assert progress[-1]["done"] == str(out)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


def test_decoded_frames_match_the_engine_and_renders_are_deterministic(rendered, song_analysis):
    import dataclasses

    out, _, _ = rendered
    decoded = decode_frames(out, SIZE, SIZE)
    opts = RenderOptions(engine="preview", size=SIZE, fps=FPS, end=SECONDS, seed=7)
    renderer = Renderer(song_analysis, _default_session(), opts)
    psnr = [_psnr(frame, decoded[i]) for i, _t, frame in renderer.frames()]
    assert len(psnr) == len(decoded)
    # Measured 39.2–42.0 dB (median 40.3) at crf 18, superfast; 35 dB is "the same picture".
    assert min(psnr) >= 35.0, min(psnr)
    # A clip: the conductor settles before --start the same way every time.
    clip = dataclasses.replace(opts, start=2.0, end=3.0)
    first = [f.copy() for _i, _t, f in Renderer(song_analysis, _default_session(), clip).frames()]
    again = [f.copy() for _i, _t, f in Renderer(song_analysis, _default_session(), clip).frames()]
    assert len(first) == FPS and all(np.array_equal(a, b) for a, b in zip(first, again))


def test_frames_change_more_on_the_beats_than_between(rendered):
    out, _, _ = rendered
    frames = decode_frames(out, SIZE, SIZE).astype(np.int16)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    t = (np.arange(1, len(frames))) / FPS
    beats = synthesize_demo().beat_times
    idx = np.clip(np.searchsorted(beats, t, side="right") - 1, 0, len(beats) - 2)
    phase = (t - beats[idx]) / (beats[idx + 1] - beats[idx])
    valid = t > beats[0]
    on_beat = change[valid & (phase < 0.3)].mean()
    between = change[valid & (phase > 0.55)].mean()
    # Measured 1.45× over the first 5 s (seed 7); the beat walk and the drum kicks move more.
    assert on_beat > 1.25 * between, (on_beat, between)


def test_creature_frames_blink_on_the_beat(rendered, song_analysis):
    import dataclasses

    from hambajuba_tui.render.creature import CreatureCanvas
    from hambajuba_tui.tui.skin import default_skin

    _, _, creature = rendered
    canvas = CreatureCanvas(song_analysis, default_skin(), _default_session().sources, SIZE, "x")
    width, height = canvas.size
    info = probe(creature)
    assert (info["video"]["width"], info["video"]["height"]) == (width, height)
    assert abs(info["duration"] - 2.0) < 0.05 and info["audio"] is not None
    frames = decode_frames(creature, width, height)
    x, y, w, h = canvas.layout.pixel_box(canvas.layout.face)
    faces = frames[:, y : y + h, x : x + w].astype(np.int16)
    times = 2.0 + np.arange(len(frames)) / FPS
    eyes = [canvas.moment(t).expression.eyes for t in times]
    closed = [i for i, e in enumerate(eyes) if e == "closed"]
    opened = [i for i, e in enumerate(eyes) if e == "open"]
    assert closed and opened, eyes
    # Every blink happens just after a beat...
    beats = song_analysis.beats
    for i in closed:
        since = times[i] - beats[beats <= times[i] + 1e-9].max()
        assert 0 <= since < 0.13
    # ...and shows in the video: on the pixels where open and closed eyes differ, each decoded
    # face is nearer the face drawn for its own expression than for the other one.
    for i, e in enumerate(canvas.moment(t).expression for t in times):
        if e.eyes not in ("open", "closed"):
            continue
        other = dataclasses.replace(e, eyes="closed" if e.eyes == "open" else "open")
        own, wrong = canvas.face_pixels(e), canvas.face_pixels(other)
        eyes_px = np.any(own != wrong, axis=2)
        assert eyes_px.sum() > 20
        near = np.abs(faces[i][eyes_px] - own[eyes_px].astype(np.int16)).mean()
        far = np.abs(faces[i][eyes_px] - wrong[eyes_px].astype(np.int16)).mean()
        assert near < 0.5 * far, (i, e, near, far)
    # The heart pane holds the engine's frame.
    hx, hy, side = canvas.layout.heart_px
    assert frames[:, hy : hy + side, hx : hx + side].std() > 10


@pytest.mark.parametrize("vertical", [False, True])
def test_the_layouts_fit_their_canvas(analysis, vertical):
    from hambajuba_tui.render.creature import CreatureCanvas
    from hambajuba_tui.tui.skin import load_skin

    for name in ("default", "kawaii"):  # plain ASCII, and the most unusual glyphs
        skin, problems = load_skin(name)
        assert not problems
        canvas = CreatureCanvas(
            analysis,
            skin,
            ["bass", "drums", "vocals", "other"],
            512,
            "preview",
            "a title",
            vertical=vertical,
        )
        lay = canvas.layout
        width, height = canvas.size
        if vertical:
            assert (width, height) == (1080, 1920)
        assert width % 2 == 0 and height % 2 == 0
        boxes = [lay.face, lay.status, lay.heart_box, *lay.orbs] + [b for b, _ in lay.tendrils]
        rects = [lay.pixel_box(b) for b in boxes]
        for x, y, w, h in rects:
            assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        for i, (x, y, w, h) in enumerate(rects):  # nothing overlaps
            for x2, y2, w2, h2 in rects[i + 1 :]:
                if boxes[i] is lay.heart_box or (x2, y2, w2, h2) == lay.pixel_box(lay.heart_box):
                    continue
                assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
        hx, hy, side = lay.heart_px
        bx, by, bw, bh = lay.pixel_box(lay.heart_box)
        assert bx < hx and by < hy and hx + side < bx + bw and hy + side < by + bh
        heart = np.full((512, 512, 3), 77, np.uint8)
        frame = canvas.draw(1.0, heart)
        assert frame.shape == (height, width, 3)
        inner = frame[hy + 2 : hy + side - 2, hx + 2 : hx + side - 2]
        assert np.all(np.abs(inner.astype(int) - 77) <= 1)  # the heart, scaled or not
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # and the creature around it


def test_ctrl_c_leaves_nothing_behind(tmp_path, tmp_path_factory, song, rendered):
    out = tmp_path / "cancelled.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hambajuba_tui.cli", "render", str(song), "-o", str(out)]
        + ["--engine", "preview", "--stems", "dsp", "--size", "128", "--progress-json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path_factory.getbasetemp()),
    )
    line = proc.stdout.readline()  # the first progress line: frames are being encoded
    assert line.startswith("{"), proc.stderr.read()[-2000:]
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_and_a_missing_encoder_say_so(tmp_path, tmp_path_factory, song):
    base = tmp_path_factory.getbasetemp()
    res = _cli(base, song, "-o", tmp_path / "no" / "such" / "dir" / "x.mp4", "--engine", "preview")
    assert res.returncode == 3 and "does not exist" in res.stderr
    assert "Traceback" not in res.stderr
    res = _cli(base, song, "-o", tmp_path, "--engine", "preview")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    if Path("/proc/self").is_dir():  # not writable even for root
        res = _cli(base, song, "-o", "/proc/hambajuba.mp4", "--engine", "preview")
        assert res.returncode == 3 and "cannot write /proc/hambajuba.mp4" in res.stderr
    with pytest.raises(RenderError, match="does not exist"):
        check_writable(tmp_path / "missing" / "x.mp4")
    env = {**_env(base), "IMAGEIO_FFMPEG_EXE": str(tmp_path / "no-ffmpeg")}
    res = subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", "render", str(song), "-o", "x.mp4"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode != 0 and "no video encoder" in res.stderr, res.stderr
    assert list(tmp_path.iterdir()) == []
    # A full disk, in ffmpeg's words, becomes one sentence.
    msg = _explain("av_interleaved_write_frame(): No space left on device\n", Path("o.mp4"))
    assert msg.startswith("the disk is full")


def test_bad_clip_options_are_refused():
    with pytest.raises(RenderError, match="at most 60"):
        clip_frames(10.0, 120, 0, None)
    with pytest.raises(RenderError, match="after --start"):
        clip_frames(10.0, 30, 5, 4)
    assert clip_frames(10.0, 30, 2.0, 3.0) == (60, 30)
    assert clip_frames(10.0, 30, 0, None) == (0, 300)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGE = """<html><body><video id="v" src="%s" muted playsinline preload="auto"></video>
<pre id="out">pending</pre><script>
const v = document.getElementById('v'), out = document.getElementById('out'), r = {};
const show = () => { out.textContent = 'RESULT ' + JSON.stringify(r); };
v.addEventListener('error', () => { r.error = v.error && v.error.code; show(); });
v.addEventListener('loadedmetadata', () => {
  r.duration = v.duration; r.width = v.videoWidth; r.height = v.videoHeight;
  r.canPlay = v.canPlayType('video/mp4; codecs="avc1.640028, mp4a.40.2"');
  v.currentTime = %f;
});
v.addEventListener('seeked', () => {
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
  r.meanRGB = s / (3 * d.length / 4); r.seekedAt = v.currentTime;
  v.play().catch(e => { r.playError = String(e); });
  setTimeout(() => { r.audioBytes = v.webkitAudioDecodedByteCount;
                     r.frames = v.webkitDecodedFrameCount; show(); }, 1500);
});
</script></body></html>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_a_real_headless_chromium_plays_it_with_sound(rendered, tmp_path):
    out, _, _ = rendered
    at = 2.5
    shutil.copy(out, tmp_path / "v.mp4")
    (tmp_path / "page.html").write_text(PAGE % ("v.mp4", at))
    res = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio"]
        + ["--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files"]
        + ["--virtual-time-budget=10000", "--dump-dom", (tmp_path / "page.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = res.stdout.split('<pre id="out">', 1)[-1].split("</pre>", 1)[0]
    assert text.startswith("RESULT "), (text, res.stderr[-1500:])
    r = json.loads(text[len("RESULT ") :])
    assert "error" not in r, r
    assert r["canPlay"] == "probably" and (r["width"], r["height"]) == (SIZE, SIZE)
    assert abs(r["duration"] - SECONDS) < 0.05
    assert r["audioBytes"] > 0 and r["frames"] > 0  # AAC and H.264 both decoded
    # The browser's picture at the seek is the decoder's (colours as tagged, BT.709).
    frame = decode_frames(out, SIZE, SIZE)[round(at * FPS)]
    assert abs(r["meanRGB"] - frame.mean()) < 3.0, (r["meanRGB"], frame.mean())
