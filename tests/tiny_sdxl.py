"""Same-architecture tiny SDXL-Turbo, TAESDXL and SAEs, saved in the Hugging Face cache layout.

Built from configs with random weights (nothing downloaded): a 3-level SDXL-shaped UNet (so
the four steered block paths exist), tiny CLIP-L / OpenCLIP-bigG-shaped text encoders with a
byte-level tokenizer written here, a tiny AutoencoderTiny, and tiny SAEs in the published
checkpoint format. ``install(hub)`` writes them under ``hub`` exactly as ``snapshot_download``
would, so the engine loads them through its real loading code.

``build_full`` makes the full SDXL-Turbo architecture with random weights (for the bench, and
on the meta device for the trace test).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TEXT_DIM_1, TEXT_DIM_2 = 16, 32
"""Hidden sizes of the two text encoders (CLIP-L 768 and bigG 1280 in the real model)."""
CROSS_DIM = TEXT_DIM_1 + TEXT_DIM_2
TIME_DIM = 8
BLOCK_CHANNELS = (16, 32, 48)
"""The steered blocks run at the last width (1280 in the real model): the SAE d_model."""
SAE_DIRS = 24
COMMIT = "0123456789abcdef0123456789abcdef01234567"


TINY_UNET = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    block_out_channels=BLOCK_CHANNELS,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    layers_per_block=2,
    transformer_layers_per_block=(1, 1, 2),
    attention_head_dim=(2, 4, 6),
    cross_attention_dim=CROSS_DIM,
    norm_num_groups=8,
    addition_embed_type="text_time",
    addition_time_embed_dim=TIME_DIM,
    projection_class_embeddings_input_dim=6 * TIME_DIM + TEXT_DIM_2,
    use_linear_projection=True,
)
"""The tiny same-architecture UNet's config (3 levels, so the four steered block paths exist)."""

TINY_TAESD = dict(
    encoder_block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8),
    num_encoder_blocks=(1, 1, 1, 1),
    num_decoder_blocks=(1, 1, 1, 1),
    latent_channels=4,
)
"""The tiny AutoencoderTiny's config (TAESDXL is the AutoencoderTiny default)."""


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def write_tokenizer(folder: Path, pad: str) -> None:
    """A CLIP BPE tokenizer over single bytes plus a few merges (vocab < 1000)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars]
    merges = ["t h", "th e</w>", "i n", "o n</w>"]
    vocab += ["th", "the</w>", "in", "on</w>"]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token=pad)
    tok.model_max_length = 77
    for name in ("vocab.json", "merges.txt"):
        (folder / name).unlink()
    tok.save_pretrained(folder)


def build_pipeline_parts(seed: int = 0) -> dict:
    from diffusers import EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**TINY_UNET)
    common = dict(
        intermediate_size=37,
        num_hidden_layers=3,
        num_attention_heads=4,
        vocab_size=1000,
        max_position_embeddings=77,
        hidden_act="gelu",
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    te1 = CLIPTextModel(CLIPTextConfig(hidden_size=TEXT_DIM_1, projection_dim=TEXT_DIM_1, **common))
    te2 = CLIPTextModelWithProjection(
        CLIPTextConfig(hidden_size=TEXT_DIM_2, projection_dim=TEXT_DIM_2, **common)
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        timestep_spacing="trailing",
        steps_offset=1,
        prediction_type="epsilon",
    )
    return {"unet": unet, "text_encoder": te1, "text_encoder_2": te2, "scheduler": scheduler}


def build_taesd(seed: int = 1):
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    vae = AutoencoderTiny(**TINY_TAESD)
    with torch.no_grad():  # centre the output at mid-grey so pixels are not clamped to black
        vae.decoder.layers[-1].bias.fill_(0.5)
        vae.decoder.layers[-1].weight.mul_(4.0)
    return vae


def build_vae(seed: int = 2):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        scaling_factor=0.13025,
        force_upcast=True,
    )


def _snapshot(hub: Path, repo_id: str, repo_type: str = "model") -> Path:
    root = hub / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def write_sae(folder: Path, d: int, n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    decoder = torch.randn(d, n, generator=g)
    decoder /= decoder.norm(dim=0, keepdim=True)
    sd = {
        "encoder.weight": torch.randn(n, d, generator=g),
        "decoder.weight": decoder,
        "pre_bias": torch.zeros(d),
        "latent_bias": torch.zeros(n),
        "stats_last_nonzero": torch.zeros(n, dtype=torch.long),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {"n_dirs_local": n, "d_model": d, "k": 10, "auxk": 256, "dead_steps_threshold": 2000}
        )
    )
    torch.save({"state_dict": sd}, folder / "state_dict.pth")
    torch.save(torch.rand(n, generator=g) * 3 + 0.5, folder / "mean.pt")


def install(hub: Path, vae: bool = False, saes: bool = True) -> Path:
    """Write tiny SDXL-Turbo (+ TAESDXL, SAEs, optionally the full VAE) under hub; returns the
    SDXL-Turbo snapshot folder."""
    from diffusers import StableDiffusionXLPipeline

    from hambajuba_tui.engine.sae import sae_folder_name
    from hambajuba_tui.vocab import BLOCKS

    parts = build_pipeline_parts()
    snap = _snapshot(hub, "stabilityai/sdxl-turbo")
    pipe = StableDiffusionXLPipeline(
        vae=build_vae(), tokenizer=None, tokenizer_2=None, add_watermarker=False, **parts
    )
    pipe.save_pretrained(snap)
    write_tokenizer(snap / "tokenizer", pad="<|endoftext|>")
    write_tokenizer(snap / "tokenizer_2", pad="!")
    index = json.loads((snap / "model_index.json").read_text())
    index["tokenizer"] = index["tokenizer_2"] = ["transformers", "CLIPTokenizer"]
    (snap / "model_index.json").write_text(json.dumps(index))
    if not vae:
        import shutil

        shutil.rmtree(snap / "vae")
    build_taesd().save_pretrained(_snapshot(hub, "madebyollin/taesdxl"))
    if saes:
        sae_snap = _snapshot(hub, "surokpro2/sdxl-saes")
        for i, block in enumerate(BLOCKS):
            write_sae(
                sae_snap / sae_folder_name(block) / "final",
                BLOCK_CHANNELS[-1],
                SAE_DIRS,
                seed=10 + i,
            )
    return snap


SDXL_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10),
    attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    use_linear_projection=True,
    norm_num_groups=32,
)
"""SDXL-Turbo's UNet config (DESIGN.md, "The engine"): 2.57 B parameters."""


