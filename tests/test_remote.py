"""The remote engine over loopback: `hambajuba serve` and RemoteEngine (--engine ws://).

Real sockets on 127.0.0.1, a real websockets server and client; the faults are made for real
(a killed server process, a slow renderer, wrong tokens, fuzzed messages, vanished clients).
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import weakref

import numpy as np
import pytest

pytest.importorskip("websockets")

from hambajuba_tui.bridge.params import FrameParams  # noqa: E402
from hambajuba_tui.engine import wire  # noqa: E402
from hambajuba_tui.engine.preview import PreviewEngine  # noqa: E402
from hambajuba_tui.engine.remote import RemoteEngine, RemoteRefused  # noqa: E402
from hambajuba_tui.server import (  # noqa: E402
    PreviewRenderer,
    ServeError,
    ServeOptions,
    ServerThread,
    check_options,
)

SIZE = 64


def _server(log=None, renderer=None, **kw) -> ServerThread:
    return ServerThread(ServeOptions(bind="127.0.0.1:0", **kw), log=log, renderer=renderer)


def _params(i: int = 0) -> FrameParams:
    p = FrameParams(t=i / 30, theta=0.1 * i, scene_t=(i % 10) / 10)
    p.strengths[:] = [3.0, -2.0, 1.5, 4.0]
    p.feature_ids[:] = [3, 7, 11, 2 + i // 5]
    p.mix_ids[0], p.mix_weights[0] = 5, 0.3
    p.masks[1, :8] = 0.25 * (i % 4)
    return p


def _fetch(engine, params, out, timeout=10.0):
    """Call generate until a frame is written (the remote pipeline needs a round trip)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        t = engine.generate(params, out)
        if t is not None:
            return t
        time.sleep(0.005)
    raise AssertionError("no frame arrived")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the wire --------------------------------------------------------------------------------------
def test_wire_round_trip_and_strict_sizes():
    p, q = _params(7), FrameParams()
    step = wire.pack_step(42, p)
    assert len(step) == 54  # per step: 54 bytes up
    assert wire.apply_binary(step, q) == (42, pytest.approx(p.t))
    assert wire.apply_binary(wire.pack_masks(p.masks), q) is None
    assert wire.apply_binary(wire.pack_features(p.feature_ids, p.mix_ids), q) is None
    np.testing.assert_array_equal(q.masks, p.masks)
    np.testing.assert_array_equal(q.feature_ids, p.feature_ids)
    np.testing.assert_allclose(q.strengths, p.strengths)
    assert q.theta == pytest.approx(p.theta) and q.scene_t == pytest.approx(p.scene_t)
    wrong_kind = b"\1\x09" + step[2:]
    for bad in (step[:-1], step + b"\0", b"\2" + step[1:], step[:1], b"", wrong_kind):
        with pytest.raises(wire.WireError):
            wire.apply_binary(bad, q)
    bad_texts = ("{", "[]", '{"type": "hello", "v": 1}', '{"type": "seed", "seed": -1}', "x" * 9000)
    for text in bad_texts:
        with pytest.raises(wire.WireError):
            wire.parse_text(text)


# -- the engine is the engine ----------------------------------------------------------------------
def test_remote_frames_equal_the_local_engine_and_follow_seed_scenes_masks_features():
    """Raw frames over loopback are the local preview's pixels, through seed, scene, mask and
    feature changes (which travel only when they change)."""
    with _server(engine="preview") as srv:
        remote = RemoteEngine(srv.url, SIZE, SIZE, seed=3, raw=True)
        local = PreviewEngine(SIZE, SIZE, seed=3)
        try:
            assert remote.name == f"preview @ {remote.host}"
            a, b = (np.zeros((SIZE, SIZE, 3), np.uint8) for _ in range(2))
            for i in range(12):
                if i == 4:
                    remote.reseed(9), local.reseed(9)
                if i == 8:
                    remote.set_scenes("a red sky", None), local.set_scenes("a red sky", None)
                p = _params(i)
                remote._latest = None
                t = _fetch(remote, p, a)
                local.generate(p, b)
                if t == pytest.approx(p.t):
                    np.testing.assert_array_equal(a, b)
            assert remote.counts["sent"] >= 12 and remote.latency() > 0
            link = remote.link()
            assert link.connected and link.rtt_ms > 0 and link.host == remote.host
        finally:
            remote.close()


