"""audio2exp on the real clips: held-out comparison with baselines, speech following, smoothness.

    python benchmarks/audio2exp_eval.py [--clips DIR_OF_PREPARED_CLIPS] [--seeds 0 1 2] [--folds 10] > eval.json
    python -m benchmarks.audio2exp_eval ...                     # the same

Prepares every video of ../shared/data/videos at 128 px (unless --clips points at prepared
clips; a video that fails is listed under ``not_prepared``), trains the default network on the first 90 % of each clip with speech, and prints
JSON: for each seed, mean squared error of the mouth coefficients and correlation of the
mouth opening on the held-out last 10 % (network, as is and with a speaker calibration
fitted on each clip's training frames, vs. the clip's mean expression vs. linear regressions
from the audio envelope, one for all clips and one per clip), frame-to-frame change (predicted vs. tracked),
and on the non-English speech of ../shared/data/audio the ROC AUC of the predicted mouth
opening for speech vs. pause frames (with and without the silence gate).

With ``--sync-correct`` every training first finds and undoes each clip's audio/video
offset (audio2exp.av_offset); held-out frames are scored re-aligned by every method.
With ``--folds K`` it also cross-validates (seed 0): K trainings, each holding out the k-th
of K blocks of every clip (every frame is held out once), and reports the mouth MSE over all
frames and the mean over folds of the other measures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from audio2exp.cross_validation import (
    BASELINES,
    configured,
    cross_validate,
    prepared_speech_clips,
    speech_clips,
)
from minerf_base.atomic import atomic_write_text
from minerf_base.cli_support import report_errors

SHARED = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NON_ENGLISH = ("_de", "_es", "_fr", "_pt", "_it", "_ja", "_ko", "_zh")
METHODS = ("audio2exp", "audio2exp_calibrated", *BASELINES)
SUMMARY = ("mouth_mse", "relative_mouth_mse", "all_mse", "opening_corr", "opening_corr_pooled", "mouth_step")
SEED_MEANS = ("mouth_mse", "relative_mouth_mse", "opening_corr_pooled", "opening_corr", "mouth_step")


def non_english_speech() -> list[Path]:
    return [p for p in sorted((SHARED / "audio").glob("*.wav")) if any(tag in p.stem for tag in NON_ENGLISH)]


def summarise(result: dict) -> dict:
    return {k: round(float(result[k]), 4) for k in SUMMARY}


def seed_run(clips: list[Path], speech: list[Path], out: Path, seed: int, sync_correct: bool, overrides: dict | None) -> tuple[dict, dict]:
    """Train with ``seed`` into ``out``; (this run's entry of the report, its held-out comparison)."""
    from audio2exp.evaluate import heldout_comparison, speech_following
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    config, net = configured("default", overrides)
    config = replace(config, seed=seed, sync_correct=sync_correct)
    start = time.perf_counter()
    summary = train(clips, out, train_config=config, net_config=net)
    train_s = time.perf_counter() - start
    predictor = Audio2ExpPredictor.load(out)
    held = heldout_comparison(predictor, clips)
    follow = {gate: speech_following(predictor, speech, silence_gate_on=gate) for gate in (True, False)}
    entry = {
        "seed": seed,
        "train_seconds": round(train_s, 1),
        "steps": summary["step"],
        "av_offsets": held["av_offsets"],
        "heldout": {name: summarise(held[name]) for name in METHODS},
        "clips_where_beating_every_baseline": {
            name: sum(held[name]["per_clip"][c]["mouth_mse"] < min(held[b]["per_clip"][c]["mouth_mse"] for b in BASELINES) for c in held["clips"]) for name in ("audio2exp", "audio2exp_calibrated")
        },
        "heldout_per_clip": {clip: {name: [round(held[name]["per_clip"][clip][k], 3) for k in ("mouth_mse", "opening_corr")] for name in METHODS} for clip in held["clips"]},
        "readout_corr_on_tracked": round(held["readout_corr_on_tracked"], 4),
        "tracked_mouth_step": round(held["tracked_mouth_step"], 4),
        "speech_following": {("gate_on" if gate else "gate_off"): following_summary(r) for gate, r in follow.items()},
    }
    return entry, held


def following_summary(result: dict) -> dict:
    """The speech-vs-pause ROC AUC of :func:`audio2exp.evaluate.speech_following`, shortened."""
    files = result["files"].values()
    return {
        "mean_auc": round(result["mean_auc"], 3),
        "min_auc": round(result["min_auc"], 3),
        "files": len(files),
        "mean_pause_step_over_speech_step": round(sum(f["pause_step_over_speech_step"] for f in files) / max(1, len(files)), 3),
    }


def mean_over_seeds(runs: list[dict]) -> dict:
    return {method: {metric: round(sum(r["heldout"][method][metric] for r in runs) / len(runs), 4) for metric in SEED_MEANS} for method in METHODS}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=None, help="folder of prepared clips (default: prepare ../shared/data/videos)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sync-correct", action="store_true", help="train with audio/video offset correction (audio2exp train --sync-correct)")
    parser.add_argument("--folds", type=int, default=0, help="also cross-validate with this many blocks per clip (0: no)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args()


@report_errors
def main() -> None:
    args = parse_args()
    overrides = {"steps": args.steps} if args.steps else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips, not_prepared = (speech_clips(args.clips), {}) if args.clips else prepared_speech_clips(SHARED / "videos", work)
        speech = non_english_speech()
        runs = []
        for seed in args.seeds:
            entry, held = seed_run(clips, speech, work / f"run{seed}", seed, args.sync_correct, overrides)
            runs.append(entry)
        report = {
            "clips": [p.name for p in clips],
            "not_prepared": not_prepared,
            "heldout_frames": held["heldout_frames"],
            "train_frames": held["train_frames"],
            "mouth_components": held["mouth_components"],
            "speech_files": [p.name for p in speech],
            "runs": runs,
            "mean_over_seeds": mean_over_seeds(runs),
        }
        if args.folds:
            report["cross_validation"] = cross_validate(clips, args.folds, work, METHODS, args.sync_correct, overrides=overrides)
    text = json.dumps(report, indent=2)
    if args.out is not None:
        atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
