"""Engine errors the TUI and CLI catch without importing torch."""

from __future__ import annotations


class ModelMissing(RuntimeError):
    """Weights the engine needs are not on this machine.

    ``what`` names the missing thing (e.g. "SAE for block mid.0"), ``how_to_get`` the command
    or step that fetches it, so every caller can say both.
    """

    def __init__(self, what: str, how_to_get: str) -> None:
        super().__init__(f"missing {what}; {how_to_get}")
        self.what = what
        self.how_to_get = how_to_get


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, unsafe, or not in the expected format.

    The message names the file and what is wrong with it (missing, wrong key, wrong shape,
    refused because unpickling it would run code).
    """


__all__ = ["CheckpointError", "ModelMissing"]