def test_jpeg_frames_are_close_to_the_local_engine():
    with _server(engine="preview") as srv:
        remote = RemoteEngine(srv.url, 128, 128, seed=1, raw=False)
        try:
            a, b = np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128, 3), np.uint8)
            p = _params(3)
            while True:  # the frame for exactly these params
                if _fetch(remote, p, a) == pytest.approx(p.t):
                    break
            PreviewEngine(128, 128, seed=1).generate(p, b)
            diff = np.abs(a.astype(int) - b)
            assert diff.mean() < 3 and remote.counts["bytes_in"] < 128 * 128 * 3 / 4
        finally:
            remote.close()


# -- tokens, TLS options, capacity -----------------------------------------------------------------
def test_token_is_required_off_loopback_and_refusals_are_clear(tmp_path):
    with pytest.raises(ServeError, match="token is required"):
        check_options(ServeOptions(bind="0.0.0.0:8765"))
    check_options(ServeOptions(bind="0.0.0.0:8765", token="s3cret"))
    with pytest.raises(ServeError, match="--cert and --key"):
        check_options(ServeOptions(cert=tmp_path / "c.pem"))
    logs: list[str] = []
    with _server(log=logs.append, token="right-token") as srv:
        for token in (None, "wrong-token"):
            with pytest.raises(RemoteRefused, match="wrong or missing token"):
                RemoteEngine(srv.url, SIZE, SIZE, token=token)
        assert sum("wrong or missing token" in line for line in logs) == 2
        ok = RemoteEngine(srv.url, SIZE, SIZE, token="right-token")
        try:
            _fetch(ok, _params(), np.zeros((SIZE, SIZE, 3), np.uint8))
        finally:
            ok.close()


def test_above_max_clients_a_new_client_is_refused_with_the_reason():
    with _server(max_clients=2) as srv:
        first = [RemoteEngine(srv.url, SIZE, SIZE) for _ in range(2)]
        try:
            with pytest.raises(RemoteRefused, match=r"full: 2 of 2 clients.*--max-clients"):
                RemoteEngine(srv.url, SIZE, SIZE)
        finally:
            for e in first:
                e.close()
        time.sleep(0.3)
        again = RemoteEngine(srv.url, SIZE, SIZE)  # room again once they left
        again.close()


def test_a_bad_hello_is_refused_with_the_reason():
    with _server() as srv, pytest.raises(RemoteRefused, match="width must be a whole number"):
        RemoteEngine(srv.url, 5000, SIZE)


# -- faults ----------------------------------------------------------------------------------------
def _fuzz_messages(rng: np.random.Generator) -> list:
    good = wire.pack_step(1, _params())
    msgs: list = [
        b"",
        good[:10],
        good + b"x",
        wire.pack_masks(np.ones((4, 16, 16)))[:-3],
        b"\x07" + good[1:],
        b"\x01\x63" + good[2:],
        b"\x00" * 9000,  # oversized: over the server's max_size
        "not json",
        '{"type": "hello", "v": 1, "width": 64, "height": 64, "seed": 0, "scenes": [null, null]}',
        '{"type": "scenes", "a": 5, "b": null}',
        '{"type": "seed", "seed": 1e99}',
        "x" * 20000,
    ]
    msgs += [rng.bytes(int(n)) for n in rng.integers(1, 200, 8)]
    msgs += [bytes([1, 1]) + rng.bytes(52)]  # the right size: garbage numbers render, no crash
    return msgs


def test_fuzzed_messages_close_that_connection_only():
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    rng = np.random.default_rng(0)
    with _server(max_clients=3) as srv:
        good = RemoteEngine(srv.url, SIZE, SIZE)
        out = np.zeros((SIZE, SIZE, 3), np.uint8)
        try:
            closed = 0
            for msg in _fuzz_messages(rng):
                with connect(srv.url, compression=None, open_timeout=5) as ws:
                    ws.send(wire.hello(SIZE, SIZE, 0, (None, None), False))
                    ws.recv(timeout=5)  # ready
                    try:
                        ws.send(msg)
                        ws.send(msg)
                        end = time.monotonic() + 5
                        while time.monotonic() < end:
                            ws.recv(timeout=5)  # frames for the lucky garbage, then the close
                    except (ConnectionClosed, TimeoutError):
                        closed += 1
                # the well-behaved client keeps dancing all along
                _fetch(good, _params(closed), out)
            assert closed >= len(_fuzz_messages(rng)) - 2
            assert good._ws is not None and good.counts["fallbacks"] == 0
            time.sleep(0.3)
            assert srv.call(lambda: len(srv.server.clients)) == 1
        finally:
            good.close()


