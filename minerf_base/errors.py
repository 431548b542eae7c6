"""User-facing errors.

Every error a user can cause (bad input file, wrong checkpoint, missing weights) is raised as
:class:`InputError`. Its message names the file, what is wrong and how to fix it; the CLI
prints the message without a traceback and exits with status 2.
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
