"""The remote engine: the Engine protocol over a WebSocket to ``hambajuba serve``.

It runs inside the engine worker, like any engine; the conductor stays local (the song and its
analysis never leave this machine). Per ``generate`` it sends the packed FrameParams and media
time (:mod:`wire`), masks and feature ids only when they changed, and writes the newest frame
that has arrived — up to ``max_in_flight`` requests are pipelined, so the frame rate is not
1 / round trip. The worker's lookahead adds :meth:`latency` (the measured round trip, which
includes the server's generation time), so frames land when their moment is heard; a frame
that arrives later than one interval after its moment is dropped, never queued.

If the server goes away (connection closed, or no answer for :data:`LOST_AFTER_S`) it says so
and renders with the local preview engine from the next frame on, while a background thread
reconnects with backoff. A refusal (wrong token, server full, bad hello) raises
:class:`RemoteRefused` with the server's reason.

A ``websockets`` sync client: the receiving thread decodes frames (JPEG through Pillow's
libjpeg-turbo, or raw RGB on loopback) while the worker thread sends. Torch-free.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import math
import os
import ssl
import threading
import time
from urllib.parse import urlsplit

import numpy as np

from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.engine import wire
from hambajuba_tui.engine.protocol import Engine, Link

LOST_AFTER_S = 0.75
"""No frame back for this long (or three smoothed round trips, if longer) while requests are out:
the server is gone (fall back). A killed server is noticed at once: its connection closes."""
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Waits between reconnection attempts (the last repeats)."""
CONNECT_TIMEOUT_S = 3.0
MAX_DOWN = wire.MAX_SIZE * wire.MAX_SIZE * 3 + 64
"""The largest image message accepted from the server."""
SCHEMES = ("ws://", "wss://")


class RemoteRefused(RuntimeError):
    """The server answered and said no (token, capacity, size): retrying will not help."""


def is_remote(engine: str) -> bool:
    return engine.startswith(SCHEMES)


def _loopback(host: str) -> bool:
    from hambajuba_tui.server import is_loopback

    return is_loopback(host)