def test_a_vanished_client_is_freed_and_memory_does_not_grow():
    with _server(max_clients=2) as srv:
        refs = []
        out = np.zeros((SIZE, SIZE, 3), np.uint8)
        for i in range(12):
            e = RemoteEngine(srv.url, SIZE, SIZE, seed=i)
            _fetch(e, _params(i), out)
            clients = srv.call(lambda: list(srv.server.clients.values()))
            refs += [weakref.ref(c) for c in clients]
            e._ws.socket.shutdown(socket.SHUT_RDWR)  # gone without a goodbye
            e._closing.set()
            del clients
            end = time.monotonic() + 10
            while srv.call(lambda: len(srv.server.clients)) and time.monotonic() < end:
                time.sleep(0.05)
            assert srv.call(lambda: len(srv.server.clients)) == 0
        srv.call(gc.collect)
        gc.collect()
        assert all(r() is None for r in refs), "a departed client's state is still referenced"


class SlowRenderer(PreviewRenderer):
    """A GPU far away on a slow link: every batch takes 150 ms."""

    def render(self, clients):
        time.sleep(0.15)
        super().render(clients)


def test_slow_link_drops_frames_and_never_stalls_the_loop():
    fps = 30.0
    with _server(renderer=SlowRenderer()) as srv:
        clock = {"now": 0.0}
        e = RemoteEngine(srv.url, SIZE, SIZE, now=lambda: clock["now"], interval=1 / fps)
        out = np.zeros((SIZE, SIZE, 3), np.uint8)
        try:
            calls, written = [], 0
            start = time.monotonic()
            for i in range(60):  # two seconds of the worker's loop, media time = wall time
                clock["now"] = time.monotonic() - start
                p = _params(i)
                p.t = clock["now"] + e.latency() + 1 / fps
                began = time.perf_counter()
                written += e.generate(p, out) is not None
                calls.append(time.perf_counter() - began)
                time.sleep(max(0.0, start + (i + 1) / fps - time.monotonic()))
            # generate never waits for the link (a 150 ms render): at most half an interval,
            # plus what a loaded host's scheduler adds now and then
            assert np.percentile(calls, 90) < 1 / fps and max(calls) < 0.1
            assert 3 <= written < 30  # frames arrive, fewer than asked: the rest were dropped
            assert e.counts["skipped"] + e.counts["late"] > 0
            assert e.latency() > 0.1  # the lookahead grows with the measured round trip
        finally:
            e.close()


def _serve_process(port: int):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hambajuba_tui.cli",
            "serve",
            "--engine",
            "preview",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    assert "preview on ws://127.0.0.1" in line, line
    return proc


def test_server_killed_mid_song_falls_back_within_a_second_and_reconnects():
    port = _free_port()
    proc = _serve_process(port)
    e = RemoteEngine(f"ws://127.0.0.1:{port}", SIZE, SIZE, seed=4)
    out = np.zeros((SIZE, SIZE, 3), np.uint8)
    try:
        _fetch(e, _params(), out)
        assert e.name.startswith("preview @")
        proc.kill()
        proc.wait(5)
        killed = time.monotonic()
        while e._ws is not None and time.monotonic() - killed < 1.0:
            e.generate(_params(1), out)
            time.sleep(1 / 30)
        assert e._ws is None, "still waiting for a dead server after a second"
        assert time.monotonic() - killed < 1.0
        t = e.generate(_params(2), out)  # the local preview answers at once
        assert t == pytest.approx(_params(2).t)
        local = np.zeros_like(out)
        PreviewEngine(SIZE, SIZE, seed=4).generate(_params(2), local)
        np.testing.assert_array_equal(out, local)
        assert "lost" in e.name
        news = e.news()
        assert any("running the local preview engine" in n for n in news), news
        proc = _serve_process(port)  # back: the client finds it again with backoff
        end = time.monotonic() + 15
        while e._ws is None and time.monotonic() < end:
            time.sleep(0.05)
        assert e._ws is not None and e.name.startswith("preview @")
        assert any("reconnected" in n for n in e.news())
        _fetch(e, _params(3), out)
    finally:
        e.close()
        proc.kill()
        proc.wait(5)


