"""User-facing errors.

Every error a user can cause (bad input file, wrong checkpoint, missing weights) is raised as
:class:`InputError`. Its message names the file, what is wrong and how to fix it; the CLI
prints the message without a traceback and exits with status 2. Where code must tell errors
apart (fall back, or turn one into a note), it catches a typed subclass, never matches text.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """An input (file, directory, option value) that the toolkit cannot use."""

    def __init__(self, path: str | Path | None, problem: str, fix: str | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        text = f"{where}{problem}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)


class MediaError(InputError):
    """A video or audio file that cannot be opened or decoded, or lacks the stream a step needs."""


class NoFaceTrackError(InputError):
    """A video in which no face is followed long enough and large enough to work on."""


class WeightsError(InputError):
    """Model weights that cannot be used: unreadable, another layout, or not there."""


class WeightsNotFoundError(WeightsError):
    """Weights named explicitly (an argument, option or environment variable) that do not exist."""


class NoWeightsError(WeightsError):
    """No weights named, and none found where the toolkit looks for them (cache, shipped)."""
