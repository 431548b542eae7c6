"""audio2exp on the real clips: held-out comparison with baselines, speech following, smoothness.

    python benchmarks/audio2exp_eval.py [--clips DIR_OF_PREPARED_CLIPS] [--seeds 0 1 2] > eval.json

Prepares every video of ../shared/data/videos at 128 px (unless --clips points at prepared
clips), trains the default network on the first 90 % of each clip with speech, and prints
JSON: for each seed, mean squared error of the mouth coefficients and correlation of the
mouth opening on the held-out last 10 % (network vs. the clip's mean expression vs. a
linear regression from the audio envelope), frame-to-frame change (predicted vs. tracked),
and on the non-English speech of ../shared/data/audio the ROC AUC of the predicted mouth
opening for speech vs. pause frames (with and without the silence gate).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
NON_ENGLISH = ("_de", "_es", "_fr", "_pt", "_it", "_ja", "_ko", "_zh")


def prepared_clips(folder: Path | None, work: Path) -> list[Path]:
    from minerf.clip import is_complete, load_clip
    from minerf.prepare.pipeline import PrepareOptions, prepare

    if folder is None:
        folder = work / "clips"
        for video in sorted((SHARED / "videos").iterdir()):
            prepare(video, folder / video.stem, PrepareOptions(resolution=128), progress=False)
    clips = [p for p in sorted(folder.iterdir()) if is_complete(p)]
    return [p for p in clips if load_clip(p, check_files=False).has_audio]


def non_english_speech() -> list[Path]:
    return [p for p in sorted((SHARED / "audio").glob("*.wav")) if any(tag in p.stem for tag in NON_ENGLISH)]


def summarise(result: dict) -> dict:
    keep = ("mouth_mse", "relative_mouth_mse", "all_mse", "opening_corr", "opening_corr_pooled", "mouth_step")
    return {k: round(float(result[k]), 4) for k in keep}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=None, help="folder of prepared clips (default: prepare ../shared/data/videos)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()

    from dataclasses import replace

    from audio2exp.evaluate import heldout_comparison, speech_following
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import PRESETS, train

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = prepared_clips(args.clips, work)
        speech = non_english_speech()
        runs = []
        for seed in args.seeds:
            config, net = PRESETS["default"]
            config = replace(config, seed=seed, **({"steps": args.steps} if args.steps else {}))
            start = time.perf_counter()
            summary = train(clips, work / f"run{seed}", train_config=config, net_config=net)
            train_s = time.perf_counter() - start
            predictor = Audio2ExpPredictor.load(work / f"run{seed}")
            held = heldout_comparison(predictor, clips)
            follow = {gate: speech_following(predictor, speech, silence_gate_on=gate) for gate in (True, False)}
            runs.append(
                {
                    "seed": seed,
                    "train_seconds": round(train_s, 1),
                    "steps": summary["step"],
                    "heldout": {name: summarise(held[name]) for name in ("audio2exp", "mean_expression", "envelope_linear")},
                    "clips_where_audio2exp_beats_both_baselines": sum(
                        held["audio2exp"]["per_clip"][c]["mouth_mse"] < min(held["mean_expression"]["per_clip"][c]["mouth_mse"], held["envelope_linear"]["per_clip"][c]["mouth_mse"]) for c in held["clips"]
                    ),
                    "heldout_per_clip_mouth_mse": {
                        clip: {name: round(held[name]["per_clip"][clip]["mouth_mse"], 3) for name in ("audio2exp", "mean_expression", "envelope_linear")} for clip in held["clips"]
                    },
                    "tracked_mouth_step": round(held["tracked_mouth_step"], 4),
                    "speech_following": {
                        ("gate_on" if gate else "gate_off"): {
                            "mean_auc": round(r["mean_auc"], 3),
                            "min_auc": round(r["min_auc"], 3),
                            "files": len(r["files"]),
                            "mean_pause_step_over_speech_step": round(sum(f["pause_step_over_speech_step"] for f in r["files"].values()) / max(1, len(r["files"])), 3),
                        }
                        for gate, r in follow.items()
                    },
                }
            )
        report = {
            "clips": [p.name for p in clips],
            "heldout_frames": held["heldout_frames"],
            "train_frames": held["train_frames"],
            "mouth_components": held["mouth_components"],
            "speech_files": [p.name for p in speech],
            "runs": runs,
        }
        for method in ("audio2exp", "mean_expression", "envelope_linear"):
            for metric in ("mouth_mse", "relative_mouth_mse", "opening_corr_pooled"):
                values = [r["heldout"][method][metric] for r in runs]
                report.setdefault("mean_over_seeds", {}).setdefault(method, {})[metric] = round(sum(values) / len(values), 4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