def build_full(device, dtype, text_layers: int | None = None):
    """(SdxlModels, SAEs) of the full SDXL-Turbo architecture with random weights.

    CLIP-L and OpenCLIP-bigG text encoders (``text_layers`` cuts their depth: they run once
    per scene, not per frame), TAESDXL's architecture (the AutoencoderTiny default), four
    1280 × 5120 SAEs; the tokenizers are this module's small ones (token ids only).
    """
    import tempfile

    from diffusers import AutoencoderTiny, EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    from hambajuba_tui.engine.models import SdxlModels
    from hambajuba_tui.engine.sae import SaeWeights
    from hambajuba_tui.vocab import BLOCKS

    device = torch.device(device)
    with device:
        unet = UNet2DConditionModel(**SDXL_UNET).to(dtype)
        te1 = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_attention_heads=12,
                num_hidden_layers=text_layers or 12,
                projection_dim=768,
                vocab_size=49408,
                max_position_embeddings=77,
                hidden_act="quick_gelu",
            )
        ).to(dtype)
        te2 = CLIPTextModelWithProjection(
            CLIPTextConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_attention_heads=20,
                num_hidden_layers=text_layers or 32,
                projection_dim=1280,
                vocab_size=49408,
                max_position_embeddings=77,
                hidden_act="gelu",
            )
        ).to(dtype)
        taesd = AutoencoderTiny().to(dtype)
        saes = {}
        for block in BLOCKS:
            dec = torch.randn(1280, 5120)
            dec = dec / dec.norm(dim=0, keepdim=True)
            saes[block] = SaeWeights(
                decoder=dec.to(dtype),
                mean=torch.rand(5120).to(dtype),
                encoder=torch.empty(0),
                pre_bias=torch.empty(0),
                latent_bias=torch.empty(0),
                path=Path("random"),
            )
    tok_dir = Path(tempfile.mkdtemp(prefix="hambajuba-tok-"))
    write_tokenizer(tok_dir / "a", pad="<|endoftext|>")
    write_tokenizer(tok_dir / "b", pad="!")
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    for m in (unet, te1, te2, taesd):
        m.eval().requires_grad_(False)
    models = SdxlModels(
        unet,
        taesd,
        "taesd",
        te1,
        te2,
        CLIPTokenizer.from_pretrained(tok_dir / "a"),
        CLIPTokenizer.from_pretrained(tok_dir / "b"),
        scheduler,
        device,
        dtype,
    )
    return models, saes
