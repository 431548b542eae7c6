"""Rendering throughput (frames/s) of the paper and fast presets at 128, 256 and 512 px.

Only rays that meet the head box run the field. On CPU a full 512 px paper-preset frame takes
many minutes, so by default a block of rays is timed and frames/s is derived from the number
of rays a frame really renders (``extrapolated: true``); ``--full`` renders whole frames.

    python benchmarks/render_speed.py [--sizes 128 256 512] [--full] [--device cuda]
    python -m benchmarks.render_speed ...                  # the same
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from minerf.eval.timing import device_name, timed
from minerf.synthetic import synthetic_clips


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--presets", nargs="+", default=["paper", "fast"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--block", type=int, default=1024, help="rays timed per measurement when not --full")
    ap.add_argument("--full", action="store_true", help="render whole frames (slow on CPU)")
    args = ap.parse_args()
    device = torch.device(args.device)

    from minerf.data import MultiClipData
    from minerf.model import MINeRF, get_preset
    from minerf.model.rays import box_bounds, pixel_rays
    from minerf.render.conditioning import clip_frame_condition
    from minerf.render.views import View, render_view

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            data = MultiClipData.from_dirs(synthetic_clips(Path(tmp), size, count=1, frames=2))
            clip = data.clips[0]
            pose, K = torch.from_numpy(clip.pose[0]), torch.from_numpy(clip.intrinsics)
            ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
            pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)
            o, d = pixel_rays(pose, K, pix)
            hit = box_bounds(o, d)[2]
            rays_per_frame = int(hit.sum())
            bg = torch.from_numpy(clip.background(0)).float().div(255).to(device)
            for preset in args.presets:
                cfg = get_preset(preset)
                torch.manual_seed(0)
                model = MINeRF(cfg, data.expression_dim, 1, data.num_latents).to(device).eval()
                cond = clip_frame_condition(model, data, 0, np.array([0]), False)[0]
                view = View(pose, K, cond, bg)
                if args.full:
                    sec = timed(lambda: render_view(model, view), device, 1)
                    fps, measured = 1.0 / sec, rays_per_frame
                else:
                    # a band of rows around the image centre holding about --block head rays
                    per_row = hit.reshape(size, size).sum(dim=1)
                    y0 = y1 = size // 2
                    while int(per_row[y0:y1].sum()) < args.block and (y0 > 0 or y1 < size):
                        y0, y1 = max(0, y0 - 1), min(size, y1 + 1)
                    box = (0, y0, size, y1)
                    sub_hit = int(per_row[y0:y1].sum())
                    sec = timed(lambda: render_view(model, view, box), device, 1)
                    fps, measured = sub_hit / sec / max(rays_per_frame, 1), sub_hit
                results.append(
                    {
                        "preset": preset,
                        "resolution": size,
                        "rays_per_frame": rays_per_frame,
                        "rays_timed": measured,
                        "frames_per_s": round(fps, 5),
                        "seconds_per_frame": round(1.0 / fps, 2),
                        "extrapolated": not args.full,
                    }
                )
                print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"benchmark": "render_speed", "device": device_name(device), "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
