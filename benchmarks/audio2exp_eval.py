"""audio2exp on the real clips: held-out comparison with baselines, speech following, smoothness.

    python benchmarks/audio2exp_eval.py [--clips DIR_OF_PREPARED_CLIPS] [--seeds 0 1 2] [--folds 10] > eval.json

Prepares every video of ../shared/data/videos at 128 px (unless --clips points at prepared
clips), trains the default network on the first 90 % of each clip with speech, and prints
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
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
NON_ENGLISH = ("_de", "_es", "_fr", "_pt", "_it", "_ja", "_ko", "_zh")


def prepared_clips(folder: Path | None, work: Path) -> list[Path]:
    from minerf.prepare.pipeline import PrepareOptions, prepare
    from minerf_base.clip import is_complete, load_clip

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


def configured(preset: str = "default", overrides: dict | None = None):
    """``(Audio2ExpTrainConfig, Audio2ExpConfig)`` of ``preset`` with ``overrides`` ({field: value}, each
    field of either dataclass) applied; an unknown field is an error."""
    from dataclasses import fields, replace

    from audio2exp.train import AUDIO2EXP_PRESETS

    config, net = AUDIO2EXP_PRESETS[preset]
    overrides = dict(overrides or {})
    train_keys = {f.name for f in fields(config)}
    net_keys = {f.name for f in fields(net)}
    unknown = sorted(set(overrides) - train_keys - net_keys)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}: use fields of Audio2ExpTrainConfig or Audio2ExpConfig")
    for key, value in overrides.items():
        default = getattr(config if key in train_keys else net, key)
        if not _same_kind(default, value):
            raise ValueError(f"setting {key}={value!r}: expected a value like {default!r}")
    net = type(net).from_dict(net.to_dict() | {k: v for k, v in overrides.items() if k in net_keys})
    return replace(config, **{k: v for k, v in overrides.items() if k in train_keys}), net


def _same_kind(default, value) -> bool:
    """Whether ``value`` can stand for a setting whose default is ``default``."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def cross_validate(clips: list[Path], folds: int, work: Path, methods: tuple[str, ...], sync_correct: bool = False, preset: str = "default", overrides: dict | None = None) -> dict:
    """Train ``folds`` times (block k of every clip held out) and pool the held-out results;
    ``overrides``: settings changed from ``preset`` (:func:`configured`)."""
    from dataclasses import replace

    from audio2exp.evaluate import heldout_comparison
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    per_fold = []
    for k in range(folds):
        config, net = configured(preset, overrides)
        config = replace(config, fold=(k, folds), sync_correct=sync_correct)
        train(clips, work / f"fold{k}", train_config=config, net_config=net)
        per_fold.append(heldout_comparison(Audio2ExpPredictor.load(work / f"fold{k}"), clips))
    frames = [h["heldout_frames"] for h in per_fold]
    out: dict = {"folds": folds, "heldout_frames": int(sum(frames))}
    for name in methods:
        out[name] = {
            "mouth_mse": round(float(sum(h[name]["mouth_mse"] * n for h, n in zip(per_fold, frames)) / sum(frames)), 4),
            **{key: round(sum(h[name][key] for h in per_fold) / folds, 4) for key in ("relative_mouth_mse", "opening_corr_pooled", "opening_corr", "mouth_step")},
            "mouth_mse_per_clip": {c: round(sum(h[name]["per_clip"][c]["mouth_mse"] for h in per_fold) / folds, 3) for c in per_fold[0]["clips"]},
        }
    out["tracked_mouth_step"] = round(sum(h["tracked_mouth_step"] for h in per_fold) / folds, 4)
    out["folds_where_audio2exp_mse_beats_every_baseline"] = sum(h["audio2exp"]["mouth_mse"] < min(h[b]["mouth_mse"] for b in ("mean_expression", "envelope_linear", "envelope_linear_per_clip")) for h in per_fold)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=None, help="folder of prepared clips (default: prepare ../shared/data/videos)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sync-correct", action="store_true", help="train with audio/video offset correction (audio2exp train --sync-correct)")
    parser.add_argument("--folds", type=int, default=0, help="also cross-validate with this many blocks per clip (0: no)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()

    from dataclasses import replace

    from audio2exp.evaluate import heldout_comparison, speech_following
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    overrides = {"steps": args.steps} if args.steps else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = prepared_clips(args.clips, work)
        speech = non_english_speech()
        methods = ("audio2exp", "audio2exp_calibrated", "mean_expression", "envelope_linear", "envelope_linear_per_clip")
        baselines = ("mean_expression", "envelope_linear", "envelope_linear_per_clip")
        runs = []
        for seed in args.seeds:
            config, net = configured("default", overrides)
            config = replace(config, seed=seed, sync_correct=args.sync_correct)
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
                    "av_offsets": held["av_offsets"],
                    "heldout": {name: summarise(held[name]) for name in methods},
                    "clips_where_beating_every_baseline": {
                        name: sum(held[name]["per_clip"][c]["mouth_mse"] < min(held[b]["per_clip"][c]["mouth_mse"] for b in baselines) for c in held["clips"]) for name in ("audio2exp", "audio2exp_calibrated")
                    },
                    "heldout_per_clip": {
                        clip: {name: [round(held[name]["per_clip"][clip][k], 3) for k in ("mouth_mse", "opening_corr")] for name in methods} for clip in held["clips"]
                    },
                    "readout_corr_on_tracked": round(held["readout_corr_on_tracked"], 4),
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
        for method in methods:
            for metric in ("mouth_mse", "relative_mouth_mse", "opening_corr_pooled", "opening_corr", "mouth_step"):
                values = [r["heldout"][method][metric] for r in runs]
                report.setdefault("mean_over_seeds", {}).setdefault(method, {})[metric] = round(sum(values) / len(values), 4)
        if args.folds:
            report["cross_validation"] = cross_validate(clips, args.folds, work, methods, args.sync_correct, overrides=overrides)
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
