"""Click commands of dubbing: ``minerf verify-watermark`` (and ``minerf-dub``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from minerf.cli_support import emit, report_errors, verbosity_options


@click.command("verify-watermark")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@verbosity_options
@report_errors
def verify_watermark(video: Path, as_json: bool) -> None:
    """Check whether VIDEO carries the invisible minerf-dub watermark (synthetic media).

    Exit status 0 when the watermark is found, 1 when it is not."""
    from minerf.dub.watermark import detect_file
    from minerf.prepare.video_io import probe

    probe(video)  # clear errors for missing / unreadable files
    found = detect_file(video)
    info = {"video": str(video), **found.to_json()}
    text = (
        f"{video}: minerf-dub watermark found (z = {found.z_score:.1f}, threshold {info['threshold']}): synthetic media"
        if found.watermarked
        else f"{video}: no minerf-dub watermark (z = {found.z_score:.1f}, threshold {info['threshold']}, {found.frames_checked} frames checked)"
    )
    emit(info, as_json, text)
    sys.exit(0 if found.watermarked else 1)
