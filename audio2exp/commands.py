"""Click commands: ``audio2exp train``, ``predict``, ``adapt``, ``evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from minerf_base.cli_support import (
    emit,
    progress_enabled,
    report_errors,
    verbosity_options,
)
from minerf_base.timebase import FPS

_PATH = click.Path(path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def audio2exp() -> None:
    """Speech -> expression coefficients of a prepared clip's expression space, any language."""


@audio2exp.command()
@click.argument("clips", nargs=-1, required=True, type=_PATH)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder: the checkpoint is written here (a run found there is resumed).")
@click.option("--preset", type=click.Choice(["default", "speech", "tiny"]), default="default", show_default=True, help="Network and training recipe (speech: loss weighted toward the speech-driven directions, with variance matching; tiny: for smoke tests).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimiser steps (default: the preset's).")
@click.option("--features", "feature_kind", type=click.Choice(["logmel", "hf", "whisper"]), default="logmel", show_default=True, help="Audio front end: log-mel (no weights), a transformers speech encoder, or Whisper encoder states.")
@click.option("--encoder", default=None, help="For --features hf: local folder or hub name (in your HF cache) of a wav2vec2 / HuBERT / XLS-R model; for --features whisper: a CTranslate2 Whisper folder or hub name (default: the cache, then the installed whisper-base packages).")
@click.option("--layer", type=int, default=-1, show_default=True, help="Which hidden state of the encoder: --features hf: -1 = last; --features whisper: -1 = the encoder's output, K = encoder block K (1-based).")
@click.option("--mouth-components", default=None, help="Comma-separated indices of the mouth coefficients (default: what the expression space declares).")
@click.option("--sync-correct", is_flag=True, help="First find each clip's audio/video offset (up to 0.6 s) and train on the re-aligned clips; one extra training per clip (at most 12).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda.")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="torch CPU threads while training (the network is small: one thread is the fastest on CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@verbosity_options
@report_errors
def train(clips: tuple[Path, ...], out_dir: Path, preset: str, steps: int | None, feature_kind: str, encoder: str | None, layer: int, mouth_components: str | None, sync_correct: bool, seed: int, device: str, threads: int, as_json: bool) -> None:
    """Train on prepared CLIPS (the last 10 % of each is held out). A run folder that holds a
    run resumes it."""
    from dataclasses import replace


    from audio2exp.features import FeatureConfig
    from audio2exp.train import AUDIO2EXP_PRESETS, TrainSession
    from audio2exp.train import train as run

    train_config, net_config = AUDIO2EXP_PRESETS[preset]
    train_config = replace(train_config, seed=seed, sync_correct=sync_correct, **({"steps": steps} if steps else {}))
    comps = None
    if mouth_components:
        try:
            comps = [int(k) for k in mouth_components.split(",") if k.strip()]
        except ValueError:
            raise click.BadParameter("expected comma-separated integers, e.g. 0,1,3", param_hint="--mouth-components") from None
    from minerf_base.threads import torch_threads

    with torch_threads(threads):
        summary = run(
            list(clips),
            out_dir,
            train_config=train_config,
            net_config=net_config,
            feature_config=FeatureConfig(kind=feature_kind, model=encoder, layer=layer),
            mouth_components=comps,
            session=TrainSession(device=device, progress=progress_enabled() and not as_json),
        )
    from checkpoints.distributed import world_from_env

    if not world_from_env().writes:
        return  # under torchrun rank 0 reports for the run
    shifted = {name: lag for name, lag in summary.get("av_offsets", {}).items() if lag}
    realigned = f"; re-aligned (frames the sound came late): {shifted}" if shifted else ("; no clip out of sync" if sync_correct else "")
    emit(summary, as_json, f"trained {summary['step']} steps on {summary['clips']} clips ({summary['frames']} frames) -> {out_dir}{realigned}")


