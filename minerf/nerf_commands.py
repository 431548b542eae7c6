"""Click commands of the MI-NeRF side: ``minerf train``, ``minerf render``, ``minerf eval``."""

from __future__ import annotations

from pathlib import Path

import click

from minerf_base.cli_support import (
    emit,
    progress_enabled,
    report_errors,
    verbosity_options,
)

PRESET_NAMES = ("paper", "fast", "fast-hash", "tiny")  # the keys of minerf.model.presets.PRESETS (tests check it)
IDENTITY_INIT_NAMES = ("mean", "random")  # minerf.train.personalize.IDENTITY_INITS, without importing torch (tests check it)


@click.command("train")
@click.argument("clip_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder (checkpoints, logs, eval.json). An existing run there is resumed.")
@click.option("--preset", default="fast", show_default=True, type=click.Choice(PRESET_NAMES), help="paper = Table 5 of the paper (GPU); fast = tri-plane with expression-driven planes + occupancy grid (default); fast-hash = the earlier hash-grid preset; tiny = tests.")
@click.option("--ablation", default="M", show_default=True, help="Interaction module or ablation row: M, H, baseline, A1..A7, M-no-latent, M-k32, H-N3, H-N4, M-o256, concat, M-latent.")
@click.option("--iters", type=click.IntRange(1), default=None, help="Total training steps (default: the preset's).")
@click.option("--same-identity", multiple=True, metavar="NAME,NAME[,...]", help="Clip folder names that show the same person (one identity code). Repeatable.")
@click.option("--stop-at", type=click.IntRange(1), default=None, help="End this session after this step (checkpointed), keeping the schedule of --iters; run again to continue.")
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(1), help="Steps between checkpoints.")
@click.option("--validate-every", default=1000, show_default=True, type=click.IntRange(0), help="Steps between validation PNGs in RUN_DIR/val (0: never).")
@click.option("--eval-frames", type=click.IntRange(1), default=None, help="Held-out frames per clip for the final eval.json (default: all).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available; under torchrun each process takes GPU LOCAL_RANK).")
@click.option("--accumulate", default=1, show_default=True, type=click.IntRange(1), help="Ray batches per process per step (gradients accumulated); processes x accumulate batches make a step (docs/distributed.md).")
@click.option("--bf16/--no-bf16", default=None, help="bfloat16 autocast on CUDA (default: the preset's; CUDA only).")
@click.option("--compile", "compile_step", is_flag=True, help="Run the training step through torch.compile (CUDA only).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@verbosity_options
@report_errors
def train_cmd(clip_dirs, run_dir, preset, ablation, iters, same_identity, stop_at, checkpoint_every, validate_every, eval_frames, seed, device, accumulate, bf16, compile_step, as_json) -> None:
    """Train ONE MI-NeRF on all CLIP_DIRS (prepared clips; each clip one identity).
    Under torchrun (torchrun --nproc_per_node N --no-python minerf train ...) the processes
    train the model together; see docs/distributed.md."""
    from minerf.model.presets import check_names
    from minerf.train.trainer import TrainOptions, train

    check_names(preset, ablation)  # before any clip is loaded
    groups = [tuple(n.strip() for n in g.split(",") if n.strip()) for g in same_identity]
    opts = TrainOptions(
        preset=preset,
        ablation=ablation,
        iterations=iters,
        same_identity=groups,
        seed=seed,
        device=device,
        stop_at=stop_at,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        eval_max_frames=eval_frames,
        progress=progress_enabled() and not as_json,
        accumulate=accumulate,
        bf16=bf16,
        compile=compile_step,
    )
    summary = train(clip_dirs, run_dir, opts)
    if summary["rank"] != 0:
        return  # under torchrun rank 0 reports for the run
    text = f"trained {summary['iterations']} steps -> {run_dir}"
    if "eval" in summary:
        text += f"; held-out PSNR {summary['eval']['psnr']:.2f} dB, SSIM {summary['eval']['ssim']:.3f} (eval.json)"
    emit(summary, as_json, text)


@click.command("render")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--identity", required=True, help="Identity to show (a training clip name; see RUN_DIR/latest checkpoint).")
@click.option("--expressions-from", type=click.Path(path_type=Path), default=None, help="Prepared clip whose expressions drive the face (expression transfer).")
@click.option("--expressions", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help=".npy array (T, d) of expressions.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Video to write (.mp4).")
@click.option("--crop-only", is_flag=True, help="Write the S x S head crops instead of pasting into the source frames.")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Render at most this many frames.")
@click.option("--device", default=None, help="cpu, cuda ... (default: cuda when available).")
@click.option("--json", "as_json", is_flag=True)
@verbosity_options
@report_errors
def render_cmd(run_dir, identity, expressions_from, expressions, output, crop_only, max_frames, device, as_json) -> None:
    """Render IDENTITY of a trained run as a video, pasted into its source frames."""
    from minerf.render.video import RenderRequest, render_video

    request = RenderRequest(identity, output, expressions_from, expressions, crop_only, max_frames)
    result = render_video(run_dir, request, device, progress_enabled() and not as_json)
    emit(result, as_json, f"wrote {result['frames']} frames to {result['output']}")


@click.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Held-out frames per clip for PSNR / SSIM (default: all).")
@click.option("--acd-frames", type=click.IntRange(1), default=4, show_default=True, help="Held-out frames per identity for ACD (self-reconstruction and expression transfer).")
@click.option("--no-acd", is_flag=True, help="Skip ACD (identity preservation).")
@click.option("--face-models", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Folder with dlib_face_recognition_resnet_model_v1.dat and shape_predictor_5_face_landmarks.dat (default: the installed face-recognition-models).")
@click.option("--device", default=None)
@click.option("--json", "as_json", is_flag=True)
@verbosity_options
@report_errors
def eval_cmd(run_dir, max_frames, acd_frames, no_acd, face_models, device, as_json) -> None:
    """PSNR / SSIM on the face crop of the held-out last 10 % of every training clip, and
    identity preservation (ACD) of self-reconstruction and expression transfer."""
    from minerf.eval.heldout import evaluate_run

    result = evaluate_run(run_dir, max_frames, device, progress_enabled() and not as_json, None if no_acd else acd_frames, face_models)
    lines = [f"{name}: PSNR {v['psnr']:.2f} dB  SSIM {v['ssim']:.3f}  ({v['frames']} frames)" for name, v in result["identities"].items()]
    lines.append(f"mean: PSNR {result['psnr']:.2f} dB  SSIM {result['ssim']:.3f}")
    if "acd" in result:
        acd = result["acd"]
        parts = [f"{k.replace('_', ' ')} {acd[k]:.3f}" for k in ("transfer", "self", "real_heldout", "real_other_identities") if k in acd]
        lines.append("ACD (lower = same identity): " + ", ".join(parts) + (f" ({acd['note']})" if "note" in acd else ""))
    lines += [f"{k}: {v}" for k, v in result.get("not_measured", {}).items()]
    emit(result, as_json, "\n".join(lines))


@click.command("personalize")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("clip_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="New run folder: the old identities plus this clip's person.")
@click.option("--iters", default=1000, show_default=True, type=click.IntRange(1), help="Fine-tuning steps.")
@click.option("--lr", "field_lr", default=None, type=click.FloatRange(0, min_open=True), help="Learning rate of the fields (default: 1e-5, the paper's, for MLP fields; 1e-3 for hash-grid fields); the new codes use the preset's.")
@click.option("--smoothness", default=0.0, show_default=True, type=click.FloatRange(0), help="Weight of the penalty on rough (cell-to-cell) changes of a tri-plane field's feature planes (0: none).")
@click.option("--identity-init", type=click.Choice(IDENTITY_INIT_NAMES), default="mean", show_default=True, help="Where the new identity code starts: the mean of the run's identity codes, or a seeded random draw.")
@click.option("--device", default=None)
@click.option("--json", "as_json", is_flag=True)
@verbosity_options
@report_errors
def personalize_cmd(run_dir, clip_dir, out_dir, iters, field_lr, smoothness, identity_init, device, as_json) -> None:
    """Add the person of CLIP_DIR to a trained run (interaction module frozen, paper Sec. 3.4)."""
    from minerf.train.personalize import PersonalizeOptions, personalize

    options = PersonalizeOptions(iterations=iters, field_lr=field_lr, smoothness=smoothness, identity_init=identity_init, device=device, progress=progress_enabled() and not as_json)
    result = personalize(run_dir, clip_dir, out_dir, options)
    emit(result, as_json, f"added '{result['identity']}' -> {out_dir}; held-out PSNR {result['eval_before']['psnr']:.2f} -> {result['eval']['psnr']:.2f} dB")


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="New run folder holding the latest checkpoint's weights only.")
@click.option("--json", "as_json", is_flag=True)
@verbosity_options
@report_errors
def export_cmd(run_dir, out_dir, as_json) -> None:
    """Write RUN_DIR's latest checkpoint without optimizer state, portable to other machines."""
    from minerf.train.export import export_run

    result = export_run(run_dir, out_dir)
    emit(result, as_json, f"exported step {result['iteration']} ({len(result['identities'])} identities, {result['bytes'] / 1e6:.1f} MB) -> {out_dir}")
