"""``hambajuba serve``: engines where the GPU is, for clients that keep the song and the conductor.

One WebSocket per client (``websockets``, per-message compression off: frames are JPEG or raw).
Each client has its own state — size, seed, scenes, features, masks (:class:`Client`) — and at
most one pending request: a newer request replaces an older one not yet rendered (dropped, never
queued). A render loop takes every pending request at once and renders them in ONE call of the
:class:`Renderer` (a batch), in a worker thread so the event loop keeps reading; each client's
frame then goes out through its own sender, which also keeps only the newest frame, so a slow
link never holds up the others.

The token (``Authorization: Bearer``) and the client limit are checked during the HTTP
handshake, so a refusal is an HTTP status with a one-line reason the client can print. Needs
neither Textual nor a terminal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import io
import ipaddress
import itertools
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import numpy as np

from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.engine import wire

DEFAULT_BIND = "127.0.0.1:8765"
JPEG_QUALITY = 85
"""Chosen by measurement (bench/remote.py --quality-sweep): see the README, "A GPU elsewhere"."""
MAX_MESSAGE = 8192
"""Bytes per client message (the largest legal one, the masks, is 4098)."""
HELLO_TIMEOUT_S = 5.0


class ServeError(Exception):
    """A bad serve option: one line for the user."""


@dataclass
class ServeOptions:
    bind: str = DEFAULT_BIND
    engine: str = "preview"
    size: int = 512
    max_clients: int = 4
    token: str | None = None
    cert: Path | None = None
    key: Path | None = None
    quality: int = JPEG_QUALITY
    report_s: float = 10.0
    decoder: str = "taesd"


def parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ServeError(f"--bind must be HOST:PORT, got {bind!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"--token-file {path}: cannot read it ({exc})") from None
    if not token or any(c.isspace() for c in token):
        raise ServeError(f"--token-file {path}: the token must be one word (no spaces)")
    return token


# -- renderers: one call per batch ---------------------------------------------------------------
class Renderer:
    """Renders a batch of clients' pending requests in one call."""

    name = "?"

    def fixed_size(self) -> tuple[int, int] | None:
        """The size every frame has (sdxl-turbo renders at the server's --size), or None."""
        return None

    def add(self, client: Client) -> None: ...

    def remove(self, client: Client) -> None: ...

    def reseed(self, client: Client) -> None: ...

    def set_scenes(self, client: Client) -> None: ...

    def render(self, clients: list[Client]) -> None:
        """Write each client's frame for ``client.params`` into ``client.image``."""
        raise NotImplementedError


class PreviewRenderer(Renderer):
    """The preview engine, one per client (its own size, seed and palettes)."""

    name = "preview"

    def add(self, client: Client) -> None:
        from hambajuba_tui.engine.preview import PreviewEngine

        client.engine = PreviewEngine(client.width, client.height, client.seed)
        self.set_scenes(client)

    def remove(self, client: Client) -> None:
        client.engine = None

    def reseed(self, client: Client) -> None:
        client.engine.reseed(client.seed)

    def set_scenes(self, client: Client) -> None:
        client.engine.set_scenes(*client.scenes)

    def render(self, clients: list[Client]) -> None:
        for c in clients:
            c.engine.generate(c.snapshot, c.image)


class SdxlRenderer(Renderer):
    """One SDXL-Turbo engine at the server's size, shared by all clients.

    A batch of one runs the (compiled) step; a larger batch runs ``SdxlTurboEngine.generate_batch``
    (eager, per-sample noise, scene blend, steering strengths, features and masks)."""

    name = "sdxl-turbo"

    def __init__(self, size: int, decoder: str = "taesd") -> None:
        from hambajuba_tui.engine.sdxl import SdxlTurboEngine

        self.engine = SdxlTurboEngine.load(width=size, height=size, decoder=decoder)
        self.engine.warmup()

    def fixed_size(self) -> tuple[int, int]:
        return self.engine.width, self.engine.height

    def render(self, clients: list[Client]) -> None:
        e = self.engine
        if len(clients) > 1:
            jobs = [(c.snapshot, c.seed, c.scenes) for c in clients]
            e.generate_batch(jobs, [c.image for c in clients])
            return
        c = clients[0]
        if e.seed != c.seed:
            e.reseed(c.seed)
        e.set_scenes(*c.scenes)
        e.generate(c.snapshot, c.image)