@audio2exp.command()
@click.argument("audio", type=_PATH)
@click.option("--checkpoint", required=True, type=_PATH, help="Run folder written by `audio2exp train`.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the expressions (.npy, float32, frames x d).")
@click.option("--fps", type=click.FloatRange(1.0, 240.0), default=float(FPS), show_default=True, help="Frame rate of the output.")
@click.option("--identity", default=None, help="Name of a training clip whose mean expression to use (default: the average).")
@click.option("--reference-clip", "reference_clips", multiple=True, type=_PATH, help="Prepared clip(s) of the target person: their mean expression is the base.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Speaker calibration written by `audio2exp adapt` (pass the same person's --reference-clip too).")
@click.option("--lift", is_flag=True, help="Carry the predicted opening, width and jaw motion onto the --reference-clip's own tracked expressions, clamped to their range (what minerf-dub does by default).")
@click.option("--encoder", default=None, help="New location of the checkpoint's encoder (hf or whisper features).")
@click.option("--chunk-seconds", type=click.FloatRange(1.0, 3600.0), default=60.0, show_default=True, help="Audio processed at once (memory bound).")
@click.option("--no-silence-gate", is_flag=True, help="Do not force the rest expression in silent frames.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@verbosity_options
@report_errors
def predict(audio: Path, checkpoint: Path, output: Path, fps: float, identity: str | None, reference_clips: tuple[Path, ...], calibration: Path | None, lift: bool, encoder: str | None, chunk_seconds: float, no_silence_gate: bool, device: str, as_json: bool) -> None:
    """Predict expressions for every frame of AUDIO (any format librosa/soundfile read)."""
    from audio2exp.predict import PredictJob, predict_to_file

    if output.suffix != ".npy":
        raise click.BadParameter(f"{output} must end in .npy", param_hint="--output")
    job = PredictJob(
        audio,
        checkpoint,
        output,
        identity=identity,
        reference_clips=reference_clips,
        calibration=calibration,
        lift=lift,
        encoder=encoder,
        fps=fps,
        chunk_seconds=chunk_seconds,
        silence_gate=not no_silence_gate,
        device=device,
    )
    summary = predict_to_file(job, progress=progress_enabled() and not as_json)
    emit(summary, as_json, f"wrote {summary['frames']} x {summary['dim']} expressions ({summary['fps']:g} fps, {summary['seconds']:.1f} s of audio) -> {output}")


@audio2exp.command()
@click.argument("clip", type=_PATH)
@click.option("--checkpoint", required=True, type=_PATH, help="Run folder written by `audio2exp train`.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the calibration (.json).")
@click.option("--holdout", type=click.FloatRange(0.0, 0.9), default=0.0, show_default=True, help="Leave the last fraction of the clip out of the fit (to evaluate on it).")
@click.option("--align", is_flag=True, help="First find and undo the clip's audio/video offset (for a source whose sound is out of step with its lips; unreliable on a few seconds of speech).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@verbosity_options
@report_errors
def adapt(clip: Path, checkpoint: Path, output: Path, holdout: float, align: bool, device: str, as_json: bool) -> None:
    """Fit a speaker calibration on a prepared CLIP of the person (their speech and tracked
    expressions); use it with `predict --calibration`."""
    from audio2exp.adapt import calibrate_on_clip
    from audio2exp.predict import Audio2ExpPredictor
    from minerf_base.clip import load_clip

    predictor = Audio2ExpPredictor.load(checkpoint, device=device)
    prepared = load_clip(clip, check_files=False)
    frames = prepared.split(holdout)[0] if holdout > 0 else None
    calibration = calibrate_on_clip(predictor, prepared, frames, align=align)
    calibration.save(output)
    late = f" (its sound is {abs(calibration.offset)} frames {'late' if calibration.offset > 0 else 'early'}: re-aligned for the fit)" if calibration.offset else ""
    emit({"output": str(output), "frames": calibration.frames, "mouth_components": calibration.mouth, "offset": calibration.offset}, as_json, f"calibrated on {calibration.frames} frames of {clip}{late} -> {output}")


@audio2exp.command()
@click.argument("clips", nargs=-1, required=True, type=_PATH)
@click.option("--protocol", type=click.Choice(["loso", "heldout"]), default="loso", show_default=True, help="loso: train one network per speaker on all other speakers' clips and score the held-out speaker (clips of one person are one group); heldout: score --checkpoint on the held-out frames of CLIPS.")
@click.option("--checkpoint", type=_PATH, default=None, help="heldout: run folder written by `audio2exp train`.")
@click.option("--features", "feature_kind", type=click.Choice(["logmel", "whisper"]), default="whisper", show_default=True, help="loso: audio front end of the networks and of the ridge baseline.")
@click.option("--encoder", default=None, help="loso with --features whisper: a CTranslate2 Whisper folder or hub name.")
@click.option("--layer", type=int, default=-1, show_default=True, help="loso with --features whisper: -1 = the encoder's output, K = encoder block K (the shipped default reads block 3, as `audio2exp train --layer 3`).")
@click.option("--preset", type=click.Choice(["default", "speech", "tiny"]), default="speech", show_default=True, help="loso: training recipe.")
@click.option("--steps", type=click.IntRange(1), default=None, help="loso: optimiser steps per network (default: the preset's).")
@click.option("--max-folds", type=click.IntRange(2), default=None, help="loso: deal the speakers into this many folds instead of one per speaker (faster; still no speaker on both sides).")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None, help="loso: where the fold runs go (default: a temporary folder).")
@click.option("--speech", "speech_files", multiple=True, type=_PATH, help="heldout: speech files on which to check that the mouth follows the speech.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="torch CPU threads while training.")
@verbosity_options
@report_errors
def evaluate(clips: tuple[Path, ...], protocol: str, checkpoint: Path | None, feature_kind: str, encoder: str | None, layer: int, preset: str, steps: int | None, max_folds: int | None, work: Path | None, speech_files: tuple[Path, ...], device: str, threads: int) -> None:
    """Score audio2exp on CLIPS inside speech, per speaker and pooled, against the clip mean,
    the envelope regression and a ridge regression on the same features; print JSON."""
    if protocol == "heldout":
        _heldout(list(clips), checkpoint, speech_files, device)
        return
    if checkpoint is not None:
        raise click.BadParameter("leave-one-speaker-out trains its own networks; score a trained checkpoint with --protocol heldout", param_hint="--checkpoint")
    import tempfile

    from audio2exp.features import FeatureConfig
    from audio2exp.loso import LosoOptions, loso_evaluate
    from minerf_base.threads import torch_threads

    options = LosoOptions(preset=preset, features=FeatureConfig(kind=feature_kind, model=encoder, layer=layer if feature_kind == "whisper" else -1), overrides={"steps": steps} if steps else {}, max_folds=max_folds)
    with tempfile.TemporaryDirectory() as tmp, torch_threads(threads):
        emit(loso_evaluate(list(clips), work or Path(tmp), options), True)


def _heldout(clips: list[Path], checkpoint: Path | None, speech_files: tuple[Path, ...], device: str) -> None:
    """``evaluate --protocol heldout``: the checkpoint on the held-out frames of ``clips``."""
    from audio2exp.evaluate import heldout_comparison, speech_following
    from audio2exp.predict import Audio2ExpPredictor

    if checkpoint is None:
        raise click.BadParameter("--protocol heldout scores a trained checkpoint: pass --checkpoint RUN", param_hint="--checkpoint")
    predictor = Audio2ExpPredictor.load(checkpoint, device=device)
    result = {"heldout": heldout_comparison(predictor, clips)}
    if speech_files:
        result["speech_following"] = speech_following(predictor, list(speech_files))
    emit(result, True)
