"""Does the rendered mouth follow the expression? For each ``--run NAME=DIR`` (old vs new):

* rendered vs tracked inner-lip opening (the face tracker run on the renders) on held-out
  frames, per identity and pooled (``minerf.eval.mouth.mouth_follow``);
* the swap test: the most closed training frame rendered with the clip's most open tracked
  expression, lip-box change vs the real open-vs-closed change, per identity;
* held-out face-crop PSNR / SSIM and lip-box PSNR.

    python benchmarks/mouth_follow.py --run new=RUN_DIR --run old=checkpoints/shipped/minerf-grid8-fast \\
        [--frames-per-clip 8] [--identities grid_swiz3n,grid_bbaf2n] [--training-frames] [--threads 2]
    python -m benchmarks.mouth_follow ...

Runs whose identities differ are each measured on their own identities (``--identities``
limits both to the named ones they share).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def _lip_psnr(model, data, smooth: bool, frames_per_clip: int, keep: list[int]) -> dict[str, float]:
    from minerf.eval.metrics import psnr
    from minerf.eval.mouth import evenly, lip_box
    from minerf.render.conditioning import render_clip_frame

    values: dict[str, list[float]] = {}
    for ci in keep:
        clip = data.clips[ci]
        for t in evenly(data.splits[ci][1], frames_per_clip):
            box = lip_box(clip.landmarks2d[t], clip.resolution)
            pred = render_clip_frame(model, data, ci, t, smooth, box)["rgb"].cpu().numpy()
            x0, y0, x1, y1 = box
            values.setdefault(data.identity_names[data.identity_of_clip[ci]], []).append(psnr(pred, clip.frame(t)[y0:y1, x0:x1].astype(np.float32) / 255.0))
    return {name: round(float(np.mean(v)), 2) for name, v in values.items()} | {"pooled": round(float(np.mean([x for v in values.values() for x in v])), 2)}


def _subset(data, names: list[str] | None):
    from minerf.data import MultiClipData

    if not names:
        return data, list(range(len(data.clips)))
    keep = [ci for ci, ident in enumerate(data.identity_of_clip) if data.identity_names[ident] in names]
    sub = MultiClipData([data.clips[ci] for ci in keep], data.identity_names, [data.identity_of_clip[ci] for ci in keep], data.holdout)
    sub.latent_offset = data.latent_offset[keep]
    return sub, keep


def measure(path: str, frames_per_clip: int, names: list[str] | None, device: str, heldout: bool = True) -> dict:
    from minerf.eval.heldout import evaluate_heldout
    from minerf.eval.mouth import mouth_follow, swap_test
    from minerf.prepare.face_tracker import FaceMeshTracker
    from minerf.render.video import RunRenderer

    renderer = RunRenderer.open(path, device)
    model, smooth = renderer.run.model, renderer.run.smoothing_active
    data, _ = _subset(renderer.data, names)
    start = time.perf_counter()
    with FaceMeshTracker(video=False) as tracker:
        follow = mouth_follow(model, data, smooth, tracker, frames_per_clip, heldout)
    firsts = sorted({data.clips_of_identity(i)[0] for i in set(data.identity_of_clip)})
    swaps = [swap_test(model, data, ci, smooth) for ci in firsts]
    heldout = evaluate_heldout(model, data, smooth, frames_per_clip)
    return {
        "run": path,
        "preset": renderer.run.meta.get("preset"),
        "mouth_follow": follow,
        "swap": {"mean_ratio": round(float(np.mean([s["ratio"] for s in swaps])), 3), "per_clip": swaps},
        "heldout_face_psnr": round(heldout["psnr"], 2),
        "heldout_face_ssim": round(heldout["ssim"], 3),
        "heldout_lip_psnr": _lip_psnr(model, data, smooth, frames_per_clip, list(range(len(data.clips)))),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="append", required=True, metavar="NAME=DIR")
    ap.add_argument("--frames-per-clip", type=int, default=8)
    ap.add_argument("--training-frames", action="store_true", help="measure the mouth's following on training frames (default: held-out frames; the swap test and PSNRs stay on held-out frames)")
    ap.add_argument("--identities", default=None, help="comma-separated identity names to measure (default: all of each run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.identities.split(",") if args.identities else None
    results = {}
    for item in args.run:
        name, _, path = item.partition("=")
        results[name] = measure(path, args.frames_per_clip, names, args.device, not args.training_frames)
        print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps({"benchmark": "mouth_follow", "frames_per_clip": args.frames_per_clip, "results": results}, indent=2))


if __name__ == "__main__":
    main()