def make_renderer(opts: ServeOptions) -> Renderer:
    if opts.engine == "preview":
        return PreviewRenderer()
    if opts.engine == "sdxl-turbo":
        return SdxlRenderer(opts.size, opts.decoder)
    raise ServeError(f"unknown engine {opts.engine!r}")


# -- clients ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class Client:
    id: int
    peer: str
    width: int
    height: int
    seed: int
    scenes: tuple[str | None, str | None]
    raw: bool
    params: FrameParams = field(default_factory=FrameParams)
    """Updated by the client's messages, on the event loop."""
    snapshot: FrameParams = field(default_factory=FrameParams)
    """The params being rendered (copied from ``params`` when the batch is taken)."""
    image: np.ndarray | None = None
    engine: object = None
    pending: tuple[int, float] | None = None
    outgoing: bytes | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    joined: float = field(default_factory=time.monotonic)
    frames: int = 0
    bytes_out: int = 0
    dropped: int = 0
    window: list[float] = field(default_factory=lambda: [time.monotonic(), 0, 0])
    """[start, frames, bytes] since the last fps report."""


class RemoteServer:
    def __init__(self, opts: ServeOptions, renderer: Renderer, log=None) -> None:
        self.opts = opts
        self.renderer = renderer
        self.log = log or (lambda line: print(f"hambajuba serve: {line}", flush=True))
        self.clients: dict[int, Client] = {}
        self._ids = itertools.count(1)
        self._work = asyncio.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="render")
        self.batches: list[int] = []
        """Sizes of the last batches rendered (for tests and the bench)."""

    # -- handshake: token and capacity -----------------------------------------------------------
    def process_request(self, connection, request):
        peer = _peer(connection)
        if self.opts.token is not None:
            auth = request.headers.get("Authorization", "")
            given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
            if not hmac.compare_digest(given.encode(), self.opts.token.encode()):
                self.log(f"refused {peer}: wrong or missing token")
                return connection.respond(
                    HTTPStatus.UNAUTHORIZED,
                    "hambajuba serve: wrong or missing token (give the server's token with "
                    "--token-file)\n",
                )
        if len(self.clients) >= self.opts.max_clients:
            self.log(f"refused {peer}: full ({len(self.clients)} clients)")
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"hambajuba serve: full: {len(self.clients)} of {self.opts.max_clients} "
                "clients are connected (--max-clients)\n",
            )
        return None

    # -- one connection --------------------------------------------------------------------------
    async def handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        peer = _peer(ws)
        try:
            first = await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S)
            if not isinstance(first, str):
                raise wire.WireError("the first message must be the hello")
            hello = wire.parse_text(first)
            if hello["type"] != "hello":
                raise wire.WireError("the first message must be the hello")
        except (TimeoutError, wire.WireError, ConnectionClosed) as exc:
            reason = str(exc) if isinstance(exc, wire.WireError) else "no hello"
            self.log(f"closed {peer}: {reason}")
            await ws.close(1008, reason[:120])
            return
        if len(self.clients) >= self.opts.max_clients:  # raced past the handshake check
            await ws.close(1013, "server full (--max-clients)")
            return
        w, h = self.renderer.fixed_size() or (hello["width"], hello["height"])
        client = Client(
            next(self._ids),
            peer,
            w,
            h,
            hello["seed"],
            tuple(hello["scenes"]),
            hello["raw"],
        )
        client.image = np.zeros((h, w, 3), np.uint8)
        try:
            self.renderer.add(client)
        except Exception as exc:
            await ws.close(1011, f"cannot start an engine: {exc}"[:120])
            return
        self.clients[client.id] = client
        kind = "raw" if client.raw else f"JPEG q{self.opts.quality}"
        self.log(f"client #{client.id} joined from {peer} ({w}×{h}, {kind})")
        await ws.send(
            wire_json(type="ready", v=wire.VERSION, engine=self.renderer.name, width=w, height=h)
        )
        sender = asyncio.create_task(self._sender(ws, client))
        reason = "left"
        try:
            async for msg in ws:
                if isinstance(msg, str):
                    ctl = wire.parse_text(msg)
                    if ctl["type"] == "seed":
                        client.seed = ctl["seed"]
                        await self._in_render_thread(self.renderer.reseed, client)
                    elif ctl["type"] == "scenes":
                        client.scenes = (ctl["a"], ctl["b"])
                        await self._in_render_thread(self.renderer.set_scenes, client)
                    else:
                        raise wire.WireError("a second hello")
                    continue
                req = wire.apply_binary(msg, client.params)
                if req is not None:
                    if client.pending is not None:
                        client.dropped += 1  # a newer request replaces it: dropped, not queued
                    client.pending = req
                    self._work.set()
        except wire.WireError as exc:
            reason = f"closed: {exc}"
            await ws.close(1008, str(exc)[:120])
        except ConnectionClosed as exc:
            reason = _closed_reason(exc)
        finally:
            sender.cancel()
            self.clients.pop(client.id, None)
            await self._in_render_thread(self.renderer.remove, client)
            took = max(time.monotonic() - client.joined, 1e-6)
            self.log(
                f"client #{client.id} {reason} ({client.frames} frames, "
                f"{client.frames / took:.1f} fps)"
            )
            client.image = client.outgoing = client.engine = None

    async def _in_render_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _sender(self, ws, client: Client) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                data, client.outgoing = client.outgoing, None
                if data is not None:
                    await ws.send(data)
        except ConnectionClosed:
            pass

    # -- rendering -------------------------------------------------------------------------------
    async def render_loop(self, stop: asyncio.Event) -> None:
        next_report = time.monotonic() + self.opts.report_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), 0.5)
            self._work.clear()
            batch = [c for c in list(self.clients.values()) if c.pending is not None]
            if batch:
                requests = [c.pending for c in batch]
                for c in batch:
                    c.pending = None
                    _copy_params(c.params, c.snapshot)
                frames = await self._in_render_thread(self._render, batch, requests)
                for c, data in zip(batch, frames, strict=True):
                    if c.id not in self.clients:
                        continue
                    if c.outgoing is not None:
                        c.dropped += 1  # the link is slower than the frames: drop the old one
                    c.outgoing = data
                    c.frames += 1
                    c.bytes_out += len(data)
                    c.window[1] += 1
                    c.window[2] += len(data)
                    c.wake.set()
                del batch, frames, c, data  # hold no departed client while waiting
            now = time.monotonic()
            if now >= next_report:
                next_report = now + self.opts.report_s
                self._report(now)

    def _render(self, batch: list[Client], requests) -> list[bytes]:
        started = time.perf_counter()
        self.renderer.render(batch)
        gen_ms = 1000 * (time.perf_counter() - started) / len(batch)
        self.batches = (self.batches + [len(batch)])[-100:]
        out = []
        for c, (seq, t) in zip(batch, requests, strict=True):
            out.append(encode(c.image, c.raw, self.opts.quality, seq, t, gen_ms))
        return out

    def _report(self, now: float) -> None:
        for c in list(self.clients.values()):
            start, frames, nbytes = c.window
            took = max(now - start, 1e-6)
            per = nbytes / frames / 1000 if frames else 0.0
            self.log(
                f"client #{c.id}: {frames / took:.1f} fps, {per:.1f} kB/frame, {c.dropped} dropped"
            )
            c.window[:] = [now, 0, 0]


