"""The sdxl-turbo engine: FrameParams → pixels with SDXL-Turbo in one step, steered inline.

One step (DESIGN.md, "The engine"), all on the device, in one module (:class:`SdxlStep`):
noise composition ``cos θ·a + sin θ·b`` → ``noisy = noise·σ`` (txt2img: the latent is zero at
t = 999) → scene SLERP of the cached prompt embeddings → UNet with the four steered blocks on
``noisy / √(σ²+1)`` → Euler ``x0 = noisy − σ·pred`` → decode (TAESDXL, or the VAE in float32)
→ uint8 HWC. On CUDA the step is compiled once with ``torch.compile(fullgraph=True,
mode="reduce-overhead", dynamic=False)`` and replayed as a CUDA graph; elsewhere it runs eager
(or compiled without CUDA graphs when asked).

Per frame the host packs FrameParams into a pinned float32 vector (no allocation), copies it to
the device in one transfer, replays the step and copies the pixels back through a pinned
buffer into the ring slot: the one host sync per frame is waiting for the finished frame.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hambajuba_tui.bridge.params import FrameParams
from hambajuba_tui.engine import steering
from hambajuba_tui.engine.errors import CheckpointError
from hambajuba_tui.engine.models import SdxlModels, load_sdxl
from hambajuba_tui.engine.protocol import Engine
from hambajuba_tui.engine.sae import SaeWeights, find_sae, load_sae
from hambajuba_tui.engine.steering import FrameLayout
from hambajuba_tui.engine.text import PromptEncoder
from hambajuba_tui.vocab import BLOCKS, MASK_SIZE

SIZE_MULTIPLE = 32
"""Width and height must be multiples of this (VAE ÷8, then two UNet downsamples ÷4)."""

SLERP_EPS = 1e-4
"""Below this sin ω, SLERP falls back to a linear blend (A and B nearly parallel)."""


def _slerp_prep(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ω, sin ω) between a and b along the last dim, in float32."""
    a, b = a.float(), b.float()
    dot = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-12)
    omega = torch.acos(dot.clamp(-1.0, 1.0))
    return omega, torch.sin(omega)


