"""The sampler: a source and a signal name → the Analysis signal, sampled at any time.

One place maps the bridge's names to the Analysis's keys, including the derived sources
(``tension``, ``tonal_distance``, ``global``) and position sources (pitch → ``pitch_norm``,
chroma → ``chroma_centroid``). A missing signal samples as its neutral value, so a sparse
Analysis (an old cache, a silent song) still conducts.
"""

from __future__ import annotations

from hambajuba_tui.audio.analysis import Analysis

POSITION_SIGNALS = {"pitch": "pitch_norm", "chroma": "chroma_centroid", "brightness": "brightness"}
DERIVED = ("tension", "tonal_distance")


class Sampler:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def key(self, source: str, name: str) -> str | None:
        """The Analysis key for ``source``'s signal ``name``, or None when it has none."""
        signals = self.analysis.signals
        candidates = [f"{source}.{name}"]
        if source in DERIVED:
            candidates += [f"{source}.value", f"harmony.{source}", source]
        return next((k for k in candidates if k in signals), None)

    def level_key(self, source: str) -> str | None:
        """How loud / how much a source is: a stem's smoothed energy, a derived source's value."""
        return self.key(source, "value" if source in DERIVED else "energy_smooth")

    def position_key(self, source: str, position: str) -> str | None:
        if position == "tension":
            return self.key("tension", "value")
        return self.key(source, POSITION_SIGNALS.get(position, position))

    def at(self, key: str | None, t: float, neutral: float = 0.0) -> float:
        return self.analysis.sample(key, t) if key is not None else neutral

    def coupling_keys(self, stem: str, name: str) -> list[str]:
        """``coupling.<a>_<b>.<name>`` keys of every pair that includes ``stem``."""
        keys = []
        for k in self.analysis.signals:
            parts = k.split(".")
            is_pair = len(parts) == 3 and parts[0] == "coupling" and parts[2] == name
            if is_pair and stem in parts[1].split("_"):  # pairs of physical stems: a_b
                keys.append(k)
        return sorted(keys)

    def mean_at(self, keys: list[str], t: float, neutral: float) -> float:
        if not keys:
            return neutral
        return sum(self.analysis.sample(k, t) for k in keys) / len(keys)
