"""Prompt embeddings for SDXL, computed once per scene and cached.

Matches ``StableDiffusionXLPipeline.encode_prompt`` with one prompt and no CFG: each tokenizer
pads to 77 tokens; the embeddings are the penultimate hidden states of CLIP-L and
OpenCLIP-bigG concatenated ([1, 77, 768 + 1280]); the pooled embedding ([1, 1280]) is
text_encoder_2's projected output.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

CACHE_SIZE = 16


class PromptEncoder:
    def __init__(self, tokenizer, text_encoder, tokenizer_2, text_encoder_2) -> None:
        self.pairs = ((tokenizer, text_encoder), (tokenizer_2, text_encoder_2))
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    @torch.no_grad()
    def _encode(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        embeds, pooled = [], None
        for tokenizer, encoder in self.pairs:
            ids = tokenizer(
                prompt,
                padding="max_length",
                max_length=tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            out = encoder(ids.to(encoder.device), output_hidden_states=True)
            if out[0].ndim == 2:  # the projected, pooled output (text_encoder_2)
                pooled = out[0]
            embeds.append(out.hidden_states[-2])
        if pooled is None:
            raise ValueError(
                "text_encoder_2 gives no pooled output (expected a CLIP text model with projection)"
            )
        return torch.cat(embeds, dim=-1), pooled

    def encode(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeds [1, 77, D], pooled [1, P]) for ``prompt``, from the cache when seen before."""
        hit = self._cache.get(prompt)
        if hit is None:
            hit = self._cache[prompt] = self._encode(prompt)
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(prompt)
        return hit


__all__ = ["PromptEncoder"]
