"""Scoring speed: seconds of video scored per second of wall time on this machine.

Full pipeline (decode, 25 fps, face detection + tracking, crops, MFCC, SyncNet at full
public size with random weights, LSE) on the real clips in ../shared/data/videos, or on
generated face crops (SyncNet part only) when that folder is absent. Prints JSON.

    python benchmarks/score_speed.py [--threads N]
    python -m benchmarks.score_speed ...          # the same
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIDEOS = SHARED / "videos"
CLIPS = ("grid_bbaf2n.mpg", "interview_man_700px_30fps.mp4", "may_512px.mp4")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    from lipsync.model import SyncNet
    from lipsync.scoring import score
    from minerf.eval.timing import device_name
    from minerf_base.timebase import FPS, SAMPLES_PER_FRAME

    if args.threads:
        torch.set_num_threads(args.threads)
    weights = Path(tempfile.mkdtemp()) / "random_syncnet_v2.model"
    torch.manual_seed(0)
    torch.save({k: v for k, v in SyncNet().state_dict().items() if not k.endswith("num_batches_tracked")}, weights)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = np.random.default_rng(0)
    # warm-up: model load, first-call allocations, detector start
    score(rng.integers(0, 255, (8, 224, 224, 3), dtype=np.uint8), rng.normal(0, 3000, 8 * SAMPLES_PER_FRAME).astype(np.int16), weights, faces_cropped=True, device=device)

    runs = []
    if VIDEOS.is_dir():
        for name in CLIPS:
            started = time.perf_counter()
            result = score(VIDEOS / name, None, weights, device=device)
            seconds = time.perf_counter() - started
            runs.append({"input": name, "video_seconds": result.num_frames / FPS, "wall_seconds": round(seconds, 3), "tracks": len(result.tracks)})
    else:
        frames = rng.integers(0, 255, (125, 224, 224, 3), dtype=np.uint8)
        started = time.perf_counter()
        score(frames, rng.normal(0, 3000, 125 * SAMPLES_PER_FRAME).astype(np.int16), weights, faces_cropped=True, device=device)
        runs.append({"input": "generated 224 px crops (no detection)", "video_seconds": 125 / FPS, "wall_seconds": round(time.perf_counter() - started, 3), "tracks": 1})
    total_video = sum(r["video_seconds"] for r in runs)
    total_wall = sum(r["wall_seconds"] for r in runs)
    print(json.dumps({
        "device": device_name(torch.device(device)),
        "runs": runs,
        "video_seconds_per_second": round(total_video / total_wall, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
