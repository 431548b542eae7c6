"""Command-line entry points: ``minerf``, ``audio2exp``, ``lipsync``.

This layer only parses options into typed values and calls library functions; the
commands themselves live next to the code they drive (``minerf/commands.py``, ...).
Heavy imports happen inside each command.
"""

from __future__ import annotations

import click

__all__ = ["minerf", "minerf_dub", "audio2exp", "lipsync"]  # console-script entry points

from minerf import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minerf")
def minerf() -> None:
    """MI-NeRF: prepare talking-face videos, train one face NeRF for many people, render."""


# Each package keeps its commands next to its code; they are registered here, one line each.
from minerf.commands import demo_video, inspect_clip, prepare  # noqa: E402
from audio2exp.commands import audio2exp  # noqa: E402
from lipsync.commands import lipsync  # noqa: E402

minerf.add_command(prepare)
minerf.add_command(inspect_clip)
minerf.add_command(demo_video)

from minerf.dub.commands import minerf_dub, verify_watermark  # noqa: E402

minerf.add_command(verify_watermark)

from minerf.nerf_commands import eval_cmd, export_cmd, personalize_cmd, render_cmd, train_cmd  # noqa: E402

minerf.add_command(train_cmd)
minerf.add_command(render_cmd)
minerf.add_command(eval_cmd)
minerf.add_command(personalize_cmd)
minerf.add_command(export_cmd)

if __name__ == "__main__":  # pragma: no cover
    minerf()
