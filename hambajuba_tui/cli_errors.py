"""The CLI's one error type and its exit codes (shared by ``cli.py`` and ``cli_features.py``;
a module of their own, so ``python -m hambajuba_tui.cli`` and the command modules agree on
the class)."""

from __future__ import annotations

EXIT_USAGE, EXIT_INPUT, EXIT_CANCELLED = 2, 3, 130
EXIT_CRASH = 70
"""The TUI crashed (EX_SOFTWARE); its traceback is in a log file."""


class CliError(Exception):
    """An error to print as one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code
