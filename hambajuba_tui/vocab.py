"""Names shared by every stage (see DESIGN.md, "Vocabulary")."""

from __future__ import annotations

import re

SAMPLE_RATE = 44_100
"""Every song is decoded to float32 at this rate (Hz)."""

GRID_RATE = 100.0
"""Signals live on a 100 Hz grid (hop 441 at 44.1 kHz); runtime sampling is np.interp."""

HOP = 441
"""Samples per step of the signal grid. One grid step is a *hop* (``Analysis.n_hops``, a
store's ``hops``); a *frame* is always a picture the engine made."""

PHYSICAL_STEMS: tuple[str, ...] = ("bass", "drums", "vocals", "other")
VIRTUAL_STEMS: tuple[str, ...] = ("drums_low", "drums_mid", "drums_high", "other_mid", "other_high")

BLOCKS: tuple[str, ...] = ("down.2.1", "mid.0", "up.0.0", "up.0.1")
"""The four steered UNet attention blocks, in FrameParams order."""

MASK_SIZE = 16

N_FEATURES = 5120
"""Features per block: the SAE's hidden size (``n_dirs_local``); ids are 0..N_FEATURES - 1."""


def is_feature_id(value: object) -> bool:
    """Whether ``value`` is a feature id: a whole number (not a bool) in 0..N_FEATURES - 1."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < N_FEATURES


def feature_id_problem(value: object) -> str | None:
    """Why ``value`` is not a feature id (the one wording every check uses), or None."""
    if is_feature_id(value):
        return None
    return f"expected a feature id 0..{N_FEATURES - 1}, got {value!r}"


# -- block names and feature references in text ---------------------------------------------------
_BLOCK_ALTERNATIVES = "|".join(re.escape(b) for b in BLOCKS)
BLOCK_NAME = re.compile(rf"(?<![\w.])({_BLOCK_ALTERNATIVES})(?![\w.])")
"""A block name standing on its own in free text (e.g. a search query "mid.0 tunnel")."""
_FEATURE_REF = re.compile(rf"^\s*(?:({_BLOCK_ALTERNATIVES})\s*[:#/ ]\s*)?(\d+)\s*$")


def parse_feature_ref(text: str, bare: bool = True) -> tuple[str | None, int] | None:
    """A feature reference: ``up.0.1:154`` (also ``#``, ``/`` or a space between) →
    ("up.0.1", 154); a bare ``154`` → (None, 154) when ``bare``; anything else → None.

    The id is not range-checked here (callers say "no such feature" their own way; see
    :func:`is_feature_id`)."""
    m = _FEATURE_REF.match(text.lower())
    if m is None or (m[1] is None and not bare):
        return None
    return m[1], int(m[2])