def _copy_params(src: FrameParams, dst: FrameParams) -> None:
    dst.t, dst.theta, dst.scene_t = src.t, src.theta, src.scene_t
    for name in ("strengths", "masks", "feature_ids", "mix_ids", "mix_weights"):
        np.copyto(getattr(dst, name), getattr(src, name))


def encode(image: np.ndarray, raw: bool, quality: int, seq: int, t: float, gen_ms: float) -> bytes:
    h, w = image.shape[:2]
    if raw:
        return wire.pack_image(wire.RAW, seq, t, gen_ms, w, h, image.data)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return wire.pack_image(wire.JPEG, seq, t, gen_ms, w, h, buf.getbuffer())


def wire_json(**fields) -> str:
    import json

    return json.dumps(fields)


def _peer(conn) -> str:
    addr = getattr(conn, "remote_address", None)
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return "?"


def _closed_reason(exc) -> str:
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is None:
        return "left (connection lost)"
    return "left" + (f" ({rcvd.reason})" if rcvd.reason else "")


# -- running ---------------------------------------------------------------------------------------
def check_options(opts: ServeOptions) -> tuple[str, int, ssl.SSLContext | None]:
    host, port = parse_bind(opts.bind)
    if opts.token is None and not is_loopback(host):
        raise ServeError(
            f"a token is required to serve on {host} (not loopback): make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > token` "
            "and pass --token-file token here and on the client"
        )
    if opts.max_clients < 1:
        raise ServeError("--max-clients must be at least 1")
    if not 16 <= opts.size <= wire.MAX_SIZE:
        raise ServeError(f"--size must be between 16 and {wire.MAX_SIZE}")
    if opts.engine == "sdxl-turbo" and (opts.size % 32 or opts.size < 64):
        raise ServeError("--size for sdxl-turbo must be a multiple of 32, at least 64")
    if (opts.cert is None) != (opts.key is None):
        raise ServeError("--cert and --key go together (wss://)")
    ctx = None
    if opts.cert is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(opts.cert, opts.key)
        except (OSError, ssl.SSLError) as exc:
            raise ServeError(f"--cert/--key: cannot load them ({exc})") from None
    return host, port, ctx


