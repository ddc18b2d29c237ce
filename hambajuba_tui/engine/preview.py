"""The preview engine: FrameParams → pixels on the CPU, with numpy only and no weights.

It renders the same frame params the SDXL-Turbo engine consumes, so every machine without a
GPU still dances (DESIGN.md, "The engine", "Preview engine"):

- composition: ``latent = cos θ · noise_a + sin θ · noise_b`` over two seeded, smooth
  4-channel latents (band-limited Fourier noise, defined in image coordinates so a seed looks
  the same at every size);
- steering: each (block, feature id) maps to a deterministic latent-space direction, a pattern
  whose character follows its block (``down.2.1`` broad composition and mood, ``mid.0``
  spatial structure, ``up.0.0`` local detail, ``up.0.1`` texture and palette), added weighted
  by ``strength × mask`` (masks upsampled from 16×16); strengths saturate softly, so any finite
  value — and non-finite garbage — gives a valid frame;
- scenes: ``scene_t`` blends two palettes (scene A and B latent→RGB mappings);
- decode: a linear 3×4 latent→RGB map, ``tanh`` to 0..255, and a separable cubic B-spline
  upsample done as two matrix products precomputed at construction.

The per-frame path works at latent resolution (H/4 × W/4) except for the final upsample, and
writes only into buffers allocated in ``__init__``.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import numpy as np

from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.engine.protocol import Engine
from hambajuba_tui.vocab import BLOCKS, MASK_SIZE

LATENT_CHANNELS = 4

LATENT_DIVISOR = 4
"""The latent grid is the image size / 4 (SDXL uses / 8; the preview has no UNet to add detail)."""

MIN_LATENT = 16
MAX_LATENT = 128

NOISE_MAX_FREQ = 7
"""Highest spatial frequency of the seed noise, in cycles per image."""

STRENGTH_KNEE = 20.0
"""Strengths saturate as ``KNEE · tanh(s / KNEE)``: near-linear over the typical 0–10 range,
compressed towards ±30, bounded for anything larger."""

BLOCK_GAIN = np.array([0.16, 0.11, 0.13, 0.10], np.float32)
"""Latent units added per SAE unit of strength, per block (noise has unit variance)."""

RELIEF_TINT = np.array([0.40, 0.34, 0.26], np.float32)
"""Gain of the relief (directional derivative of latent channel 0) on R, G, B: warm light."""

MASK_LIMIT = 4.0
"""Mask weights are clipped to ±this (masks are meant to be 0..1)."""

PATTERN_CACHE_SIZE = 64
"""Direction patterns kept per engine (each 4 × latent pixels of float32)."""


# Scene palettes: latent→RGB maps, given as the RGB direction each latent channel moves the
# colour in (channel 0 reads as light, 1 as the scene's main colour axis, 2 a secondary axis,
# 3 an accent) plus the scene's base colour. Values are pre-tanh (the decode is
# 0.5 + 0.5·tanh), so ±0.3 is a clear but unsaturated move.
def _palette(base, light, axis1, axis2, accent) -> tuple[np.ndarray, np.ndarray]:
    m = np.array([light, axis1, axis2, accent], np.float32).T  # [3 RGB, 4 latent channels]
    m[:, 1:] *= 0.7  # colour moves a little less than light: scenes keep their palette
    return np.ascontiguousarray(m), np.array(base, np.float32)


_PALETTE_A = _palette(  # dusk: violet shadows, rose light, amber highlights
    base=(0.22, -0.28, 0.05),
    light=(0.34, 0.30, 0.24),
    axis1=(0.36, 0.14, -0.30),  # violet ↔ amber
    axis2=(0.16, -0.20, 0.12),  # rose ↔ olive
    accent=(-0.10, 0.08, 0.22),
)
_PALETTE_B = _palette(  # lagoon: cobalt depths, teal water, sea-green and foam
    base=(-0.38, 0.05, 0.22),
    light=(0.26, 0.33, 0.34),
    axis1=(-0.06, 0.28, -0.20),  # cobalt ↔ sea-green
    axis2=(0.12, -0.08, 0.25),  # teal ↔ lilac
    accent=(0.22, 0.12, -0.12),
)


def _bspline_matrix(n_out: int, n_in: int) -> np.ndarray:
    """[n_out, n_in] cubic B-spline resampling matrix, pixel centres aligned, edges clamped.

    Weights are non-negative and each row sums to 1, so the result of resampling values in
    [lo, hi] stays in [lo, hi]: the decode relies on this to cast to uint8 without clipping.
    """
    m = np.zeros((n_out, n_in), np.float64)
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(pos).astype(np.int64)
    t = pos - base
    weights = (
        (1 - t) ** 3 / 6,
        (3 * t**3 - 6 * t**2 + 4) / 6,
        (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
        t**3 / 6,
    )
    rows = np.arange(n_out)
    for k, w in enumerate(weights):
        np.add.at(m, (rows, np.clip(base - 1 + k, 0, n_in - 1)), w)
    m /= m.sum(axis=1, keepdims=True)
    return m.astype(np.float32)


def _linear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """[n_out, n_in] bilinear resampling matrix (for masks: exact at mask cell centres)."""
    m = np.zeros((n_out, n_in), np.float64)
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    t = pos - lo
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1 - t)
    np.add.at(m, (rows, hi), t)
    return m.astype(np.float32)


def _latent_size(n: int) -> int:
    return int(min(MAX_LATENT, max(MIN_LATENT, math.ceil(n / LATENT_DIVISOR))))


def _rng(*key: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``key`` (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _fourier_noise(rng: np.random.Generator, lh: int, lw: int, channels: int) -> np.ndarray:
    """Smooth periodic noise [channels, lh, lw], unit variance per channel.

    Random complex coefficients on a fixed frequency grid (±NOISE_MAX_FREQ cycles per image),
    shaped by a soft 1/f spectrum and evaluated at the grid's pixel centres: the same seed gives
    the same picture at every resolution.
    """
    f = NOISE_MAX_FREQ
    k = np.arange(-f, f + 1)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    radius = np.hypot(ky, kx)
    # channel 0 (read as light by the palettes) carries more detail than the colour channels
    corner = np.array([1.3] + [0.9] * (channels - 1))[:, None, None]
    power = np.array([1.0] + [1.3] * (channels - 1))[:, None, None]
    envelope = 1.0 / (1.0 + (radius / corner) ** 2) ** power
    envelope[:, radius > f + 0.5] = 0.0  # round band limit: no square-grid bias
    envelope[:, f, f] = 0.0  # no DC: the mean colour comes from the palette
    coeffs = rng.standard_normal((channels, 2 * f + 1, 2 * f + 1, 2)) @ np.array([1.0, 1j])
    coeffs *= envelope
    v = (np.arange(lh) + 0.5) / lh
    u = (np.arange(lw) + 0.5) / lw
    ey = np.exp(2j * np.pi * np.outer(v, k))  # [lh, K]
    ex = np.exp(2j * np.pi * np.outer(k, u))  # [K, lw]
    field = np.real(ey @ coeffs @ ex)  # [channels, lh, lw]
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-12
    return field.astype(np.float32)


def _unit(rng: np.random.Generator, n: int = LATENT_CHANNELS) -> np.ndarray:
    v = rng.standard_normal(n)
    return v / (np.linalg.norm(v) + 1e-12)


def _blobs(
    rng: np.random.Generator,
    u: np.ndarray,
    v: np.ndarray,
    count: int,
    sigma: tuple[float, float],
    signed: bool = True,
) -> list[np.ndarray]:
    """``count`` Gaussian blobs (wrapped at the edges), one array per blob."""
    out = []
    for _ in range(count):
        cy, cx = rng.uniform(0.1, 0.9, 2)
        s = rng.uniform(*sigma)
        dy = (v - cy + 0.5) % 1.0 - 0.5
        dx = (u - cx + 0.5) % 1.0 - 0.5
        amp = rng.choice([-1.0, 1.0]) if signed else 1.0
        out.append(amp * np.exp(-(dy**2 + dx**2) / (2 * s * s)))
    return out


def _grating(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, freq: float) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * freq * (np.cos(angle) * u + np.sin(angle) * v) + phase)


def _pattern(block: int, feature_id: int, lh: int, lw: int) -> np.ndarray:
    """The latent direction [4, lh, lw] for one (block, feature): RMS 1, deterministic.

    Each block has its own character, loosely after what its SAE features do in SDXL-Turbo.
    """
    rng = _rng("preview-direction", block, int(feature_id))
    v, u = np.meshgrid((np.arange(lh) + 0.5) / lh, (np.arange(lw) + 0.5) / lw, indexing="ij")
    nyquist = 0.4 * min(lh, lw)
    c1, c2 = _unit(rng), _unit(rng)
    if block == 0:  # down.2.1: composition and mood — a colour wash over broad shapes
        kind = rng.integers(3)
        if kind == 0:  # a few broad blobs
            shape = sum(_blobs(rng, u, v, int(rng.integers(2, 4)), (0.14, 0.3)))
        elif kind == 1:  # a soft horizon
            a = rng.uniform(-0.6, 0.6) + (np.pi / 2 if rng.random() < 0.25 else 0.0)
            d = -np.sin(a) * (u - 0.5) + np.cos(a) * (v - rng.uniform(0.35, 0.65))
            shape = np.tanh(d * rng.uniform(5, 12))
        else:  # a centre of attention (or a vignette)
            r2 = (u - rng.uniform(0.35, 0.65)) ** 2 + (v - rng.uniform(0.35, 0.65)) ** 2
            shape = np.exp(-r2 / (2 * rng.uniform(0.15, 0.3) ** 2)) * rng.choice([-1.0, 1.0])
        shape = shape / (np.abs(shape).max() + 1e-9)
        p = c1[:, None, None] * (1.0 + 0.5 * shape) + 0.5 * c2[:, None, None] * shape
    elif block == 1:  # mid.0: spatial structure — rings, stripes, spokes, lattices, mirrors
        kind = rng.integers(5)
        cy, cx = rng.uniform(0.3, 0.7, 2)
        dy, dx = v - cy, u - cx
        phase = rng.uniform(0, 2 * np.pi)
        if kind == 0:
            shape = np.sin(2 * np.pi * rng.uniform(2.5, 5.5) * np.hypot(dy, dx) + phase)
        elif kind == 1:
            shape = _grating(rng, u, v, rng.uniform(2, 5))
        elif kind == 2:
            spokes = np.sin(int(rng.integers(3, 9)) * np.arctan2(dy, dx) + phase)
            r2 = dy**2 + dx**2
            shape = spokes * np.exp(-r2 / 0.12) * (1 - np.exp(-r2 / 0.004))  # no pinch
        elif kind == 3:
            f = rng.uniform(2, 4.5)
            shape = np.sin(2 * np.pi * f * u + phase) * np.sin(2 * np.pi * f * v + phase)
        else:  # mirror symmetry about the vertical axis
            mirrored = np.abs(u - 0.5) + 0.5
            shape = sum(_blobs(rng, mirrored, v, int(rng.integers(3, 6)), (0.05, 0.12)))
        shape = shape / (np.abs(shape).max() + 1e-9)
        p = c1[:, None, None] * shape + 0.5 * c2[:, None, None] * shape**2
    elif block == 2:  # up.0.0: local detail — many small objects, each its own colour
        p = np.zeros((LATENT_CHANNELS, lh, lw))
        ring = rng.random() < 0.35
        for blob in _blobs(rng, u, v, int(rng.integers(8, 20)), (0.025, 0.06), signed=False):
            if ring:  # small rings ("eyes", bubbles) instead of dots
                blob = blob * (1 - blob) * 4
            p += _unit(rng)[:, None, None] * blob
        p += 0.3 * c1[:, None, None]
    else:  # up.0.1: texture and palette — a palette shift carrying a fine weave
        freqs = rng.uniform(5, 11, int(rng.integers(2, 4)))
        weave = sum(_grating(rng, u, v, min(f, nyquist)) for f in freqs) / len(freqs)
        patches = sum(_blobs(rng, u, v, int(rng.integers(2, 5)), (0.12, 0.25), signed=False))
        shape = weave * (0.35 + patches / (patches.max() + 1e-9))
        p = c1[:, None, None] + 0.45 * c2[:, None, None] * shape
    p = np.asarray(p, np.float64)
    p /= np.sqrt(np.mean(p**2)) + 1e-12
    return np.ascontiguousarray(p, np.float32)


def _scene_palette(prompt: str) -> tuple[np.ndarray, np.ndarray]:
    """A palette (matrix [3, 4], bias [3]) derived from a prompt's text, deterministically."""
    rng = _rng("preview-scene", prompt)
    base_m, base_b = _PALETTE_A if rng.random() < 0.5 else _PALETTE_B
    m = base_m.astype(np.float64).copy()
    # rotate the chroma part (R, G, B around the grey axis) by a prompt-specific hue angle
    a = rng.uniform(0, 2 * np.pi)
    g = np.ones(3) / np.sqrt(3)
    k = np.array([[0, -g[2], g[1]], [g[2], 0, -g[0]], [-g[1], g[0], 0]])
    rot = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)
    m = rot @ m
    b = rot @ base_b + rng.normal(0, 0.1, 3)
    return m.astype(np.float32), b.astype(np.float32)