# -- batching --------------------------------------------------------------------------------------
class PausingRenderer(PreviewRenderer):
    """Takes 40 ms a batch, so requests of several clients are pending together."""

    def render(self, clients):
        time.sleep(0.04)
        super().render(clients)


def test_pending_requests_of_several_clients_render_in_one_batch():
    with _server(max_clients=4, renderer=PausingRenderer()) as srv:
        engines = [RemoteEngine(srv.url, SIZE, SIZE, seed=i, raw=True) for i in range(4)]
        out = np.zeros((SIZE, SIZE, 3), np.uint8)
        try:
            for _ in range(20):
                for i, e in enumerate(engines):
                    e.generate(_params(i), out)
                time.sleep(0.01)
            batches = srv.call(lambda: list(srv.server.batches))
            assert max(batches) >= 2, batches
            # each client's frames are its own (seed i), batched or not
            for i, e in enumerate(engines):
                e._latest = None
                p = _params(i)
                while _fetch(e, p, out) != pytest.approx(p.t):
                    pass
                ref = np.zeros_like(out)
                PreviewEngine(SIZE, SIZE, seed=i).generate(p, ref)
                np.testing.assert_array_equal(out, ref)
        finally:
            for e in engines:
                e.close()


# -- in the product: the worker and the Show -------------------------------------------------------
def test_show_with_a_remote_engine_names_host_rtt_and_in_flight(analysis):
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.show import Show, ShowOptions
    from hambajuba_tui.tui.status import link_text
    from hambajuba_tui.vocab import SAMPLE_RATE

    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    with _server() as srv:
        opts = ShowOptions(engine=srv.url, width=SIZE, height=SIZE, fps=15.0, sound=False)
        with Show(analysis, silence, SAMPLE_RATE, load_pack().session(), opts) as show:
            show.start(wait_ready_s=60)
            end = time.monotonic() + 60
            frames = 0
            while time.monotonic() < end and (frames < 5 or show.status.link is None):
                news = show.poll_worker()
                assert not [n for n in news if "failed" in n], news
                frames += show.poll_frame() is not None
                time.sleep(0.02)
            host = srv.url.removeprefix("ws://")
            assert show.status.engine == f"preview @ {host}"
            assert frames >= 5 and show.status.link.host == host
            assert link_text(show.status.link).startswith("rtt ")


