"""Click commands of the preprocessing side: ``minerf prepare`` and ``minerf inspect``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from minerf_base.cli_support import (
    emit,
    progress_enabled,
    report_errors,
    verbosity_options,
)

if TYPE_CHECKING:
    from minerf.prepare.pipeline import PrepareOptions


@click.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="One video file: the folder of its prepared clip. Several videos or a folder of videos: the folder that gets one clip folder per video, named by its file name. Unfinished work there is resumed.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1), help="Videos prepared at the same time, each in its own process.")
@click.option("--resolution", default=512, show_default=True, type=click.IntRange(32, 2048), help="Side of the square head crop in pixels.")
@click.option("--face", "face_index", default=None, type=click.IntRange(0, 9), help="Which face to follow when several are visible: 0 = largest in the first frame with faces.")
@click.option("--expression-space", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="A custom expression-space .npz (default: the shipped mp468-pca-v1).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (for scripts).")
@verbosity_options
@report_errors
def prepare(videos: tuple[Path, ...], out_dir: Path, jobs: int, resolution: int, face_index: int | None, expression_space: Path | None, as_json: bool) -> None:
    """Turn talking-face VIDEOS into prepared clips: 25 fps head crops, 16 kHz audio,
    head pose + intrinsics, landmarks, expressions, head masks and clean backgrounds.

    Several videos (or a folder of them) are prepared video by video, --jobs at a time; a
    video that fails is reported (exit status 1) and the others are finished."""
    from minerf.prepare.pipeline import PrepareOptions

    options = PrepareOptions(resolution=resolution, face_index=face_index, expression_space=None if expression_space is None else str(expression_space))
    if len(videos) == 1 and not videos[0].is_dir():
        _prepare_one(videos[0], out_dir, options, as_json)
        return
    from minerf.prepare.batch import prepare_many

    result = prepare_many(videos[0] if len(videos) == 1 else list(videos), out_dir, options, progress=progress_enabled() and not as_json, jobs=jobs)
    lines = [f"prepared {len(result.clips)} of {len(result.videos)} videos -> {out_dir}"] + [f"FAILED {video}: {error}" for video, error in result.failures.items()]
    emit(result.to_json(), as_json, "\n".join(lines))
    if result.failures:
        sys.exit(1)


def _prepare_one(video: Path, out_dir: Path, options: "PrepareOptions", as_json: bool) -> None:
    """One video into the clip folder ``out_dir`` (its passes shown as progress bars)."""
    from minerf.prepare.inspect import summary
    from minerf.prepare.pipeline import prepare as run

    clip = run(video, out_dir, options, progress=progress_enabled() and not as_json)
    info = summary(clip)
    emit(info, as_json, f"prepared {info['frames']} frames ({info['seconds']:.2f} s) of {video} -> {out_dir}" + ("" if info["has_audio"] else f" [no audio: {info['audio_status']}]"))


@click.command("inspect")
@click.argument("clip_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="PNG to write (default: CLIP_DIR/inspect.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@verbosity_options
@report_errors
def inspect_clip(clip_dir: Path, output: Path | None, as_json: bool) -> None:
    """Write a contact sheet + pose/expression plot of a prepared clip and print a summary."""
    from minerf.prepare.inspect import contact_sheet, summary
    from minerf_base.clip import load_clip

    clip = load_clip(clip_dir)
    png = contact_sheet(clip, output or clip_dir / "inspect.png")
    info = summary(clip) | {"picture": str(png)}
    lines = [f"{k}: {v}" for k, v in info.items()]
    emit(info, as_json, "\n".join(lines))


@click.command("demo-video")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Video file to write (.mp4, .avi, .mkv, .mov).")
@click.option("--seconds", default=4.0, show_default=True, type=click.FloatRange(0.5, 600), help="Length of the video.")
@click.option("--size", default=384, show_default=True, type=click.IntRange(128, 2160), help="Side of the square video in pixels.")
@click.option("--fps", default=25.0, show_default=True, type=click.FloatRange(1, 120), help="Frame rate.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic speech.")
@click.option("--no-audio", is_flag=True, help="Write no audio track.")
@verbosity_options
@report_errors
def demo_video(output: Path, seconds: float, size: int, fps: float, seed: int, no_audio: bool) -> None:
    """Write the built-in talking-face demo video (a public-domain portrait shipped with
    scikit-image, animated; synthetic speech). No download needed."""
    from minerf.demo_media import DemoSpec, make_demo_video

    make_demo_video(output, DemoSpec(seconds=seconds, fps=fps, size=size, seed=seed, with_audio=not no_audio))
    click.echo(f"wrote {output} ({seconds:g} s, {size}x{size}, {fps:g} fps{'' if no_audio else ', with speech'})")
