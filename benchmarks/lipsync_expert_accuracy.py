"""Own SyncNet expert: train on real prepared clips, then detect known audio shifts on
held-out videos. Prints JSON (training budget, per-shift results, accuracy, chance level).

    python benchmarks/lipsync_expert_accuracy.py --work /tmp/lipsync_bench [--steps 600]
    python benchmarks/lipsync_expert_accuracy.py --grid-only       # train on the 6 GRID clips only
    python benchmarks/lipsync_expert_accuracy.py --expert checkpoints/shipped/syncnet-grid6   # test only

Clips are prepared with ``minerf prepare`` into ``--work`` (reused when present). The held-out
videos are never prepared or trained on; they are scored from the raw video through
``lipsync.score`` with their audio delayed (positive shift) or advanced by 1..6 frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
HELD_OUT = ("grid_sbia1a.mpg", "grid_swiz3n.mpg")
NOT_SPEECH = ("silent_expressions_no_speech.mp4",)


def prepare(video: Path, work: Path, resolution: int) -> Path:
    out = work / video.stem
    if not (out / "clip.json").is_file():
        cmd = [sys.executable, "-c", "from cli import minerf; minerf()", "prepare", str(video), "-o", str(out), "--resolution", str(resolution), "-q"]
        subprocess.run(cmd, check=True, cwd=ROOT)
    return out


def main() -> None:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/lipsync_bench"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--max-shift", type=int, default=6)
    parser.add_argument("--grid-only", action="store_true", help="train on the GRID clips only (CC BY 4.0, the ones an expert that ships may use)")
    parser.add_argument("--expert", type=Path, default=None, help="test this expert (run or checkpoint folder) instead of training one")
    args = parser.parse_args()

    import torch

    from lipsync.media import read_audio, shift_audio
    from lipsync.scoring import score
    from lipsync.train import SyncNetTrainConfig, train_expert
    from lipsync.weights import expert_folder

    videos = sorted(p for p in VIDEOS.iterdir() if p.name not in NOT_SPEECH and (p.name.startswith("grid_") or not args.grid_only))
    train_videos = [v for v in videos if v.name not in HELD_OUT]
    config = SyncNetTrainConfig(steps=args.steps)
    started = time.time()
    if args.expert is None:
        clips = [prepare(v, args.work / "clips", args.resolution) for v in train_videos]
        run = args.work / "expert"
        summary = train_expert(clips, run, config, progress=False)
        training = {"steps": summary["steps"], "train_windows": summary["windows"], "last_history": summary["history"][-3:]}
    else:
        run = args.expert
        meta = json.loads((expert_folder(run) / "checkpoint.json").read_text())
        config = SyncNetTrainConfig.from_dict({**meta["config"]["train"], "model": meta["config"]["model"]})
        train_videos = [Path(name) for name in meta["clips"]]  # the clips it was trained on
        training = {"steps": meta["step"], "last_history": meta["history"][-3:]}
    train_seconds = time.time() - started

    trials = []
    for name in HELD_OUT:
        video = VIDEOS / name
        audio = read_audio(video)
        for shift in range(-args.max_shift, args.max_shift + 1):
            result = score(video, shift_audio(audio, shift), weights=run)
            trials.append({"video": name, "audio_shift": shift, "expected_offset": -shift, "offset": result.offset, "lse_d": round(result.lse_d, 4), "lse_c": round(result.lse_c, 4)})
    correct = [t["offset"] == t["expected_offset"] for t in trials]
    within1 = [abs(t["offset"] - t["expected_offset"]) <= 1 for t in trials]
    # the shift found relative to the same video's unshifted audio (a video's own offset cancels)
    unshifted = {t["video"]: t["offset"] for t in trials if t["audio_shift"] == 0}
    relative = [t["offset"] - unshifted[t["video"]] == t["expected_offset"] for t in trials if t["audio_shift"] != 0]
    report = {
        "train_videos": [v.name for v in train_videos],
        "held_out_videos": list(HELD_OUT),
        "training": {
            **training,
            "batch_size": config.batch_size,
            "negatives": config.negatives,
            "model": vars(config.model),
            "seconds_this_call": round(train_seconds, 1),
            "device": "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)",
        },
        "trials": trials,
        "accuracy_exact": float(np.mean(correct)),
        "accuracy_within_1_frame": float(np.mean(within1)),
        "accuracy_shift_relative_to_unshifted": float(np.mean(relative)),
        "chance_exact": 1 / 31,
        "weights_id": result.weights_id,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
