"""Shared pieces of the command-line layer: verbosity, JSON output, error reporting."""

from __future__ import annotations

import functools
import json
import logging
import sys
from typing import Any, Callable

import click

from minerf_base.errors import InputError


def verbosity_options(func: Callable) -> Callable:
    """Add ``-v/--verbose`` and ``-q/--quiet``; configure logging before the command runs."""

    @click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
    @click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
    @functools.wraps(func)
    def wrapper(*args: Any, verbose: int, quiet: bool, **kwargs: Any) -> Any:
        level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
        ctx = click.get_current_context()
        ctx.ensure_object(dict)["quiet"] = quiet
        return func(*args, **kwargs)

    return wrapper


def progress_enabled() -> bool:
    """False under ``-q`` (progress bars go to stderr otherwise)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("quiet"):
            return False
        ctx = ctx.parent
    return True


def report_errors(func: Callable) -> Callable:
    """Turn :class:`InputError` into a clean message on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def emit(result: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``result`` as JSON (for scripts) or ``text`` (for people)."""
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    elif text is not None:
        click.echo(text)
