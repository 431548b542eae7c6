"""Own SyncNet expert: train on real prepared clips, then detect known audio shifts on
held-out videos. Prints JSON (training budget, per-shift results, accuracy, chance level).

    python benchmarks/lipsync_expert_accuracy.py --work /tmp/lipsync_bench [--steps 600]
    python benchmarks/lipsync_expert_accuracy.py --grid-only       # train on the 6 GRID clips only
    python benchmarks/lipsync_expert_accuracy.py --expert checkpoints/shipped/syncnet-grid6   # test only
    python benchmarks/lipsync_expert_accuracy.py --expert RUN --held-out V1.mp4 V2.mpg ... --max-seconds 8
    python benchmarks/lipsync_expert_accuracy.py --train-clips CLIP... --steps 900 --work W   # already prepared clips
    python -m benchmarks.lipsync_expert_accuracy ...                                       # the same

Clips are prepared (``minerf.prepare.batch.prepare_many``) into ``--work/clips`` (finished clips
are reused; a video that fails is listed under ``not_prepared``), or taken as they are with
``--train-clips``. The held-out videos (default: two GRID videos; ``--held-out`` names others,
``--max-seconds`` scores only their first seconds) are never prepared or trained on: each is
read from the raw video, its faces detected, tracked and cropped once as ``lipsync.score``
does (``lipsync.faces``), and its longest track scored through ``lipsync.score`` (crops given)
with the audio delayed (positive shift) or advanced by 1..6 frames.
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
    parser.add_argument("--train-clips", type=Path, nargs="+", default=None, help="train on these prepared clips instead of preparing the shared videos")
    parser.add_argument("--held-out", type=Path, nargs="+", default=None, help="videos to test on (default: the two held-out GRID videos)")
    parser.add_argument("--max-seconds", type=float, default=None, help="score only the first seconds of each held-out video")
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


def train_on_clips(args: argparse.Namespace, clips: list[Path]) -> Expert:
    """Train an expert on prepared ``clips`` as they are."""
    from lipsync.train import SyncNetTrainConfig, train_expert

    config = SyncNetTrainConfig(steps=args.steps)
    run = args.work / "expert"
    summary = train_expert(clips, run, config, progress=False)
    training = {"steps": summary["steps"], "train_windows": summary["windows"], "last_history": summary["history"][-3:]}
    return Expert(run, config, training, [c.name for c in clips])


def trained(run: Path) -> Expert:
    """An existing expert (run or checkpoint folder) and the clips it was trained on."""
    from lipsync.train import SyncNetTrainConfig
    from lipsync.weights import expert_folder

    meta = json.loads((expert_folder(run) / "checkpoint.json").read_text())
    config = SyncNetTrainConfig.from_dict({**meta["config"]["train"], "model": meta["config"]["model"]})
    training = {"steps": meta["step"], "last_history": meta["history"][-3:]}
    return Expert(run, config, training, [Path(name).name for name in meta["clips"]])


def track_crops(video: Path, max_frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(face crops (N, 224, 224, 3), int16 audio of those frames) of the longest face track
    in the first ``max_frames`` frames of ``video``, cropped as ``lipsync.score`` crops."""
    import itertools

    from lipsync.faces import FaceTrackConfig, crop_tracks, find_tracks
    from lipsync.media import iter_video_frames, read_audio
    from minerf_base.timebase import SAMPLES_PER_FRAME

    config = FaceTrackConfig()
    frames = list(itertools.islice(iter_video_frames(video), max_frames))
    tracks, _, _ = find_tracks(frames, config)
    if not tracks:
        raise SystemExit(f"{video}: no face track (use another held-out video)")
    longest = max(range(len(tracks)), key=lambda k: tracks[k].end - tracks[k].start)
    crops = crop_tracks(frames, tracks, config)[longest]
    track = tracks[longest]
    return crops, read_audio(video)[track.start * SAMPLES_PER_FRAME : track.end * SAMPLES_PER_FRAME]


def shift_trials(run: Path, videos: list[Path], max_shift: int, max_seconds: float | None = None) -> tuple[list[dict], str]:
    """Each held-out video scored with its audio shifted by -max_shift..max_shift frames;
    (trials, weights id)."""
    from lipsync.media import shift_audio
    from lipsync.scoring import score
    from minerf_base.timebase import FPS

    trials = []
    for video in videos:
        crops, audio = track_crops(video, None if max_seconds is None else int(round(max_seconds * FPS)))
        for shift in range(-max_shift, max_shift + 1):
            result = score(crops, shift_audio(audio, shift), weights=run, faces_cropped=True)
            trials.append({"video": video.name, "frames": len(crops), "audio_shift": shift, "expected_offset": -shift, "offset": result.offset, "lse_d": round(result.lse_d, 4), "lse_c": round(result.lse_c, 4)})
    return trials, result.weights_id


def per_video(trials: list[dict]) -> dict[str, dict]:
    """Exact-offset accuracy and the offset at no shift, per held-out video."""
    names = sorted({t["video"] for t in trials})
    rows = {}
    for name in names:
        mine = [t for t in trials if t["video"] == name]
        rows[name] = {"exact": float(np.mean([t["offset"] == t["expected_offset"] for t in mine])), "offset_unshifted": next(t["offset"] for t in mine if t["audio_shift"] == 0)}
    return rows


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
    held_out = args.held_out or [VIDEOS / name for name in HELD_OUT]
    started = time.time()
    if args.expert is not None:
        expert = trained(args.expert)
    elif args.train_clips:
        expert = train_on_clips(args, args.train_clips)
    else:
        videos = sorted(p for p in VIDEOS.iterdir() if p.name not in NOT_SPEECH and (p.name.startswith("grid_") or not args.grid_only))
        expert = train(args, [v for v in videos if v.name not in {h.name for h in held_out}])
    train_seconds = time.time() - started
    trials, weights_id = shift_trials(expert.run, held_out, args.max_shift, args.max_seconds)
    report = {
        "train_videos": expert.train_videos,
        "not_prepared": expert.not_prepared,
        "held_out_videos": [h.name for h in held_out],
        "max_seconds": args.max_seconds,
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
        "per_video": per_video(trials),
        "weights_id": weights_id,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