class RemoteEngine(Engine):
    def __init__(
        self,
        url: str,
        width: int,
        height: int,
        seed: int = 0,
        token: str | None = None,
        now=None,
        interval: float = 1.0 / 30.0,
        raw: bool | None = None,
        max_in_flight: int = 4,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"remote engine address must be ws://HOST:PORT or wss://, got {url}")
        self.url, self.host = url, parts.netloc
        self.width, self.height, self.seed = int(width), int(height), int(seed)
        self.token = token
        self.interval = float(interval)
        if raw is None:  # raw pixels on loopback, unless told (an SSH tunnel is loopback too)
            frames = os.environ.get("HAMBAJUBA_REMOTE_FRAMES", "auto")
            raw = frames == "raw" or (frames != "jpeg" and _loopback(parts.hostname))
        self.raw = bool(raw)
        self.max_in_flight = int(max_in_flight)
        self.connect_timeout = connect_timeout
        self._now = now
        self._scenes: tuple[str | None, str | None] = (None, None)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._ws = None
        self._server_engine = "?"
        self._inflight: dict[int, tuple[float, float]] = {}
        self._latest: tuple[float, np.ndarray] | None = None
        self._seq = 0
        self._sent_masks: np.ndarray | None = None
        self._sent_features: np.ndarray | None = None
        self._local = None
        self._reconnector: threading.Thread | None = None
        self._news: list[str] = []
        self._rtt_s = 0.0
        self.rtts: collections.deque[float] = collections.deque(maxlen=2000)
        """Round trips (s) of the frames received, newest last."""
        self.counts = collections.Counter()
        """sent, received, bytes_in, late (dropped), superseded (dropped), fallbacks, reconnects."""
        try:
            self._connect()
        except RemoteRefused:
            raise
        except Exception as exc:
            self._lost(None, f"cannot reach {self.host} ({_why(exc)})")

    # -- the Engine protocol -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        if self._ws is not None:
            return f"{self._server_engine} @ {self.host}"
        return f"preview (local; {self.host} lost)"

    def latency(self) -> float:
        return self._rtt_s if self._ws is not None else 0.0

    def link(self) -> Link:
        with self._lock:
            recent = list(self.rtts)[-30:]
            in_flight = len(self._inflight)
        rtt = 1000 * float(np.median(recent)) if recent else 0.0
        return Link(self.host, rtt, in_flight, self._ws is not None)

    def news(self) -> list[str]:
        with self._lock:
            out, self._news = self._news, []
        return out

    def reseed(self, seed: int) -> None:
        self.seed = int(seed)
        if self._local is not None:
            self._local.reseed(self.seed)
        self._send_text(json.dumps({"type": "seed", "seed": self.seed}))

    def set_scenes(self, prompt_a: str | None = None, prompt_b: str | None = None) -> None:
        if (prompt_a, prompt_b) == self._scenes:
            return
        self._scenes = (prompt_a, prompt_b)
        if self._local is not None:
            self._local.set_scenes(prompt_a, prompt_b)
        self._send_text(json.dumps({"type": "scenes", "a": prompt_a, "b": prompt_b}))

    def close(self) -> None:
        self._closing.set()
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()
        if self._reconnector is not None:
            self._reconnector.join(2.0)

    def generate(self, params: FrameParams, out: np.ndarray) -> float | None:
        ws = self._ws
        if ws is None:
            return self._local_engine().generate(params, out)
        sent_at = time.monotonic()
        with self._lock:
            oldest = min((s for _, s in self._inflight.values()), default=sent_at)
            in_flight = len(self._inflight)
        lost_after = max(LOST_AFTER_S, 3 * self._rtt_s)  # a slow server is not a lost one
        if sent_at - oldest > lost_after:
            self._lost(ws, f"no frame from {self.host} for {lost_after:.2f} s")
            return self._local_engine().generate(params, out)
        if in_flight < self.max_in_flight:
            try:
                self._send_params(ws, params, sent_at)
            except Exception as exc:
                self._lost(ws, f"lost {self.host} ({_why(exc)})")
                return self._local_engine().generate(params, out)
        deadline = sent_at + 0.5 * self.interval
        with self._arrived:
            while self._latest is None and self._inflight and self._ws is ws:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            got, self._latest = self._latest, None
        if got is None:
            return None
        t, image = got
        now = self._now() if self._now is not None else None
        if now is not None and (now > t + self.interval or t > now + 5.0):
            self.counts["late"] += 1  # arrived too late to be seen (or before a seek): dropped
            return None
        if image.shape[:2] != out.shape[:2]:
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((out.shape[1], out.shape[0])))
        np.copyto(out, image)
        return t

    # -- sending -----------------------------------------------------------------------------------
    def _send_params(self, ws, params: FrameParams, sent_at: float) -> None:
        if self._sent_masks is None or not np.array_equal(self._sent_masks, params.masks):
            ws.send(wire.pack_masks(params.masks))
            self._sent_masks = np.array(params.masks, np.float32)
        features = np.concatenate([params.feature_ids, params.mix_ids]).astype(np.int64)
        if self._sent_features is None or not np.array_equal(self._sent_features, features):
            ws.send(wire.pack_features(params.feature_ids, params.mix_ids))
            self._sent_features = features
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        with self._lock:
            self._inflight[self._seq] = (float(params.t), sent_at)
        ws.send(wire.pack_step(self._seq, params))
        self.counts["sent"] += 1

    def _send_text(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(text)
        except Exception as exc:
            self._lost(ws, f"lost {self.host} ({_why(exc)})")

    # -- connecting --------------------------------------------------------------------------------
    def _connect(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        ctx = None
        if self.url.startswith("wss://"):
            ctx = ssl.create_default_context(cafile=os.environ.get("HAMBAJUBA_CA_FILE") or None)
        try:
            ws = connect(  # entered at once: the connection lives as long as it is up
                self.url,
                additional_headers=headers,
                compression=None,
                max_size=MAX_DOWN,
                open_timeout=self.connect_timeout,
                close_timeout=1.0,
                ssl=ctx,
            ).__enter__()
        except ssl.SSLCertVerificationError as exc:
            raise RemoteRefused(
                f"{self.host}: the server's certificate is not trusted ({exc.verify_message}); "
                "for a self-signed one set HAMBAJUBA_CA_FILE=cert.pem"
            ) from None
        except InvalidStatus as exc:
            body = exc.response.body.decode("utf-8", "replace").strip()
            body = body.removeprefix("hambajuba serve: ")
            raise RemoteRefused(
                f"{self.host} refused the connection: {body or exc.response.status_code}"
            ) from None
        import socket

        with contextlib.suppress(OSError):  # small requests must not wait for Nagle
            ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            ws.send(wire.hello(self.width, self.height, self.seed, self._scenes, self.raw))
            ready = json.loads(ws.recv(timeout=self.connect_timeout))
        except ConnectionClosed as exc:
            ws.close()
            reason = exc.rcvd.reason if exc.rcvd is not None else "connection closed"
            raise RemoteRefused(f"{self.host} refused the connection: {reason}") from None
        except Exception:
            ws.close()
            raise
        if not isinstance(ready, dict) or ready.get("type") != "ready":
            ws.close()
            raise RemoteRefused(f"{self.host} is not a hambajuba server")
        self._server_engine = str(ready.get("engine", "?"))[:40]
        with self._lock:
            self._inflight.clear()
            self._latest = None
            self._sent_masks = self._sent_features = None
            self._ws = ws
        threading.Thread(
            target=self._receive, args=(ws,), name="hambajuba-remote-recv", daemon=True
        ).start()

    def _receive(self, ws) -> None:
        from PIL import Image

        reason = f"lost {self.host}"
        try:
            for msg in ws:
                if isinstance(msg, str):
                    continue
                kind, seq, t, _gen_ms, w, h, payload = wire.unpack_image(msg)
                if kind == wire.RAW:
                    image = np.frombuffer(payload, np.uint8).reshape(h, w, 3)
                else:
                    image = np.asarray(Image.open(io.BytesIO(payload)).convert("RGB"))
                arrived = time.monotonic()
                with self._arrived:
                    sent = self._inflight.pop(seq, None)
                    if sent is None:
                        continue
                    skipped = [k for k in self._inflight if k < seq]
                    for k in skipped:  # the server answers in order: these were replaced there
                        del self._inflight[k]
                    self.counts["skipped"] += len(skipped)
                    rtt = arrived - sent[1]
                    self.rtts.append(rtt)
                    self._rtt_s += 0.2 * (rtt - self._rtt_s) if self._rtt_s else rtt
                    self.counts["received"] += 1
                    self.counts["bytes_in"] += len(msg)
                    if self._latest is not None:
                        self.counts["superseded"] += 1
                    self._latest = (t, image)
                    self._arrived.notify_all()
        except Exception as exc:
            reason = f"lost {self.host} ({_why(exc)})"
        if not self._closing.is_set():
            self._lost(ws, reason)

    def _lost(self, ws, reason: str) -> None:
        """Fall back to the local preview (once per connection) and start reconnecting."""
        with self._arrived:
            if ws is not None and self._ws is not ws:
                return  # already handled
            self._ws = None
            self._inflight.clear()
            self._latest = None
            self._arrived.notify_all()
            if self._closing.is_set():
                return
            self.counts["fallbacks"] += 1
            self._news.append(f"{reason}; running the local preview engine, reconnecting")
            start = self._reconnector is None or not self._reconnector.is_alive()
        if ws is not None:
            threading.Thread(target=ws.close, daemon=True).start()
        if start:
            self._reconnector = threading.Thread(
                target=self._reconnect, name="hambajuba-remote-reconnect", daemon=True
            )
            self._reconnector.start()

    def _reconnect(self) -> None:
        for attempt in range(1_000_000):
            if self._closing.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]):
                return
            try:
                self._connect()
            except RemoteRefused as exc:
                with self._lock:
                    self._news.append(f"{exc}; staying on the local preview engine")
                return
            except Exception:
                continue
            self.counts["reconnects"] += 1
            with self._lock:
                self._news.append(f"reconnected to {self.host}: engine {self.name}")
            return

    def _local_engine(self):
        if self._local is None:
            from hambajuba_tui.engine.preview import PreviewEngine

            self._local = PreviewEngine(self.width, self.height, self.seed)
            self._local.set_scenes(*self._scenes)
        return self._local


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def round_trip_stats(rtts) -> dict:
    a = np.asarray(list(rtts), float) * 1000
    if not len(a):
        return {"p50": math.nan, "p95": math.nan}
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
    }


__all__ = ["RemoteEngine", "RemoteRefused", "is_remote", "round_trip_stats"]