async def serve(
    opts: ServeOptions,
    stop: asyncio.Event,
    log=None,
    renderer: Renderer | None = None,
    on_ready=None,
) -> None:
    """Serve until ``stop`` is set. ``on_ready(port, server)`` once it listens."""
    from websockets.asyncio.server import serve as ws_serve

    host, port, ctx = check_options(opts)
    renderer = renderer or make_renderer(opts)
    server = RemoteServer(opts, renderer, log)
    async with ws_serve(
        server.handler,
        host,
        port,
        process_request=server.process_request,
        compression=None,  # JPEG and raw pixels do not compress
        max_size=MAX_MESSAGE,
        max_queue=4,
        ssl=ctx,
        ping_interval=5,
        ping_timeout=10,
        close_timeout=2,
    ) as ws_server:
        bound = ws_server.sockets[0].getsockname()[1]
        scheme = "wss" if ctx else "ws"
        token = "token required" if opts.token else "no token (loopback only)"
        server.log(
            f"{renderer.name} on {scheme}://{host}:{bound} ({token}, "
            f"up to {opts.max_clients} clients)"
        )
        if on_ready is not None:
            on_ready(bound, server)
        await server.render_loop(stop)
    server._pool.shutdown(wait=False)


class ServerThread:
    """A server on its own event loop in a background thread (tests, the bench)."""

    def __init__(self, opts: ServeOptions, log=None, renderer: Renderer | None = None) -> None:
        self.opts, self.port, self.server = opts, None, None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = None
        self._log = log or (lambda line: None)
        self._renderer = renderer
        self._thread = threading.Thread(target=self._run, name="hambajuba-serve", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()

        def ready(port, server):
            self.port, self.server = port, server
            self._ready.set()

        try:
            self._loop.run_until_complete(
                serve(self.opts, self._stop, self._log, self._renderer, ready)
            )
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    def start(self, timeout: float = 60.0) -> ServerThread:
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            raise self._error
        return self

    @property
    def url(self) -> str:
        host, _ = parse_bind(self.opts.bind)
        return f"{'wss' if self.opts.cert else 'ws'}://{host}:{self.port}"

    def call(self, fn):
        """Run ``fn()`` on the server's loop and return its result."""
        fut = concurrent.futures.Future()

        def run():
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(10)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run(opts: ServeOptions) -> int:
    """``hambajuba serve``: serve until interrupted."""
    check_options(opts)

    async def main():
        stop = asyncio.Event()
        await serve(opts, stop)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("hambajuba serve: stopped", file=sys.stderr)
    return 0


__all__ = ["RemoteServer", "ServeError", "ServeOptions", "ServerThread", "run", "serve"]
