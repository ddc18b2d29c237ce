"""The remote engine's messages: packed FrameParams up, frames down, over one WebSocket.

Binary messages start with a version byte and a kind byte; every size is fixed per kind and
checked exactly (:class:`WireError` otherwise). Text messages are small JSON objects with a
``type``. Per frame the client sends only the changing scalars: a *step* (:data:`STEP`, 54 bytes);
masks, feature ids, scenes and the seed go only when they change.

Client → server
  text   ``{"type": "hello", "v": 1, "width", "height", "seed", "scenes": [a, b], "raw"}``
  text   ``{"type": "seed", "seed": n}`` · ``{"type": "scenes", "a": str|null, "b": str|null}``
  binary STEP     seq u32, media time f64, theta, scene_t, strengths[4], mix weights[4]
  binary MASKS    float32 [4, 16, 16]
  binary FEATURES feature ids int32[4], mix ids int32[4]
Server → client
  text   ``{"type": "ready", "v": 1, "engine", "width", "height"}``
  binary IMAGE    seq u32, media time f64, generation ms f32, width u16, height u16, then a
                  JPEG (kind JPEG) or raw uint8 RGB rows (kind RAW)

Torch-free (the TUI process may import it).
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.vocab import BLOCKS, MASK_SIZE

VERSION = 1
STEP, MASKS, FEATURES = 1, 2, 3
"""Kinds of client message: a step (the per-frame steering scalars; a request to render),
the masks, the feature ids. (A *frame* is always a picture.)"""
JPEG, RAW = 0x81, 0x82

N = len(BLOCKS)
_HEAD = struct.Struct("<BB")
_STEP = struct.Struct(f"<BBId2f{N}f{N}f")
_FEATURES = struct.Struct(f"<BB{N}i{N}i")
_IMAGE = struct.Struct("<BBIdfHH")
MASK_BYTES = N * MASK_SIZE * MASK_SIZE * 4

MAX_PROMPT = 1000
"""Characters per scene prompt."""
MAX_TEXT = 4096
"""Bytes per text message."""
MAX_UP = _HEAD.size + MASK_BYTES
"""The largest client → server message (the masks); the server refuses anything larger."""
MIN_SIZE, MAX_SIZE = 16, 2048
MAX_SEED = 2**32 - 1


class WireError(ValueError):
    """A message that is not what the protocol says: the connection is closed."""


# -- client side ---------------------------------------------------------------------------------
def pack_step(seq: int, params: FrameParams) -> bytes:
    return _STEP.pack(
        VERSION,
        STEP,
        seq & 0xFFFFFFFF,
        float(params.t),
        float(params.theta),
        float(params.scene_t),
        *np.asarray(params.strengths, np.float32).tolist(),
        *np.asarray(params.mix_weights, np.float32).tolist(),
    )


def pack_masks(masks: np.ndarray) -> bytes:
    m = np.ascontiguousarray(masks, dtype="<f4").reshape(N, MASK_SIZE, MASK_SIZE)
    return _HEAD.pack(VERSION, MASKS) + m.tobytes()


def pack_features(feature_ids: np.ndarray, mix_ids: np.ndarray) -> bytes:
    ids = np.asarray(feature_ids, np.int64).tolist() + np.asarray(mix_ids, np.int64).tolist()
    clipped = [max(-(2**31), min(2**31 - 1, int(i))) for i in ids]
    return _FEATURES.pack(VERSION, FEATURES, *clipped)


def hello(width: int, height: int, seed: int, scenes, raw: bool) -> str:
    return json.dumps(
        {
            "type": "hello",
            "v": VERSION,
            "width": int(width),
            "height": int(height),
            "seed": int(seed),
            "scenes": list(scenes),
            "raw": bool(raw),
        }
    )


def unpack_image(data: bytes) -> tuple[int, int, float, float, int, int, memoryview]:
    """(kind, seq, media time, generation ms, width, height, payload) of an IMAGE message."""
    if len(data) < _IMAGE.size:
        raise WireError(f"image message of {len(data)} bytes is shorter than its header")
    version, kind, seq, t, gen_ms, w, h = _IMAGE.unpack_from(data)
    if version != VERSION or kind not in (JPEG, RAW):
        raise WireError(f"unknown image message (version {version}, kind {kind:#x})")
    payload = memoryview(data)[_IMAGE.size :]
    if kind == RAW and len(payload) != w * h * 3:
        raise WireError(f"raw frame of {len(payload)} bytes is not {w}×{h}×3")
    return kind, seq, t, gen_ms, w, h, payload


# -- server side ---------------------------------------------------------------------------------
def pack_image(kind: int, seq: int, t: float, gen_ms: float, w: int, h: int, payload) -> bytes:
    return _IMAGE.pack(VERSION, kind, seq, t, gen_ms, w, h) + bytes(payload)


def _finite(x: float, default: float = 0.0) -> float:
    return x if math.isfinite(x) else default


def apply_binary(data: bytes, params: FrameParams) -> tuple[int, float] | None:
    """Apply one binary client message to ``params`` (in place). Returns (seq, media time) for a
    STEP (a request to render), None for MASKS / FEATURES. Raises WireError on anything else."""
    if len(data) < _HEAD.size:
        raise WireError(f"binary message of {len(data)} bytes")
    version, kind = _HEAD.unpack_from(data)
    if version != VERSION:
        raise WireError(f"protocol version {version}, this server speaks {VERSION}")
    if kind == STEP:
        if len(data) != _STEP.size:
            raise WireError(f"step message of {len(data)} bytes, expected {_STEP.size}")
        v = _STEP.unpack(data)
        seq, t, theta, scene_t = v[2], v[3], v[4], v[5]
        if not math.isfinite(t):
            raise WireError("step media time is not a number")
        params.t, params.theta, params.scene_t = t, _finite(theta), _finite(scene_t)
        params.strengths[:] = v[6 : 6 + N]
        params.mix_weights[:] = v[6 + N : 6 + 2 * N]
        return seq, t
    if kind == MASKS:
        if len(data) != MAX_UP:
            raise WireError(f"masks message of {len(data)} bytes, expected {MAX_UP}")
        masks = np.frombuffer(data, "<f4", offset=_HEAD.size).reshape(N, MASK_SIZE, MASK_SIZE)
        params.masks[:] = masks  # engines treat non-finite mask values as zero
        return None
    if kind == FEATURES:
        if len(data) != _FEATURES.size:
            raise WireError(f"features message of {len(data)} bytes, expected {_FEATURES.size}")
        v = _FEATURES.unpack(data)
        params.feature_ids[:] = v[2 : 2 + N]
        params.mix_ids[:] = v[2 + N : 2 + 2 * N]
        return None
    raise WireError(f"unknown message kind {kind}")


def parse_text(text: str) -> dict:
    """A client's JSON control message, checked: hello, seed or scenes."""
    if len(text) > MAX_TEXT:
        raise WireError(f"text message of {len(text)} characters")
    try:
        msg = json.loads(text)
    except ValueError:
        raise WireError("text message is not JSON") from None
    if not isinstance(msg, dict):
        raise WireError("text message is not a JSON object")
    kind = msg.get("type")
    if kind == "hello":
        if msg.get("v") != VERSION:
            raise WireError(f"client speaks protocol {msg.get('v')!r}, this server {VERSION}")
        for key in ("width", "height"):
            _int(msg, key, MIN_SIZE, MAX_SIZE)
        _int(msg, "seed", 0, MAX_SEED)
        _scenes(msg.get("scenes"))
        if not isinstance(msg.get("raw", False), bool):
            raise WireError("hello: raw must be true or false")
    elif kind == "seed":
        _int(msg, "seed", 0, MAX_SEED)
    elif kind == "scenes":
        _scenes([msg.get("a"), msg.get("b")])
    else:
        raise WireError(f"unknown control message {kind!r}")
    return msg


def _int(msg: dict, key: str, lo: int, hi: int) -> int:
    v = msg.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise WireError(f"{msg.get('type')}: {key} must be a whole number {lo}..{hi}")
    return v


def _scenes(scenes) -> None:
    if not isinstance(scenes, list) or len(scenes) != 2:
        raise WireError("scenes must be two prompts (or null)")
    for s in scenes:
        if s is not None and (not isinstance(s, str) or len(s) > MAX_PROMPT):
            raise WireError(f"a scene prompt must be text of at most {MAX_PROMPT} characters")


__all__ = [
    "FEATURES",
    "JPEG",
    "MASKS",
    "MAX_UP",
    "RAW",
    "STEP",
    "VERSION",
    "WireError",
    "apply_binary",
    "hello",
    "pack_features",
    "pack_image",
    "pack_masks",
    "pack_step",
    "parse_text",
    "unpack_image",
]
