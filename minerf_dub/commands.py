"""Click commands of dubbing: ``minerf verify-watermark`` (and ``minerf-dub``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from minerf_base.cli_support import emit, report_errors, verbosity_options
from minerf_dub.defaults import DEFAULT_EXPRESSION_GAIN, DEFAULT_PERSONALIZE_STEPS, DEMO_EXPRESSION_GAIN, DEMO_PERSONALIZE_STEPS, dub_defaults


@click.command("verify-watermark")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@verbosity_options
@report_errors
def verify_watermark(video: Path, as_json: bool) -> None:
    """Check whether VIDEO carries the invisible minerf-dub watermark (synthetic media).

    Exit status 0 when the watermark is found, 1 when it is not."""
    from minerf_base.video_in import probe
    from minerf_dub.watermark import detect_file

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


@click.command("minerf-dub", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("video", type=click.Path(path_type=Path), required=False)
@click.option("--audio", type=click.Path(path_type=Path), default=None, help="The new speech (wav, flac, mp3, ogg...; any language, any rate).")
@click.option("--expressions-from", type=click.Path(path_type=Path), default=None, help="Instead of audio: a prepared clip whose expressions (and audio) the video's person takes over.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Output video (.mp4, .mov, .mkv).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None, help="MI-NeRF run folder (default: the shipped checkpoint).")
@click.option("--audio2exp", "a2e", type=click.Path(path_type=Path), default=None, help="audio2exp checkpoint (default: the shipped checkpoint).")
@click.option("--personalize-steps", default=None, type=click.IntRange(0, 1_000_000), help=f"Fine-tuning steps when the run does not know the person (default: {DEFAULT_PERSONALIZE_STEPS}; {DEMO_PERSONALIZE_STEPS} with --demo).")
@click.option("--syncnet-weights", type=click.Path(path_type=Path), default=None, help="SyncNet weights for the lip-sync score (syncnet_v2.model or a `lipsync train` run; default: $MINERF_SYNCNET_WEIGHTS, the cache, then the shipped own expert).")
@click.option("--no-score", is_flag=True, help="Do not score lip sync.")
@click.option("--sync-search", default=0, show_default=True, type=click.IntRange(0, 10), help="Try audio/expression shifts of -N..N frames on short previews and render with the one SyncNet finds best in sync (needs SyncNet weights; 2N+1 preview renders).")
@click.option("--sync-search-seconds", default=2.0, show_default=True, type=click.FloatRange(0.5, 30.0), help="Length of each --sync-search preview (the loudest stretch of the audio).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write NAME.report.png (source vs dub faces at open and closed mouth, the dub's mouth opening under the audio's waveform, the score) and NAME.report.json beside the output.")
@click.option("--preview", "preview_seconds", default=None, type=click.FloatRange(0.04, None), metavar="SECONDS", help="Render only the first SECONDS of the audio, to check the dub before the full run.")
@click.option("--expression-gain", default=None, type=click.FloatRange(0.0, 4.0, min_open=True), help=f"Multiply the predicted motion of the mouth and face around the person's mean expression (with --expressions-from and the speaker lift: the other clip's carried motion; above 1: wider opening and closing; default: {DEFAULT_EXPRESSION_GAIN:g}; {DEMO_EXPRESSION_GAIN:g} with --demo).")
@click.option("--speaker-lift/--no-speaker-lift", default=None, help="Carry the predicted opening, width and jaw motion (with --expressions-from: the other clip's, in units of that person's own spread) onto the person's own tracked expressions from VIDEO (what the personalized model was tuned on), clamped to the range VIDEO shows (default: on; off with --demo, whose own network already moves the portrait's own expressions).")
@click.option("--full-head", is_flag=True, help="Re-render the whole head (default: only the lower face, blended into the source frame).")
@click.option("--fps", default=None, type=click.FloatRange(1.0, 120.0), help="Output frame rate (default: the source video's own; the head is rendered at each output frame's time).")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Keep rendered frames in a work folder beside the output until it is written, so that the same command run again after an interruption continues from them.")
@click.option("--visible-label", is_flag=True, help="Also write a visible 'SYNTHETIC' label (the invisible watermark is always added).")
@click.option("--face", "face_index", default=None, type=click.IntRange(0, 9), help="Which face to dub when several are visible (0 = largest).")
@click.option("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda when available).")
@click.option("--demo", is_flag=True, help="Dub the built-in demo (a generated talking portrait and speech); needs no input files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@verbosity_options
@report_errors
def minerf_dub(video, audio, expressions_from, output, run_dir, a2e, personalize_steps, syncnet_weights, no_score, sync_search, sync_search_seconds, report, preview_seconds, expression_gain, speaker_lift, fps, resume, full_head, visible_label, face_index, device, demo, as_json) -> None:
    """Dub VIDEO with new speech: the same person, head motion and background, with lips that
    speak the new audio. Prints the lip-sync score (LSE-D / LSE-C) of the result.

    \b
      minerf-dub talk.mp4 --audio spanish.wav -o dubbed.mp4
      minerf-dub talk.mp4 --audio spanish.wav -o dubbed.mp4 --sync-search 2
      minerf-dub talk.mp4 --audio spanish.wav -o check.mp4 --preview 3
      minerf-dub talk.mp4 --expressions-from clips/other -o transfer.mp4
      minerf-dub --demo
    """
    from minerf_base.cli_support import progress_enabled
    from minerf_dub.pipeline import DubOptions, dub

    personalize_steps, expression_gain, speaker_lift = dub_defaults(personalize_steps, expression_gain, demo, speaker_lift)
    options = DubOptions(
        run=run_dir, audio2exp=a2e, personalize_steps=personalize_steps,
        score=not no_score, syncnet_weights=syncnet_weights, visible_label=visible_label, face_index=face_index, device=device,
        sync_search=sync_search, sync_search_seconds=sync_search_seconds, report=report, preview_seconds=preview_seconds, fps=fps, resume=resume, full_head=full_head, expression_gain=expression_gain, speaker_lift=speaker_lift,
    )
    progress = progress_enabled() and not as_json
    if demo:
        from minerf_dub.demo import run_demo

        result = run_demo(output or Path("minerf-demo") / "dubbed.mp4", options, progress)
    else:
        if video is None or output is None:
            raise click.UsageError("pass VIDEO and -o OUTPUT (or --demo)")
        result = dub(video, audio, output, options, progress, expressions_from)
    info = result.to_dict()
    lines = [f"wrote {info['output']}: {info['frames']} frames ({info['seconds']:.2f} s at {info['fps']:.3g} fps), {info['resolution'][0]}x{info['resolution'][1]}, identity '{info['identity']}'" + (" (personalized)" if info["personalized"] else "")]
    if info["preview"]:
        lines[0] += f"  PREVIEW: the first {info['preview']['seconds']:.2f} s of {info['preview']['of_seconds']:.2f} s; run again without --preview for the whole dub"
    if info["score"]:
        s = info["score"]
        faces = "" if s.get("faces", "detected") == "detected" else f"  (faces: {s['faces']})"
        lines.append(f"lip sync: LSE-D {s['lse_d']:.3f}  LSE-C {s['lse_c']:.3f}  offset {s['offset']}{faces}  (SyncNet weights: {s['weights_note']})")
    if info["sync_search"]:
        lines += sync_search_lines(info["sync_search"])
    if info["report"]:
        lines.append(f"report: {info['report']['sheet']}, {info['report']['data']}")
    lines += [f"note: {n}" for n in info["notes"]]
    lines.append("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in info["timings"].items()))
    emit(info, as_json, "\n".join(lines))


def sync_search_lines(search: dict) -> list[str]:
    """The per-offset table of a sync search as text."""
    from lipsync.weights import describe_weights

    lines = [f"sync search over frames {search['start_frame']}-{search['start_frame'] + search['frames'] - 1} (SyncNet weights: {describe_weights(search['weights'])}):"]
    lines.append(f"  {'shift':>5}  {'LSE-C at 0':>10}  {'LSE-C':>7}  {'LSE-D':>7}  {'SyncNet offset':>14}")
    for k, c0, c, d, o in zip(search["offsets"], search["lse_c_at_0"], search["lse_c"], search["lse_d"], search["syncnet_offset"]):
        lines.append(f"  {k:>+5d}  {c0:>10.3f}  {c:>7.3f}  {d:>7.3f}  {o:>14d}" + ("  <- chosen" if k == search["chosen"] else ""))
    return lines
