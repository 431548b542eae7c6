"""Self-dub lip-sync accuracy: mouth landmark distance (LMD) to the real frames when a video is
dubbed with its own audio, and with the same audio cut into 0.2-0.5 s segments and shuffled
(the control); prints JSON.

    python benchmarks/self_dub_lmd.py                          # the generated demo portrait
    python benchmarks/self_dub_lmd.py --video V --run RUN --audio2exp A2E [--video V2 ...]

Without --run / --audio2exp it trains the demo's models on the demo portrait as
``minerf-dub --demo`` does (tiny MI-NeRF, 400 steps, default audio2exp; ``--resolution``,
``--nerf-steps`` change that) and self-dubs the portrait. ``--tracked`` also re-renders the
clip's own tracked expressions (no audio2exp): the LMD the NeRF alone reaches. With several
``--video`` it also reports ``pooled``: own vs shuffled over all their frames together.
Every clip's result is also kept in ``WORK/clipK/result.json`` as soon as it is done.

    python benchmarks/self_dub_lmd.py --pool WORK [WORK2 ...]

pools the self-dubs already in earlier work folders (their ``clip*/landmarks.npz``), e.g.
clips dubbed with different models, without rendering anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def demo_models(work: Path, resolution: int, nerf_steps: int, a2e_preset: str, seed: int) -> tuple[Path, Path, Path]:
    """(video, run, audio2exp) trained on the generated portrait like ``minerf-dub --demo``."""
    from audio2exp.train import AUDIO2EXP_PRESETS
    from audio2exp.train import train as train_a2e
    from minerf.demo_media import DemoSpec, make_demo_video
    from minerf.train.trainer import TrainOptions, train
    from minerf_dub.sources import cached_clip

    video = make_demo_video(work / "demo_input.mp4", DemoSpec(seconds=4.0, size=384))
    clip = cached_clip(video, resolution, progress=False).path
    train([clip], work / "run", TrainOptions(preset="tiny", iterations=nerf_steps, validate_every=0, evaluate=False, progress=False, seed=seed))
    tc, nc = AUDIO2EXP_PRESETS[a2e_preset]
    train_a2e([clip], work / "a2e", train_config=tc, net_config=nc)
    return video, work / "run", work / "a2e"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, action="append", default=[])
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--audio2exp", type=Path, default=None)
    parser.add_argument("--resolution", type=int, default=96, help="demo only: crop size")
    parser.add_argument("--nerf-steps", type=int, default=400, help="demo only: MI-NeRF steps")
    parser.add_argument("--a2e-preset", default="default", help="demo only: audio2exp preset")
    parser.add_argument("--personalize-steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (and demo training seed)")
    parser.add_argument("--tracked", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--pool", type=Path, nargs="+", default=None, metavar="WORK", help="only pool the self-dubs in these work folders")
    args = parser.parse_args()
    if args.pool:
        print(json.dumps(pool_folders(args.pool, args.seed), indent=2))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="self_dub_lmd_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MINERF_CACHE", str(work / "cache"))
    import torch

    from minerf_base.atomic import atomic_write_json
    from minerf_dub.pipeline import DubOptions
    from minerf_dub.self_dub import self_dub_lmd

    start = time.perf_counter()
    videos, run, a2e = list(args.video), args.run, args.audio2exp
    setup = None
    if run is None or a2e is None:
        video, run, a2e = demo_models(work, args.resolution, args.nerf_steps, args.a2e_preset, args.seed)
        videos = videos or [video]
        setup = {"demo": True, "resolution": args.resolution, "nerf_steps": args.nerf_steps, "a2e_preset": args.a2e_preset, "seconds": round(time.perf_counter() - start, 1)}
    options = DubOptions(run=run, audio2exp=a2e, personalize_steps=args.personalize_steps)
    clips = []
    for k, video in enumerate(videos):
        started = time.perf_counter()
        result = self_dub_lmd(video, options, work / f"clip{k}", seed=args.seed, tracked=args.tracked)
        result["seconds"] = round(time.perf_counter() - started, 1)
        atomic_write_json(work / f"clip{k}" / "result.json", result)
        clips.append(result)
    report = {"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(), "setup": setup, "work": str(work), "clips": clips}
    if len(videos) > 1:
        report["pooled"] = pooled([work / f"clip{k}" / "landmarks.npz" for k in range(len(videos))], args.seed)
    print(json.dumps(report, indent=2))


def pooled(files: list[Path], seed: int) -> dict:
    """Own vs shuffled over all self-dubbed videos' frames together (each video's blocks
    resampled from that video); ``files`` are their ``landmarks.npz``."""
    import numpy as np

    from minerf_dub.lmd import pooled_paired_lmd_difference

    videos = []
    for file in files:
        with np.load(file) as points:
            videos.append((points["own"], points["shuffled"], points["real"]))
    return pooled_paired_lmd_difference(videos, seed=seed)


def pool_folders(folders: list[Path], seed: int) -> dict:
    """Each clip's result and the pooled comparison of every ``clip*/landmarks.npz`` in
    ``folders`` (work folders of earlier runs)."""
    files = sorted(file for folder in folders for file in folder.glob("clip*/landmarks.npz"))
    if not files:
        raise SystemExit(f"no clip*/landmarks.npz in {', '.join(map(str, folders))}: pass the --work folders of earlier self-dub runs")
    clips = []
    for file in files:
        summary = file.parent / "result.json"
        clips.append(json.loads(summary.read_text()) if summary.exists() else {"landmarks": str(file)})
    return {"clips": clips, "pooled": pooled(files, seed)}


if __name__ == "__main__":
    main()
