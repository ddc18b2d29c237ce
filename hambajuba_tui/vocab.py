"""Names shared by every stage (see DESIGN.md, "Vocabulary")."""

from __future__ import annotations

SAMPLE_RATE = 44_100
"""Every song is decoded to float32 at this rate (Hz)."""

GRID_RATE = 100.0
"""Signals live on a 100 Hz grid (hop 441 at 44.1 kHz); runtime sampling is np.interp."""

HOP = 441

PHYSICAL_STEMS: tuple[str, ...] = ("bass", "drums", "vocals", "other")
VIRTUAL_STEMS: tuple[str, ...] = ("drums_low", "drums_mid", "drums_high", "other_mid", "other_high")

BLOCKS: tuple[str, ...] = ("down.2.1", "mid.0", "up.0.0", "up.0.1")
"""The four steered UNet attention blocks, in FrameParams order."""

MASK_SIZE = 16