class PreviewEngine(Engine):
    """CPU engine: renders FrameParams with numpy, no model weights (labelled "preview")."""

    name = "preview"

    def __init__(self, width: int = 256, height: int = 256, seed: int = 0) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        self.width = int(width)
        self.height = int(height)
        self.seed = int(seed)
        lh, lw = _latent_size(self.height), _latent_size(self.width)
        self.latent_shape = (LATENT_CHANNELS, lh, lw)
        n_lat = lh * lw

        # composition: the two ends of the noise circle
        self._noise_a = _fourier_noise(_rng("preview-noise", self.seed, "a"), lh, lw, 4)
        self._noise_b = _fourier_noise(_rng("preview-noise", self.seed, "b"), lh, lw, 4)

        # resampling matrices: masks 16 → latent (bilinear), latent → image (cubic B-spline)
        self._mask_up_y = _linear_matrix(lh, MASK_SIZE)  # [lh, 16]
        self._mask_up_xt = np.ascontiguousarray(_linear_matrix(lw, MASK_SIZE).T)  # [16, lw]
        self._img_up_y = _bspline_matrix(self.height, lh)  # [H, lh]
        self._img_up_xt = np.ascontiguousarray(_bspline_matrix(self.width, lw).T)  # [lw, W]

        # scene palettes (A at scene_t = 0, B at 1)
        self._pal_a = (_PALETTE_A[0].copy(), _PALETTE_A[1].copy())
        self._pal_b = (_PALETTE_B[0].copy(), _PALETTE_B[1].copy())

        # direction patterns, built on first use of a (block, feature id)
        self._patterns: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

        # per-frame work buffers: nothing frame-sized is allocated after this point
        f32 = np.float32
        self._latent = np.empty((LATENT_CHANNELS, lh, lw), f32)
        self._lat_tmp = np.empty((LATENT_CHANNELS, lh, lw), f32)
        self._masks = np.empty((len(BLOCKS), MASK_SIZE, MASK_SIZE), f32)
        self._mask_tmp = np.empty((lh, MASK_SIZE), f32)
        self._mask_lat = np.empty((lh, lw), f32)
        self._mix_lat = np.empty((lh, lw), f32)
        self._pal_m = np.empty((3, LATENT_CHANNELS), f32)
        self._pal_m_tmp = np.empty((3, LATENT_CHANNELS), f32)
        self._pal_b_mix = np.empty(3, f32)
        self._relief = np.empty((lh, lw), f32)
        self._rgb_row = np.empty(n_lat, f32)
        # relief gain per RGB channel, scaled so a feature looks the same at every latent size
        self._relief_tint = (RELIEF_TINT * (min(lh, lw) / 64.0)).astype(np.float32)
        self._rgb_lat = np.empty((3, n_lat), f32)  # decoded colours at latent resolution
        self._rgb_wide = np.empty((3, lh, self.width), f32)  # after the horizontal pass
        self._rgb_wide_hwc = np.empty((lh, self.width, 3), f32)
        self._frame = np.empty((self.height, self.width * 3), f32)  # after the vertical pass

    # ----------------------------------------------------------------------------------------
    def reseed(self, seed: int) -> None:
        """New seed noise, copied into the noise buffers in place."""
        self.seed = int(seed)
        lh, lw = self.latent_shape[1:]
        self._noise_a[...] = _fourier_noise(_rng("preview-noise", self.seed, "a"), lh, lw, 4)
        self._noise_b[...] = _fourier_noise(_rng("preview-noise", self.seed, "b"), lh, lw, 4)

    def set_scenes(self, prompt_a: str | None = None, prompt_b: str | None = None) -> None:
        """Give scenes A and B palettes derived from their prompts (None keeps the default)."""
        self._pal_a = _scene_palette(prompt_a) if prompt_a else tuple(x.copy() for x in _PALETTE_A)
        self._pal_b = _scene_palette(prompt_b) if prompt_b else tuple(x.copy() for x in _PALETTE_B)

    def direction(self, block: int, feature_id: int) -> np.ndarray:
        """The cached latent direction [4, lh, lw] of one feature in one block (read-only)."""
        key = (int(block), int(feature_id))
        p = self._patterns.get(key)
        if p is None:
            p = _pattern(key[0], key[1], *self.latent_shape[1:])
            p.setflags(write=False)
            self._patterns[key] = p
            if len(self._patterns) > PATTERN_CACHE_SIZE:
                self._patterns.popitem(last=False)
        else:
            self._patterns.move_to_end(key)
        return p

    # ----------------------------------------------------------------------------------------
    def generate(self, params: FrameParams, out: np.ndarray) -> float:
        """Render one frame into out: uint8 [height, width, 3], C-contiguous, written in place;
        returns its media time (``params.t``)."""
        if (
            out.shape != (self.height, self.width, 3)
            or out.dtype != np.uint8
            or not out.flags.c_contiguous
        ):
            raise ValueError(
                f"out must be a C-contiguous uint8 array of shape {(self.height, self.width, 3)},"
                f" got {out.dtype} {out.shape}"
            )
        latent, tmp = self._latent, self._lat_tmp

        # composition: a point on the circle through the two seed latents
        theta = float(params.theta)
        if not math.isfinite(theta):
            theta = 0.0
        theta = math.fmod(theta, math.tau)
        np.multiply(self._noise_a, np.float32(math.cos(theta)), out=latent)
        np.multiply(self._noise_b, np.float32(math.sin(theta)), out=tmp)
        latent += tmp

        # steering: strength × mask × direction, per block
        np.copyto(self._masks, params.masks, casting="same_kind")
        np.nan_to_num(self._masks, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        np.clip(self._masks, -MASK_LIMIT, MASK_LIMIT, out=self._masks)  # keeps the latent finite
        strengths, feature_ids = params.strengths, params.feature_ids
        mix_ids, mix_weights = params.mix_ids, params.mix_weights
        for b in range(len(BLOCKS)):
            s = float(strengths[b])
            if not math.isfinite(s) or s == 0.0:
                continue
            weight = BLOCK_GAIN[b] * STRENGTH_KNEE * math.tanh(s / STRENGTH_KNEE)
            direction = self.direction(b, int(feature_ids[b]))
            mix = float(mix_weights[b])
            mix = min(max(mix, 0.0), 1.0) if math.isfinite(mix) else 0.0
            if int(mix_ids[b]) == int(feature_ids[b]):
                mix = 0.0
            np.matmul(self._mask_up_y, self._masks[b], out=self._mask_tmp)
            np.matmul(self._mask_tmp, self._mask_up_xt, out=self._mask_lat)
            if mix > 0.0:  # two features: (1 − w)·d₁ + w·d₂, a sum of two directions
                np.multiply(self._mask_lat, np.float32(weight * mix), out=self._mix_lat)
                second = self.direction(b, int(mix_ids[b]))
                for k in range(LATENT_CHANNELS):
                    np.multiply(second[k], self._mix_lat, out=tmp[k])
                latent += tmp
            self._mask_lat *= np.float32(weight * (1.0 - mix))
            for k in range(LATENT_CHANNELS):  # per channel: no broadcasting buffers
                np.multiply(direction[k], self._mask_lat, out=tmp[k])
            latent += tmp

        # scene blend: mix the two palettes
        t = float(params.scene_t)
        t = min(1.0, max(0.0, t)) if math.isfinite(t) else 0.0
        (ma, ba), (mb, bb) = self._pal_a, self._pal_b
        np.multiply(ma, np.float32(1.0 - t), out=self._pal_m)
        np.multiply(mb, np.float32(t), out=self._pal_m_tmp)
        self._pal_m += self._pal_m_tmp
        bias = self._pal_b_mix
        np.multiply(ba, np.float32(1.0 - t), out=bias)
        bias += np.float32(t) * bb

        # decode: linear map, tanh to 0.5..255.5 (the +0.5 makes the uint8 cast round)
        rgb = self._rgb_lat
        np.matmul(self._pal_m, latent.reshape(LATENT_CHANNELS, -1), out=rgb)
        for c in range(3):
            rgb[c] += bias[c]
        # relief: light from the top left on channel 0 (a fixed linear filter), warm highlights
        # (central differences on the flat plane: contiguous 1-D slices, no iterator buffers)
        lw = self.latent_shape[2]
        light = latent[0].reshape(-1)
        relief, relief_flat, vertical = self._relief, self._relief.reshape(-1), self._rgb_row
        np.subtract(light[:-2], light[2:], out=relief_flat[1:-1])
        relief[:, 0] = 0.0  # the flat x-difference wraps across rows at the edges
        relief[:, -1] = 0.0
        vertical[:lw] = 0.0
        vertical[-lw:] = 0.0
        np.subtract(light[: -2 * lw], light[2 * lw :], out=vertical[lw:-lw])
        relief_flat += vertical
        row = self._rgb_row
        for c in range(3):
            np.multiply(relief_flat, self._relief_tint[c], out=row)
            rgb[c] += row
        np.tanh(rgb, out=rgb)
        rgb *= np.float32(127.5)
        rgb += np.float32(128.0)

        # upsample: horizontal pass (planar), to HWC, vertical pass straight into HWC rows
        lh = self.latent_shape[1]
        np.matmul(rgb.reshape(3 * lh, -1), self._img_up_xt, out=self._rgb_wide.reshape(3 * lh, -1))
        np.copyto(self._rgb_wide_hwc, self._rgb_wide.transpose(1, 2, 0))
        np.matmul(self._img_up_y, self._rgb_wide_hwc.reshape(lh, -1), out=self._frame)
        # B-spline rows are convex combinations: values stay in [0.5, 255.5], the cast is safe
        np.copyto(out.reshape(self.height, -1), self._frame, casting="unsafe")
        return params.t


__all__ = ["PreviewEngine"]