def test_sdxl_server_batches_two_performers_with_their_own_seeds(tmp_path, monkeypatch):
    """`serve --engine sdxl-turbo` on the tiny same-architecture model: two clients, their
    requests batched into one UNet call, each frame its own (checked against a local engine)."""
    pytest.importorskip("diffusers")
    import tiny_sdxl

    from hambajuba_tui.engine.sdxl import SdxlTurboEngine
    from hambajuba_tui.server import SdxlRenderer

    tiny_sdxl.install(tmp_path / "hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    class Pausing(SdxlRenderer):  # 50 ms a batch: the two clients' requests meet
        def render(self, clients):
            time.sleep(0.05)
            super().render(clients)

    renderer = Pausing(64)
    with _server(engine="sdxl-turbo", size=64, renderer=renderer) as srv:
        engines = [RemoteEngine(srv.url, 64, 64, seed=s, raw=True) for s in (1, 2)]
        outs = [np.zeros((64, 64, 3), np.uint8) for _ in engines]
        try:
            assert engines[0].name.startswith("sdxl-turbo @")
            got = [None, None]
            end = time.monotonic() + 120
            batches = [1]
            while (any(g is None for g in got) or max(batches) < 2) and time.monotonic() < end:
                for i, e in enumerate(engines):
                    if e.generate(_params(i), outs[i]) is not None:
                        got[i] = outs[i].copy()
                batches = srv.call(lambda: list(srv.server.batches))
                time.sleep(0.01)
            assert max(batches) == 2, batches
        finally:
            for e in engines:
                e.close()
    local = SdxlTurboEngine.load(64, 64, seed=1, compile=False)
    for i, seed in enumerate((1, 2)):
        local.reseed(seed)
        ref = np.zeros((64, 64, 3), np.uint8)
        local.generate(_params(i), ref)
        assert np.abs(got[i].astype(int) - ref).max() <= 2


def test_wss_with_a_self_signed_certificate_and_a_token(tmp_path, monkeypatch):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    with _server(token="tok-123", cert=cert, key=key) as srv:
        assert srv.url.startswith("wss://")
        with pytest.raises(RemoteRefused, match="certificate is not trusted.*HAMBAJUBA_CA_FILE"):
            RemoteEngine(srv.url, SIZE, SIZE, token="tok-123")
        monkeypatch.setenv("HAMBAJUBA_CA_FILE", str(cert))
        e = RemoteEngine(srv.url, SIZE, SIZE, token="tok-123")
        try:
            assert e._ws is not None  # connected over TLS
            _fetch(e, _params(), np.zeros((SIZE, SIZE, 3), np.uint8))
        finally:
            e.close()


def test_cli_serve_refuses_a_network_bind_without_a_token_and_needs_no_textual(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", "serve", "--bind", "0.0.0.0:8765"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "token is required" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    code = (
        "import sys\n"
        "from hambajuba_tui import cli, server\n"
        "from hambajuba_tui.engine import remote\n"
        "cli.build_parser().parse_args(['demo', '--engine', 'ws://10.0.0.2:8765'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'torch'}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    bad = subprocess.run(
        [sys.executable, "-m", "hambajuba_tui.cli", "demo", "--engine", "ws://nohost"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "ws://HOST:PORT" in bad.stderr


def test_a_refusing_server_is_said_in_the_show_and_the_preview_dances(analysis):
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.show import Show, ShowOptions
    from hambajuba_tui.vocab import SAMPLE_RATE

    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    with _server(token="the-token") as srv:
        opts = ShowOptions(engine=srv.url, width=SIZE, height=SIZE, fps=15.0, sound=False)
        with Show(analysis, silence, SAMPLE_RATE, load_pack().session(), opts) as show:
            show.start(wait_ready_s=60)
            news: list[str] = []
            end = time.monotonic() + 60
            while time.monotonic() < end and show.status.engine != "preview":
                news += show.poll_worker()
                time.sleep(0.02)
            assert show.status.engine == "preview"
            assert any("wrong or missing token" in n and "preview" in n for n in news), news


def test_status_line_names_the_engine_at_its_host_with_rtt_and_in_flight():
    from hambajuba_tui.engine.protocol import Link
    from hambajuba_tui.tui.status import StatusInfo, link_text

    link = link_text(Link("gpu-box:8765", 38.4, 2))
    info = StatusInfo(True, 1.0, 60.0, 120.0, "sdxl-turbo @ gpu-box:8765", 30, 0, "kitty", "pw")
    text = info.__class__(**{**info.__dict__, "link": link}).text()
    assert "engine sdxl-turbo @ gpu-box:8765  ·  rtt 38 ms  ·  2 in flight" in text
    assert link_text(Link("gpu-box:8765", 38.4, 2, connected=False)) == ""
    assert link_text(None) == ""


def test_a_hung_server_is_left_for_the_preview_and_found_again_when_it_wakes():
    import signal

    port = _free_port()
    proc = _serve_process(port)
    e = RemoteEngine(f"ws://127.0.0.1:{port}", SIZE, SIZE, seed=2)
    out = np.zeros((SIZE, SIZE, 3), np.uint8)
    try:
        _fetch(e, _params(), out)
        proc.send_signal(signal.SIGSTOP)  # alive, connected, silent
        stopped = time.monotonic()
        while e._ws is not None and time.monotonic() - stopped < 3.0:
            e.generate(_params(1), out)
            time.sleep(1 / 30)
        assert e._ws is None and time.monotonic() - stopped < 1.0 + 3 * e._rtt_s
        assert e.generate(_params(2), out) == pytest.approx(_params(2).t)  # the local preview
        proc.send_signal(signal.SIGCONT)
        end = time.monotonic() + 20
        while e._ws is None and time.monotonic() < end:
            time.sleep(0.05)
        assert e._ws is not None
        _fetch(e, _params(3), out)
    finally:
        e.close()
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(5)
