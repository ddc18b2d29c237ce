"""Prominence: how much each dancer of the ensemble stands out, 0..1.

``p = min(1, base · (1 + novelty + coupling) · call_response · gate + surprise)`` where base is
the rank's weight, the gate opens with the stem's level (−40 dB → 0 … 0 dB → 1), and an *auto*
stem gets a surprise of 0.7 when its layer enters, decaying. ``call_response`` enters as a
factor around 1: 0.75 when the stem plays over the others, 1.25 when it answers them.
"""

from __future__ import annotations

import math

RANKS: dict[str, float] = {
    "lead": 1.0,
    "support": 0.65,
    "background": 0.40,
    "subtle": 0.25,
    "auto": 0.05,
}
SURPRISE = 0.7
SURPRISE_TAU_S = 2.0
GATE_FLOOR_DB = -40.0


def gate(energy_db: float) -> float:
    """0 at −40 dB (or below), 1 at 0 dB, linear between."""
    return min(max((energy_db - GATE_FLOOR_DB) / -GATE_FLOOR_DB, 0.0), 1.0)


def call_response_factor(call_response: float) -> float:
    return 0.75 + 0.5 * min(max(call_response, 0.0), 1.0)


def prominence(
    rank: str,
    novelty: float,
    coupling: float,
    call_response: float,
    energy_db: float,
    surprise: float = 0.0,
) -> float:
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
    raw = RANKS[rank] * (1.0 + max(novelty, 0.0) + max(coupling, 0.0))
    raw *= call_response_factor(call_response) * gate(energy_db)
    return min(1.0, raw + max(surprise, 0.0))


class Surprise:
    """Surprise promotion for auto stems: 0.7 on a layer entry, decaying with τ = 2 s."""

    def __init__(self) -> None:
        self.value = 0.0

    def step(self, dt: float, entered: bool) -> float:
        self.value *= math.exp(-max(dt, 0.0) / SURPRISE_TAU_S)
        if entered:
            self.value = max(self.value, SURPRISE)
        return self.value
