"""Click commands ``lipsync score`` and ``lipsync train`` (parsing only; the work is in the library)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from minerf_base.cli_support import (
    emit,
    progress_enabled,
    report_errors,
    verbosity_options,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def lipsync() -> None:
    """Lip-sync scores (SyncNet LSE-D / LSE-C) and training of an own SyncNet expert."""


@lipsync.command()
@click.argument("videos", nargs=-1, required=True)
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Score every video against this speech file instead of its own audio track.")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="syncnet_v2.model (or a state dict in its layout), or a `lipsync train` run folder. Default: $MINERF_SYNCNET_WEIGHTS, then the cache, then the shipped own expert syncnet-talk14 (its LSE numbers are not comparable with published ones).")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--json", "as_json", is_flag=True, help="Print all results as JSON.")
@verbosity_options
@report_errors
def score(videos: tuple[str, ...], audio: Path | None, weights: Path | None, device: str | None, as_json: bool) -> None:
    """Score VIDEOS (files, folders, glob patterns): AV offset, LSE-D, LSE-C per face track,
    and the mean over all tracks. Files that cannot be scored are reported; the rest go on
    (exit status 1 if any failed)."""
    from tqdm import tqdm

    from lipsync.scoring import expand_inputs, iter_scores, summarize
    from lipsync.weights import load_syncnet

    paths = expand_inputs(videos)
    load_syncnet(weights, device)  # missing or broken weights stop here, before any work
    bar = tqdm(total=len(paths), desc="scoring", unit="video", disable=as_json or not progress_enabled(), file=sys.stderr)

    def tracked():
        for pair in iter_scores(paths, audio, weights, device=device):
            bar.update(1)
            yield pair

    batch = summarize(tracked())
    bar.close()
    emit(batch.to_dict(), as_json, None if as_json else _table(batch))
    if batch.errors:
        sys.exit(1)


def _table(batch) -> str:
    rows = [f"{'video':<40} {'track':>5} {'frames':>11} {'offset':>6} {'LSE-D':>8} {'LSE-C':>8}"]
    notes = []
    for result in batch.results:
        name = Path(result.source).name
        for t in result.tracks:
            rows.append(f"{name[:40]:<40} {t.track:>5} {f'{t.start}-{t.end - 1}':>11} {t.offset:>6d} {t.lse_d:>8.3f} {t.lse_c:>8.3f}")
            notes += [f"{name} track {t.track}: {n}" for n in t.notes]
        notes += [f"{name}: {n}" for n in result.notes]
    if batch.num_tracks:
        rows.append(f"{'mean over ' + str(batch.num_tracks) + ' tracks':<40} {'':>5} {'':>11} {'':>6} {batch.mean_lse_d:>8.3f} {batch.mean_lse_c:>8.3f}")
    from lipsync.weights import describe_weights

    weights = sorted({r.weights_id for r in batch.results})
    rows += [f"weights: {describe_weights(w)}" for w in weights]
    rows += [f"note: {n}" for n in notes]
    rows += [f"FAILED: {message}" for message in batch.errors.values()]
    return "\n".join(rows)


@lipsync.command()
@click.argument("clip_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "run", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder (checkpoints; an existing run resumes).")
@click.option("--steps", type=click.IntRange(1), default=1500, show_default=True, help="Total optimisation steps.")
@click.option("--batch-size", type=click.IntRange(2), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--width", type=click.FloatRange(0.05, 1.0), default=0.25, show_default=True, help="Channel multiplier (1.0 = the public SyncNet's size).")
@click.option("--embed-dim", type=click.IntRange(8), default=256, show_default=True)
@click.option("--lip-downsample", type=click.Choice(["1", "2", "4"]), default="2", show_default=True, help="Pool the 224 px lip crops by this factor inside the network.")
@click.option("--lip-rows", type=(click.IntRange(0, 223), click.IntRange(1, 224)), default=(64, 192), show_default=True, help="Crop rows TOP BOTTOM the lip tower sees (0 224 = the whole crop, as the public SyncNet).")
@click.option("--max-offset", type=click.IntRange(1, 15), default=8, show_default=True, help="Off-sync negatives come from offsets up to this many frames.")
@click.option("--negatives", type=click.IntRange(1), default=6, show_default=True, help="Off-sync audio windows per lip window.")
@click.option("--min-gap", type=click.IntRange(1, 15), default=3, show_default=True, help="Off-sync windows are at least this many frames away from the in-sync one.")
@click.option("--sample-by", type=click.Choice(["window", "clip"]), default="window", show_default=True, help="Draw lip windows in proportion to each clip's length (window), or every clip equally often (clip: short clips are not drowned by long ones).")
@click.option("--lip-motion/--lip-appearance", default=True, show_default=True, help="Feed the lip tower each window minus its mean frame (motion), or the frames as they are (as the public SyncNet).")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
@verbosity_options
@report_errors
def train(clip_dirs: tuple[Path, ...], run: Path, steps: int, batch_size: int, lr: float, width: float, embed_dim: int, lip_downsample: str, lip_rows: tuple[int, int], max_offset: int, negatives: int, min_gap: int, sample_by: str, lip_motion: bool, device: str | None, as_json: bool) -> None:
    """Train an own SyncNet expert on prepared clips (`minerf prepare`); use it with
    `lipsync score --weights RUN`."""
    from lipsync.model import SyncNetConfig
    from lipsync.train import SyncNetTrainConfig, train_expert
    from minerf_base.errors import InputError

    if lip_rows[0] >= lip_rows[1]:
        raise InputError(None, f"--lip-rows {lip_rows[0]} {lip_rows[1]}: the top row must come before the bottom row", "e.g. --lip-rows 64 192")
    choices = 2 * (max_offset - min_gap + 1)
    if choices < 1 or negatives > choices:
        raise InputError(None, f"--negatives {negatives}: only {max(choices, 0)} offsets lie between --min-gap {min_gap} and --max-offset {max_offset}", "lower --negatives or --min-gap, or raise --max-offset")
    config = SyncNetTrainConfig(
        model=SyncNetConfig(embed_dim=embed_dim, width=width, lip_downsample=int(lip_downsample), lip_top=lip_rows[0], lip_bottom=lip_rows[1], lip_motion=lip_motion),
        steps=steps, batch_size=batch_size, lr=lr, max_offset=max_offset, negatives=negatives, min_gap=min_gap, sample_by=sample_by,
    )
    summary = train_expert(list(clip_dirs), run, config, device=device, progress=progress_enabled() and not as_json)
    from checkpoints.distributed import world_from_env

    if not world_from_env().writes:
        return  # under torchrun rank 0 reports for the run
    last = summary["history"][-1] if summary["history"] else {}
    emit(summary, as_json, f"trained {summary['steps']} steps on {len(summary['clips'])} clips -> {run} (last loss {last.get('loss', float('nan')):.3f}, window accuracy {last.get('accuracy', float('nan')):.2f}); score with: lipsync score VIDEO --weights {run}")
