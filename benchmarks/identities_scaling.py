"""Paper Fig. 4 at small scale: time to reach a held-out PSNR with ONE model for N identities
versus N single-identity models (same preset, same machine).

Clips: prepared clips in --clips-dir (default: the GRID videos of ../shared/data/videos are
prepared there at 128 px first). Prints JSON and writes a PNG plot.

    python benchmarks/identities_scaling.py --clips-dir /tmp/grid --counts 1 2 4 8 --target-psnr 22
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _nerf_common import ROOT

VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def prepared_clips(clips_dir: Path, resolution: int) -> list[Path]:
    from minerf.clip import is_complete
    from minerf.prepare.pipeline import PrepareOptions, prepare

    clips = []
    for video in sorted(VIDEOS.glob("grid_*.mpg")):
        out = clips_dir / video.stem
        if not is_complete(out):
            prepare(video, out, PrepareOptions(resolution=resolution), progress=False)
        clips.append(out)
    if not clips:
        raise SystemExit(f"no GRID videos in {VIDEOS}")
    return clips


def time_to_target(clips: list[Path], run_dir: Path, args) -> dict:
    """Train in chunks of --eval-every steps; training seconds until held-out PSNR >= target."""
    from minerf.train.evaluate import evaluate_heldout
    from minerf.train.trainer import TrainOptions, train
    from minerf.train.video import RunRenderer

    seconds, step, history = 0.0, 0, []
    while step < args.max_steps:
        step = min(args.max_steps, step + args.eval_every)
        opts = TrainOptions(preset=args.preset, iterations=args.max_steps, stop_at=step, checkpoint_every=10**9, validate_every=0, evaluate=False, progress=False)
        start = time.perf_counter()
        train(clips, run_dir, opts)
        seconds += time.perf_counter() - start
        renderer = RunRenderer.open(run_dir, "cpu")
        result = evaluate_heldout(renderer.run.model, renderer.data, False, args.eval_frames)
        history.append({"step": step, "train_seconds": round(seconds, 1), "psnr": round(result["psnr"], 3)})
        print(json.dumps({"clips": len(clips), **history[-1]}), flush=True)
        if result["psnr"] >= args.target_psnr:
            return {"reached": True, "seconds": round(seconds, 1), "steps": step, "history": history}
    return {"reached": False, "seconds": round(seconds, 1), "steps": step, "history": history}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips-dir", type=Path, default=Path("/tmp/minerf-grid-128"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/minerf-identities-scaling"))
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--target-psnr", type=float, default=22.0)
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-frames", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--plot", type=Path, default=Path("identities_scaling.png"))
    args = ap.parse_args()

    clips = prepared_clips(args.clips_dir, args.resolution)
    single: dict[int, dict] = {}
    rows = []
    for n in args.counts:
        if n > len(clips):
            break
        for k in range(n):
            if k not in single:
                single[k] = time_to_target([clips[k]], args.work / f"single_{k}", args)
        joint = single[0] if n == 1 else time_to_target(clips[:n], args.work / f"joint_{n}", args)
        separate = sum(single[k]["seconds"] for k in range(n))
        rows.append(
            {
                "identities": n,
                "one_model_seconds": joint["seconds"],
                "one_model_reached": joint["reached"],
                "separate_models_seconds": separate,
                "separate_models_reached": all(single[k]["reached"] for k in range(n)),
                # only meaningful when both reached the target
                "ratio_one_over_separate": round(joint["seconds"] / separate, 3) if separate and joint["reached"] and all(single[k]["reached"] for k in range(n)) else None,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    report = {"benchmark": "identities_scaling", "preset": args.preset, "target_psnr": args.target_psnr, "max_steps": args.max_steps, "rows": rows, "single": single}
    print(json.dumps(report, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ns = [r["identities"] for r in rows]
    ax.plot(ns, [r["one_model_seconds"] for r in rows], "o-", label="one MI-NeRF for N identities")
    ax.plot(ns, [r["separate_models_seconds"] for r in rows], "s--", label="N single-identity models")
    ax.set_xlabel("identities N")
    ax.set_ylabel(f"training seconds to {args.target_psnr} dB")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
