"""Command-line entry points: ``minerf``, ``audio2exp``, ``lipsync``.

This layer only parses options into typed values and calls library functions; the
commands themselves live next to the code they drive (``minerf/commands.py``, ...).
Heavy imports happen inside each command.
"""

from __future__ import annotations

import click

from minerf import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minerf")
def minerf() -> None:
    """MI-NeRF: prepare talking-face videos, train one face NeRF for many people, render."""


def _register() -> None:
    from minerf.commands import MINERF_COMMANDS

    for command in MINERF_COMMANDS:
        minerf.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    minerf()