class SdxlStep(nn.Module):
    """The whole one-step generation as one module; every per-frame input is a buffer."""

    def __init__(
        self,
        models: SdxlModels,
        width: int,
        height: int,
        frame: torch.Tensor,
        noise_a: torch.Tensor,
        noise_b: torch.Tensor,
        embeds: torch.Tensor,
        pooled: torch.Tensor,
    ) -> None:
        super().__init__()
        dev, dtype = models.device, models.dtype
        self.unet = models.unet
        self.decoder = models.decoder
        self.dtype = dtype
        self.decoder_dtype = next(models.decoder.parameters()).dtype
        self.scaling = float(models.decoder.config.scaling_factor)
        sched = models.scheduler
        sched.set_timesteps(1, device="cpu")
        sigma = sched.sigmas[0].to(torch.float32)
        f32 = dict(device=dev, dtype=torch.float32)
        self.register_buffer("frame", frame, persistent=False)
        self.register_buffer("noise_a", noise_a.to(**f32), persistent=False)
        self.register_buffer("noise_b", noise_b.to(**f32), persistent=False)
        self.register_buffer("sigma", sigma.to(**f32), persistent=False)
        self.register_buffer(
            "init_sigma", torch.as_tensor(sched.init_noise_sigma).to(**f32), persistent=False
        )
        self.register_buffer("in_scale", ((sigma**2 + 1) ** 0.5).to(**f32), persistent=False)
        self.register_buffer("timestep", sched.timesteps[0].to(dev), persistent=False)
        self.register_buffer(
            "time_ids",
            torch.tensor([[height, width, 0, 0, height, width]], device=dev, dtype=dtype),
            persistent=False,
        )
        # scenes A/B (index 0/1): embeddings, pooled, and their SLERP angles
        self.register_buffer("embeds", embeds.to(**f32), persistent=False)  # [2, 77, D]
        self.register_buffer("pooled", pooled.to(**f32), persistent=False)  # [2, P]
        self.register_buffer("omega", torch.zeros(embeds.shape[1], **f32), persistent=False)
        self.register_buffer("sin_omega", torch.zeros(embeds.shape[1], **f32), persistent=False)
        self.register_buffer("omega_p", torch.zeros((), **f32), persistent=False)
        self.register_buffer("sin_omega_p", torch.zeros((), **f32), persistent=False)

    @torch.no_grad()
    def set_scene_embeddings(
        self, a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]
    ) -> None:
        """Copy scenes A and B in place (the compiled graph keeps reading the same buffers)."""
        self.embeds[0].copy_(a[0][0])
        self.embeds[1].copy_(b[0][0])
        self.pooled[0].copy_(a[1][0])
        self.pooled[1].copy_(b[1][0])
        omega, sin_omega = _slerp_prep(self.embeds[0], self.embeds[1])
        self.omega.copy_(omega)
        self.sin_omega.copy_(sin_omega)
        omega_p, sin_omega_p = _slerp_prep(self.pooled[0], self.pooled[1])
        self.omega_p.copy_(omega_p)
        self.sin_omega_p.copy_(sin_omega_p)

    @staticmethod
    def _weights(t: torch.Tensor, omega: torch.Tensor, sin_omega: torch.Tensor):
        safe = sin_omega > SLERP_EPS
        denom = torch.where(safe, sin_omega, torch.ones_like(sin_omega))
        wa = torch.where(safe, torch.sin((1 - t) * omega) / denom, 1 - t)
        wb = torch.where(safe, torch.sin(t * omega) / denom, t)
        return wa, wb

    def scene(self) -> tuple[torch.Tensor, torch.Tensor]:
        """SLERP of A → B at scene_t, per token (and for the pooled vector)."""
        t = self.frame[FrameLayout.scene_t].clamp(0.0, 1.0)
        wa, wb = self._weights(t, self.omega, self.sin_omega)
        emb = wa[:, None] * self.embeds[0] + wb[:, None] * self.embeds[1]
        pa, pb = self._weights(t, self.omega_p, self.sin_omega_p)
        pooled = pa * self.pooled[0] + pb * self.pooled[1]
        return emb[None].to(self.dtype), pooled[None].to(self.dtype)

    def latents(self) -> torch.Tensor:
        theta = self.frame[FrameLayout.theta]
        noise = torch.cos(theta) * self.noise_a + torch.sin(theta) * self.noise_b
        return noise * self.init_sigma

    def forward_batch(
        self,
        frames: torch.Tensor,
        noise_a: torch.Tensor,
        noise_b: torch.Tensor,
        embeds: torch.Tensor,
        pooled: torch.Tensor,
    ) -> torch.Tensor:
        """uint8 [B, H, W, 3]: the step for B samples at once, each with its own frame vector
        [B, size], noise [B, 4, h, w] (both ends), scenes A/B ``embeds`` [B, 2, 77, D] and
        ``pooled`` [B, 2, P]. Eager (the steered blocks read their ``batch``)."""
        L = FrameLayout
        theta = frames[:, L.theta][:, None, None, None]
        noisy = (torch.cos(theta) * noise_a + torch.sin(theta) * noise_b) * self.init_sigma
        t = frames[:, L.scene_t].clamp(0.0, 1.0)
        omega, sin_omega = _slerp_prep(embeds[:, 0], embeds[:, 1])  # [B, 77]
        wa, wb = self._weights(t[:, None], omega, sin_omega)
        emb = wa[..., None] * embeds[:, 0] + wb[..., None] * embeds[:, 1]
        omega_p, sin_omega_p = _slerp_prep(pooled[:, 0], pooled[:, 1])  # [B]
        pa, pb = self._weights(t, omega_p, sin_omega_p)
        pool = pa[:, None] * pooled[:, 0] + pb[:, None] * pooled[:, 1]
        x_in = (noisy / self.in_scale).to(self.dtype)
        pred = self.unet(
            x_in,
            self.timestep,
            encoder_hidden_states=emb.to(self.dtype),
            added_cond_kwargs={
                "text_embeds": pool.to(self.dtype),
                "time_ids": self.time_ids.expand(len(frames), -1),
            },
            return_dict=False,
        )[0]
        x0 = noisy - self.sigma * pred.float()
        image = self.decoder.decode((x0 / self.scaling).to(self.decoder_dtype), return_dict=False)[
            0
        ]
        image = (image.float() / 2 + 0.5).clamp(0, 1)
        return (image * 255).round().to(torch.uint8).permute(0, 2, 3, 1)

    def forward(self) -> torch.Tensor:
        """uint8 [H, W, 3] for the frame in ``self.frame``."""
        noisy = self.latents()
        emb, pooled = self.scene()
        x_in = (noisy / self.in_scale).to(self.dtype)
        pred = self.unet(
            x_in,
            self.timestep,
            encoder_hidden_states=emb,
            added_cond_kwargs={"text_embeds": pooled, "time_ids": self.time_ids},
            return_dict=False,
        )[0]
        x0 = noisy - self.sigma * pred.float()
        image = self.decoder.decode((x0 / self.scaling).to(self.decoder_dtype), return_dict=False)[
            0
        ]
        image = (image.float() / 2 + 0.5).clamp(0, 1)
        return (image[0] * 255).round().to(torch.uint8).permute(1, 2, 0)


