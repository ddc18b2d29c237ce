"""Inline SAE steering: a wrapper around one UNet block whose output gets a feature added.

``out.sample += (w₁·d₁ + w₂·d₂) ⊗ mask(h, w)`` where ``dᵢ = mean[fᵢ] · decoder[:, fᵢ]`` (the
SAE authors' "add feature on area", strength 1 = a typical activation) and ``w₁, w₂`` are the
strengths of the block's feature and mix feature. Everything that changes per frame lives in
one shared device tensor (:class:`FrameLayout`) that the engine fills with a single copy; the
directions change only when a feature does (one decoder column copied). The forward has no
Python branches on data, no host syncs and allocates nothing outside the compiled graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hambajuba_tui.vocab import BLOCKS, MASK_SIZE


class FrameLayout:
    """Offsets into the packed per-frame float32 vector shared by the step and the blocks."""

    n_blocks = len(BLOCKS)
    weight = 0
    """[n_blocks]: strength of each block's feature, already × (1 − mix weight)."""
    mix_weight = n_blocks
    """[n_blocks]: strength × mix weight (the block's second feature)."""
    theta = 2 * n_blocks
    scene_t = 2 * n_blocks + 1
    masks = 2 * n_blocks + 2
    """[n_blocks, 16, 16] mask weights."""
    size = masks + n_blocks * MASK_SIZE * MASK_SIZE


class SteeredBlock(nn.Module):
    """Calls the wrapped block and adds the steering to its output, in the output's dtype."""

    def __init__(
        self, inner: nn.Module, index: int, atlas: torch.Tensor, frame: torch.Tensor
    ) -> None:
        super().__init__()
        self.inner = inner
        self.index = index
        channels = atlas.shape[0]
        # atlas: [d_model, n_dirs] = decoder · diag(mean); rows are the block's channels
        self.register_buffer("atlas", atlas, persistent=False)
        self.register_buffer(
            "directions",
            torch.zeros(2, channels, dtype=atlas.dtype, device=atlas.device),
            persistent=False,
        )
        self.register_buffer("frame", frame, persistent=False)  # shared with the step
        self.feature_ids = [-1, -1]
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None
        """Set only around an eager batched forward (``SdxlTurboEngine.generate_batch``)."""

    @property
    def n_dirs(self) -> int:
        return int(self.atlas.shape[1])

    def set_feature(self, slot: int, feature_id: int) -> None:
        """Point slot 0 (feature) or 1 (mix) at ``feature_id``: one column copy, on change only.

        An id outside the SAE steers nothing (zero direction) rather than failing mid-song.
        """
        if self.feature_ids[slot] == feature_id:
            return
        self.feature_ids[slot] = feature_id
        if 0 <= feature_id < self.n_dirs:
            self.directions[slot].copy_(self.atlas[:, feature_id])
        else:
            self.directions[slot].zero_()

    def delta(self, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        """The steering added to a [1, C, height, width] output."""
        f, i, L = self.frame, self.index, FrameLayout
        w = torch.stack((f[L.weight + i], f[L.mix_weight + i])).to(dtype)
        vec = (w[:, None] * self.directions.to(dtype)).sum(0)
        start = L.masks + i * MASK_SIZE * MASK_SIZE
        mask = f[start : start + MASK_SIZE * MASK_SIZE].view(1, 1, MASK_SIZE, MASK_SIZE)
        if (height, width) != (MASK_SIZE, MASK_SIZE):  # static: decided once, at trace time
            mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
        return vec.view(1, -1, 1, 1) * mask.to(dtype)

    def delta_batch(self, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        """The per-sample steering added to a [B, C, height, width] output (``self.batch``:
        frames [B, FrameLayout.size] and directions [B, 2, C], one row per sample)."""
        frames, directions = self.batch
        i, L = self.index, FrameLayout
        w = torch.stack((frames[:, L.weight + i], frames[:, L.mix_weight + i]), 1).to(dtype)
        vec = (w[:, :, None] * directions.to(dtype)).sum(1)  # [B, C]
        start = L.masks + i * MASK_SIZE * MASK_SIZE
        mask = frames[:, start : start + MASK_SIZE * MASK_SIZE].reshape(-1, 1, MASK_SIZE, MASK_SIZE)
        if (height, width) != (MASK_SIZE, MASK_SIZE):
            mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
        return vec[:, :, None, None] * mask.to(dtype)

    def direction_of(self, feature_id: int) -> torch.Tensor:
        """The block's direction for ``feature_id`` (zero outside the SAE), without touching the
        slots the compiled step reads."""
        if 0 <= feature_id < self.n_dirs:
            return self.atlas[:, feature_id]
        return torch.zeros_like(self.directions[0])

    def forward(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        sample = out[0] if isinstance(out, tuple) else out.sample
        if self.batch is not None:
            delta = self.delta_batch(sample.shape[-2], sample.shape[-1], sample.dtype)
        else:
            delta = self.delta(sample.shape[-2], sample.shape[-1], sample.dtype)
        steered = sample + delta
        if isinstance(out, tuple):
            return (steered, *out[1:])
        return type(out)(sample=steered)


def block_module(unet: nn.Module, block: str) -> tuple[nn.Module, str, int]:
    """(parent container, attribute, index) of ``block``'s attention module in ``unet``."""
    from hambajuba_tui.engine.sae import MODULE_PATHS

    parts = MODULE_PATHS[block].split(".")  # e.g. down_blocks.2.attentions.1
    parent = unet
    for p in parts[:-2]:
        parent = parent[int(p)] if p.isdigit() else getattr(parent, p)
    return getattr(parent, parts[-2]), parts[-2], int(parts[-1])


def install(
    unet: nn.Module, atlases: dict[str, torch.Tensor], frame: torch.Tensor
) -> dict[str, SteeredBlock]:
    """Replace each block in ``atlases`` with a :class:`SteeredBlock`; returns them by name."""
    wrappers = {}
    for block, atlas in atlases.items():
        container, _, idx = block_module(unet, block)
        inner = container[idx]
        if isinstance(inner, SteeredBlock):
            inner = inner.inner
        wrapper = SteeredBlock(inner, BLOCKS.index(block), atlas, frame)
        container[idx] = wrapper
        wrappers[block] = wrapper
    return wrappers


def block_width(unet: nn.Module, block: str) -> int:
    """Channels of ``block``'s output (the SAE's d_model must match it)."""
    container, _, idx = block_module(unet, block)
    inner = container[idx]
    inner = inner.inner if isinstance(inner, SteeredBlock) else inner
    return int(inner.config.in_channels)


__all__ = ["FrameLayout", "SteeredBlock", "block_module", "block_width", "install"]
