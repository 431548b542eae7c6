"""Own SyncNet expert: train on real prepared clips, then detect known audio shifts on
held-out videos. Prints JSON (training budget, per-shift results, accuracy, chance level).

    python benchmarks/lipsync_expert_accuracy.py --work /tmp/lipsync_bench [--steps 600]
    python benchmarks/lipsync_expert_accuracy.py --grid-only       # train on the 6 GRID clips only
    python benchmarks/lipsync_expert_accuracy.py --expert checkpoints/shipped/syncnet-grid6   # test only
    python -m benchmarks.lipsync_expert_accuracy ...                                       # the same

Clips are prepared (``minerf.prepare.batch.prepare_many``) into ``--work/clips`` (finished clips
are reused; a video that fails is listed under ``not_prepared``). The held-out
videos are never prepared or trained on; they are scored from the raw video through
``lipsync.score`` with their audio delayed (positive shift) or advanced by 1..6 frames.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minerf_base.cli_support import report_errors

SHARED = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIDEOS = SHARED / "videos"
HELD_OUT = ("grid_sbia1a.mpg", "grid_swiz3n.mpg")
NOT_SPEECH = ("silent_expressions_no_speech.mp4",)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/lipsync_bench"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--max-shift", type=int, default=6)
    parser.add_argument("--grid-only", action="store_true", help="train on the GRID clips only (CC BY 4.0, the ones an expert that ships may use)")
    parser.add_argument("--expert", type=Path, default=None, help="test this expert (run or checkpoint folder) instead of training one")
    return parser.parse_args()


@dataclass
class Expert:
    """The expert under test and what it was trained on."""

    run: Path
    config: Any  # lipsync.train.SyncNetTrainConfig
    training: dict
    train_videos: list[str]
    not_prepared: dict[str, str] = field(default_factory=dict)


def train(args: argparse.Namespace, videos: list[Path]) -> Expert:
    """Prepare ``videos`` and train an expert on the clips that were prepared."""
    from lipsync.train import SyncNetTrainConfig, train_expert
    from minerf.prepare.batch import prepare_many
    from minerf.prepare.pipeline import PrepareOptions

    batch = prepare_many(videos, args.work / "clips", PrepareOptions(resolution=args.resolution), progress=False)
    config = SyncNetTrainConfig(steps=args.steps)
    run = args.work / "expert"
    summary = train_expert(batch.clips, run, config, progress=False)
    training = {"steps": summary["steps"], "train_windows": summary["windows"], "last_history": summary["history"][-3:]}
    return Expert(run, config, training, [v.video.name for v in batch.videos if v.error is None], batch.failures)


def trained(run: Path) -> Expert:
    """An existing expert (run or checkpoint folder) and the clips it was trained on."""
    from lipsync.train import SyncNetTrainConfig
    from lipsync.weights import expert_folder

    meta = json.loads((expert_folder(run) / "checkpoint.json").read_text())
    config = SyncNetTrainConfig.from_dict({**meta["config"]["train"], "model": meta["config"]["model"]})
    training = {"steps": meta["step"], "last_history": meta["history"][-3:]}
    return Expert(run, config, training, [Path(name).name for name in meta["clips"]])


def shift_trials(run: Path, max_shift: int) -> tuple[list[dict], str]:
    """Each held-out video scored with its audio shifted by -max_shift..max_shift frames;
    (trials, weights id)."""
    from lipsync.media import read_audio, shift_audio
    from lipsync.scoring import score

    trials = []
    for name in HELD_OUT:
        video = VIDEOS / name
        audio = read_audio(video)
        for shift in range(-max_shift, max_shift + 1):
            result = score(video, shift_audio(audio, shift), weights=run)
            trials.append({"video": name, "audio_shift": shift, "expected_offset": -shift, "offset": result.offset, "lse_d": round(result.lse_d, 4), "lse_c": round(result.lse_c, 4)})
    return trials, result.weights_id


def accuracies(trials: list[dict]) -> dict:
    correct = [t["offset"] == t["expected_offset"] for t in trials]
    within1 = [abs(t["offset"] - t["expected_offset"]) <= 1 for t in trials]
    # the shift found relative to the same video's unshifted audio (a video's own offset cancels)
    unshifted = {t["video"]: t["offset"] for t in trials if t["audio_shift"] == 0}
    relative = [t["offset"] - unshifted[t["video"]] == t["expected_offset"] for t in trials if t["audio_shift"] != 0]
    return {
        "accuracy_exact": float(np.mean(correct)),
        "accuracy_within_1_frame": float(np.mean(within1)),
        "accuracy_shift_relative_to_unshifted": float(np.mean(relative)),
        "chance_exact": 1 / 31,
    }


@report_errors
def main() -> None:
    import torch

    from minerf.eval.timing import device_name

    args = parse_args()
    videos = sorted(p for p in VIDEOS.iterdir() if p.name not in NOT_SPEECH and (p.name.startswith("grid_") or not args.grid_only))
    started = time.time()
    expert = train(args, [v for v in videos if v.name not in HELD_OUT]) if args.expert is None else trained(args.expert)
    train_seconds = time.time() - started
    trials, weights_id = shift_trials(expert.run, args.max_shift)
    report = {
        "train_videos": expert.train_videos,
        "not_prepared": expert.not_prepared,
        "held_out_videos": list(HELD_OUT),
        "training": {
            **expert.training,
            "batch_size": expert.config.batch_size,
            "negatives": expert.config.negatives,
            "model": vars(expert.config.model),
            "seconds_this_call": round(train_seconds, 1),
            "device": device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        },
        "trials": trials,
        **accuracies(trials),
        "weights_id": weights_id,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