class SdxlTurboEngine(Engine):
    """SDXL-Turbo, one step per frame, with inline SAE steering (the Engine protocol)."""

    name = "sdxl-turbo"

    def __init__(
        self,
        models: SdxlModels,
        saes: dict[str, SaeWeights],
        width: int = 512,
        height: int = 512,
        seed: int = 0,
        compile: bool | None = None,
        cuda_graphs: bool | None = None,
    ) -> None:
        if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE or width < 64 or height < 64:
            raise ValueError(
                f"sdxl-turbo frame size must be multiples of {SIZE_MULTIPLE} "
                f"and at least 64, got {width}×{height}"
            )
        self.width, self.height, self.seed = int(width), int(height), int(seed)
        self.models = models
        dev, dtype = models.device, models.dtype
        self.device = dev
        cuda = dev.type == "cuda"
        pin = dict(pin_memory=True) if cuda else {}

        # the packed per-frame vector: host staging (pinned on CUDA) → one device buffer
        self._stage = torch.zeros(FrameLayout.size, dtype=torch.float32, **pin)
        self._stage_np = self._stage.numpy()
        self.frame = torch.zeros(FrameLayout.size, dtype=torch.float32, device=dev)
        self._mix = np.zeros(len(BLOCKS), np.float32)
        self._keep = np.zeros(len(BLOCKS), np.float32)
        self._bad = np.zeros(FrameLayout.size, bool)
        L, n = FrameLayout, FrameLayout.n_blocks
        self._stage_weight = self._stage_np[L.weight : L.weight + n]
        self._stage_mix = self._stage_np[L.mix_weight : L.mix_weight + n]
        self._stage_masks = self._stage_np[L.masks :].reshape(n, MASK_SIZE, MASK_SIZE)

        # composition: the two ends of the noise circle, from the session seed (CPU generator,
        # so a seed gives the same picture on every device)
        latent_shape = (1, models.unet.config.in_channels, self.height // 8, self.width // 8)
        self.noise_a, self.noise_b = self._seed_noise(latent_shape, self.seed)

        # steering: one atlas (decoder · diag(mean)) per block, on the device
        atlases = {}
        for block in BLOCKS:
            sae = saes[block]
            width_c = steering.block_width(models.unet, block)
            if sae.d_model != width_c:
                raise CheckpointError(
                    f"{sae.path}: SAE d_model {sae.d_model} does not match "
                    f"block {block}'s {width_c} channels"
                )
            atlases[block] = (sae.decoder * sae.mean[None, :]).to(device=dev, dtype=dtype)
        self.blocks = steering.install(models.unet, atlases, self.frame)

        self.prompts = PromptEncoder(
            models.tokenizer, models.text_encoder, models.tokenizer_2, models.text_encoder_2
        )
        e, p = self.prompts.encode("")
        embeds = torch.zeros((2, *e.shape[1:]), device=dev)
        pooled = torch.zeros((2, p.shape[1]), device=dev)
        self.step = SdxlStep(
            models, self.width, self.height, self.frame, self.noise_a, self.noise_b, embeds, pooled
        )
        self._scenes: tuple[str, str] | None = None
        self.set_scenes(None, None)

        self.compiled = bool(cuda if compile is None else compile)
        self.cuda_graphs = bool(cuda and self.compiled if cuda_graphs is None else cuda_graphs)
        if self.cuda_graphs and not cuda:
            raise ValueError("CUDA graphs need a CUDA device")
        self._run = self.step
        if self.compiled:
            mode = "reduce-overhead" if self.cuda_graphs else None
            if cuda:  # fixed addresses: the graph reads these buffers in place every replay
                for buf in self.step.buffers():
                    torch._dynamo.mark_static_address(buf)
            self._run = torch.compile(self.step, fullgraph=True, mode=mode, dynamic=False)
        self._host = torch.empty((self.height, self.width, 3), dtype=torch.uint8, **pin)
        self._host_np = self._host.numpy()
        self._done = torch.cuda.Event() if cuda else None

    # ------------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        width: int = 512,
        height: int = 512,
        seed: int = 0,
        device=None,
        decoder: str = "taesd",
        compile: bool | None = None,
    ) -> SdxlTurboEngine:
        """Everything from the Hugging Face cache: SDXL-Turbo, the decoder and the four SAEs."""
        models = load_sdxl(device=device, decoder=decoder)
        saes = {b: load_sae(find_sae(b), device=models.device, dtype=models.dtype) for b in BLOCKS}
        return cls(models, saes, width=width, height=height, seed=seed, compile=compile)

    def warmup(self) -> None:
        """Render throw-away frames so compilation and CUDA-graph recording happen before the
        show starts (the third call of a reduce-overhead graph is the first replay)."""
        params = FrameParams()
        for _ in range(3 if self.cuda_graphs else 1):
            self.render(params)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @staticmethod
    def _seed_noise(shape, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The two ends of the noise circle for ``seed`` (CPU generator: same on every device)."""
        gen = torch.Generator("cpu").manual_seed(int(seed))
        return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)

    @torch.no_grad()
    def reseed(self, seed: int) -> None:
        """New seed noise copied into the step's noise buffers in place: the compiled graph (and
        its CUDA graph) keeps reading the same addresses, so nothing is rebuilt or recompiled."""
        self.seed = int(seed)
        a, b = self._seed_noise(tuple(self.noise_a.shape), self.seed)
        self.noise_a.copy_(a)  # on the CPU this may be the step's own buffer: a no-op copy next
        self.noise_b.copy_(b)
        self.step.noise_a.copy_(self.noise_a)
        self.step.noise_b.copy_(self.noise_b)

    def set_scenes(self, prompt_a: str | None = None, prompt_b: str | None = None) -> None:
        """Encode (or take from the cache) scenes A and B; None keeps the default prompts."""
        from hambajuba_tui.bridge.session import SceneSettings

        default = SceneSettings()
        key = (prompt_a or default.prompt_a, prompt_b or default.prompt_b)
        if key == self._scenes:
            return
        self.step.set_scene_embeddings(self.prompts.encode(key[0]), self.prompts.encode(key[1]))
        self._scenes = key

    def _pack(self, params: FrameParams) -> None:
        """FrameParams → the staging vector, in place (numpy, no allocation)."""
        s, L = self._stage_np, FrameLayout
        np.maximum(params.mix_weights, 0.0, out=self._mix)  # clip to [0, 1]; np.clip with
        np.minimum(self._mix, 1.0, out=self._mix)  # scalar bounds allocates on every call
        np.subtract(1.0, self._mix, out=self._keep)
        np.multiply(params.strengths, self._keep, out=self._stage_weight)
        np.multiply(params.strengths, self._mix, out=self._stage_mix)
        theta = float(params.theta)
        s[L.theta] = math.fmod(theta, math.tau) if math.isfinite(theta) else 0.0
        s[L.scene_t] = params.scene_t
        np.copyto(self._stage_masks, params.masks, casting="same_kind")
        np.isfinite(s, out=self._bad)  # non-finite garbage steers nothing
        np.logical_not(self._bad, out=self._bad)
        np.copyto(s, 0.0, where=self._bad)

    @torch.no_grad()
    def render(self, params: FrameParams) -> torch.Tensor:
        """Run the step for ``params``; returns the device uint8 [H, W, 3] (valid until the next
        call: with CUDA graphs it is the graph's output buffer)."""
        for i, block in enumerate(BLOCKS):  # feature changes: rare column copies
            wrapper = self.blocks[block]
            wrapper.set_feature(0, int(params.feature_ids[i]))
            wrapper.set_feature(1, int(params.mix_ids[i]))
        self._pack(params)
        self.frame.copy_(self._stage, non_blocking=True)
        return self._run()

    @torch.no_grad()
    def generate_batch(self, jobs, outs: list[np.ndarray]) -> None:
        """Several performers in one UNet call: ``jobs`` are (FrameParams, seed, (prompt A,
        prompt B)), each with its own noise, scene blend, features, strengths and masks; frame i
        goes into ``outs[i]``. Eager (the compiled single-sample step is left as it is)."""
        from hambajuba_tui.bridge.session import SceneSettings

        default, dev, L = SceneSettings(), self.device, FrameLayout
        n = len(jobs)
        frames = torch.empty((n, L.size), dtype=torch.float32, device=dev)
        na, nb, emb, pool = [], [], [], []
        dirs = {b: [] for b in BLOCKS}
        shape = tuple(self.noise_a.shape[1:])
        for i, (params, seed, scenes) in enumerate(jobs):
            self._pack(params)
            frames[i].copy_(self._stage)
            a, b = self._noise_for(shape, seed)
            na.append(a)
            nb.append(b)
            ea, pa = self.prompts.encode(scenes[0] or default.prompt_a)
            eb, pb = self.prompts.encode(scenes[1] or default.prompt_b)
            emb.append(torch.stack((ea[0], eb[0])).float())
            pool.append(torch.stack((pa[0], pb[0])).float())
            for k, block in enumerate(BLOCKS):
                w = self.blocks[block]
                ids = (int(params.feature_ids[k]), int(params.mix_ids[k]))
                dirs[block].append(torch.stack([w.direction_of(f) for f in ids]))
        try:
            for block in BLOCKS:
                self.blocks[block].batch = (frames, torch.stack(dirs[block]))
            images = self.step.forward_batch(
                frames, torch.stack(na), torch.stack(nb), torch.stack(emb), torch.stack(pool)
            )
        finally:
            for block in BLOCKS:
                self.blocks[block].batch = None
        images = images.cpu().numpy()
        for i, out in enumerate(outs):
            np.copyto(out, images[i])

    def _noise_for(self, shape, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Both noise ends for ``seed`` on the device (a few seeds cached)."""
        cache = self.__dict__.setdefault("_noise_cache", {})
        hit = cache.get(seed)
        if hit is None:
            a, b = self._seed_noise((1, *shape), seed)
            hit = cache[seed] = (a[0].to(self.device), b[0].to(self.device))
            while len(cache) > 16:
                cache.pop(next(iter(cache)))
        return hit

    def generate(self, params: FrameParams, out: np.ndarray) -> float:
        """Render one frame into out: uint8 [height, width, 3], C-contiguous, written in place;
        returns its media time (``params.t``)."""
        if out.shape != (self.height, self.width, 3) or out.dtype != np.uint8:
            raise ValueError(
                f"out must be a uint8 array of shape {(self.height, self.width, 3)},"
                f" got {out.dtype} {out.shape}"
            )
        image = self.render(params)
        if self._done is None:
            torch.from_numpy(out).copy_(image)
            return params.t
        self._host.copy_(image, non_blocking=True)
        self._done.record()
        self._done.synchronize()  # the frame is done: the one wait per frame
        np.copyto(out, self._host_np)
        return params.t


__all__ = ["SdxlStep", "SdxlTurboEngine"]
