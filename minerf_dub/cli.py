"""The click layer: the console scripts ``minerf``, ``minerf-dub``, ``audio2exp``, ``lipsync``.

Each package keeps its commands next to the code they drive (``minerf/commands.py``,
``audio2exp/commands.py``, ...); this module, the top of the import layers, only assembles
them into groups. The commands parse options into typed values and call one library
function; heavy imports happen inside each command.
"""

from __future__ import annotations

import click

from audio2exp.commands import audio2exp
from lipsync.commands import lipsync
from minerf import __version__
from minerf.commands import demo_video, inspect_clip, prepare
from minerf.nerf_commands import eval_cmd, export_cmd, personalize_cmd, render_cmd, train_cmd
from minerf_dub.commands import minerf_dub, verify_watermark

__all__ = ["minerf", "minerf_dub", "audio2exp", "lipsync"]  # console-script entry points


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minerf")
def minerf() -> None:
    """MI-NeRF: prepare talking-face videos, train one face NeRF for many people, render."""


for _command in (prepare, inspect_clip, demo_video, verify_watermark, train_cmd, render_cmd, eval_cmd, personalize_cmd, export_cmd):
    minerf.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    minerf()
