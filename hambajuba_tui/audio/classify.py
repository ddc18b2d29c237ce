"""Per-stem classification -> weights of the four motion models (DESIGN.md, "Classification").

Components, each 0..1:

``percussive``  the stem's percussive share of its HPSS energy (over the whole song).
``harmonic``    ``1 - percussive``.
``melody``      share of the stem's *active* frames (``energy_smooth`` > :data:`ACTIVE`) with
                pitch confidence > 0.5 (0 for stems without pitch signals).
``texture``     share of its active frames with spectral flatness > 0.4.
``harmony``     ``harmonic (1 - melody) (1 - texture)``.

Weights (normalised to sum 1; all zero -> ``spring`` only): ``spring = percussive``,
``pitch_follow = melody harmonic``, ``oscillator = harmony harmonic``,
``drift = texture harmonic``. Each stem's dict holds the components and the weights.
"""

from __future__ import annotations

import numpy as np

ACTIVE = 0.2
MODELS = ("spring", "pitch_follow", "oscillator", "drift")


def weights(percussive: float, melody: float, texture: float) -> dict[str, float]:
    """Components and normalised model weights from the three measured shares."""
    percussive = float(min(max(percussive, 0.0), 1.0))
    harmonic = 1.0 - percussive
    harmony = harmonic * (1.0 - melody) * (1.0 - texture)
    raw = {
        "spring": percussive,
        "pitch_follow": melody * harmonic,
        "oscillator": harmony * harmonic,
        "drift": texture * harmonic,
    }
    total = sum(raw.values())
    w = (
        {k: v / total for k, v in raw.items()}
        if total > 0
        else {k: float(k == "spring") for k in MODELS}
    )
    parts = {
        "percussive": percussive,
        "harmonic": harmonic,
        "melody": float(melody),
        "texture": float(texture),
        "harmony": harmony,
    }
    return {**{k: round(v, 6) for k, v in parts.items()}, **{k: round(v, 6) for k, v in w.items()}}


def classify(
    energy_smooth: np.ndarray,
    flatness: np.ndarray,
    percussive: float,
    pitch_conf: np.ndarray | None = None,
) -> dict[str, float]:
    """One stem: its ``energy_smooth`` signal, raw flatness [n], percussive share and (for
    pitched stems) ``pitch_conf`` [n] -> components and weights (see the module docstring)."""
    active = np.asarray(energy_smooth) > ACTIVE
    if not active.any():  # never plays: nothing to measure, all zero -> spring
        return {
            "percussive": 0.0,
            "harmonic": 0.0,
            "melody": 0.0,
            "texture": 0.0,
            "harmony": 0.0,
            **{m: float(m == "spring") for m in MODELS},
        }
    melody = float(np.mean(pitch_conf[active] > 0.5)) if pitch_conf is not None else 0.0
    texture = float(np.mean(np.asarray(flatness)[active] > 0.4))
    return weights(percussive, melody, texture)
