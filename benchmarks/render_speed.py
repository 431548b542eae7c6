"""Rendering speed of TRAINED runs on a real clip: full head and the dub's lower-face render,
old and new preset in one run, plus how many samples carry a ray's weight.

For every ``--run NAME=DIR`` the same frames of ``--clip`` (a training clip of every run) are
rendered with the run's own conditioning: the full head (the pixels of the dilated head mask,
what ``minerf render`` draws) and the lower face (what ``minerf-dub`` draws by default).

    python benchmarks/render_speed.py --run new=checkpoints/shipped/minerf-talk17-fast \\
        --run old=checkpoints/shipped/minerf-grid8-fast --clip grid_swiz3n [--frames 3] [--threads 2]
    python -m benchmarks.render_speed ...                  # the same

``--scale 4`` renders the same cameras at 4x the clip's resolution (a 128 px clip at 512 px);
``--chunk`` sets the rays per field call (the default suits a CPU; a GPU wants more).

The runs' training clips must be prepared where their checkpoint.json says (see docs/checkpoints.md).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from minerf.eval.timing import device_name, sync


def _measure(renderer, clip_name: str, frames: int, scale: int = 1, chunk: int = 8192) -> dict:
    from minerf.eval.mouth import weight_concentration
    from minerf.model.rays import Rays, box_bounds, pixel_rays
    from minerf.render.composite import lower_face_masks, render_region
    from minerf.render.conditioning import clip_frame_condition
    from minerf.render.views import View, render_view

    model, data, smooth = renderer.run.model, renderer.data, renderer.run.smoothing_active
    device = model.identity_codes.device
    ci = [c.name for c in data.clips].index(clip_name)
    clip = data.clips[ci]
    ts = [int(t) for t in np.linspace(0, clip.num_frames - 1, frames).round()]
    if device.type == "cuda":  # the first render pays for CUDA's start-up (kernels, allocator)
        cond = clip_frame_condition(model, data, ci, np.array([ts[0]]), smooth)[0]
        render_view(model, View.from_arrays(clip.pose[ts[0]], clip.intrinsics, cond, clip.background(ts[0])).scaled(scale), chunk=chunk)
    timings: dict[str, list[float]] = {"full_head": [], "lower_face": []}
    rays = {"full_head": [], "lower_face": []}
    concentration = []
    for t in ts:
        cond = clip_frame_condition(model, data, ci, np.array([t]), smooth)[0]
        view = View.from_arrays(clip.pose[t], clip.intrinsics, cond, clip.background(t))
        head = render_region(clip.mask(t))
        regions = {"full_head": _upsampled(head, scale), "lower_face": lower_face_masks(clip.landmarks2d[t] * scale, clip.resolution * scale)[0]}
        big = view.scaled(scale)
        for kind, region in regions.items():
            sync(device)
            start = time.perf_counter()
            render_view(model, big, region=torch.from_numpy(region), chunk=chunk)
            sync(device)
            timings[kind].append(time.perf_counter() - start)
            rays[kind].append(int(region.sum()))
        ys, xs = np.nonzero(head)
        pix = torch.from_numpy(np.stack([xs, ys], -1))
        o, d = pixel_rays(torch.from_numpy(clip.pose[t]), torch.from_numpy(clip.intrinsics), pix)
        near, far, hit = box_bounds(o, d)
        with torch.no_grad():
            out = model.render_rays(Rays(o[hit], d[hit], near[hit], far[hit], torch.zeros(int(hit.sum()), 3), cond.expand(int(hit.sum()), -1)))
        concentration.append(weight_concentration(out["weights"]))
    samples = model.cfg.coarse_samples + model.cfg.fine_samples
    return {
        "preset": renderer.run.meta.get("preset"),
        "resolution": clip.resolution * scale,
        "chunk": chunk,
        "frames": len(ts),
        "seconds_per_frame": {k: round(float(np.median(v)), 4) for k, v in timings.items()},
        "frames_per_second": {k: round(1.0 / float(np.median(v)), 2) for k, v in timings.items()},
        "rays_per_frame": {k: int(np.median(v)) for k, v in rays.items()},
        "field_samples_per_ray": samples if model.fine is None else model.cfg.coarse_samples + samples,
        "median_samples_for_99pct_weight": float(np.median(concentration)),
        "samples_in_final_render": samples,
    }


def _upsampled(mask: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="append", required=True, metavar="NAME=DIR", help="a trained run (repeat for old vs new)")
    ap.add_argument("--clip", required=True, help="a training clip of every run (its name)")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--scale", type=int, default=1, help="render at this many times the clip's resolution (same camera, finer pixels)")
    ap.add_argument("--chunk", type=int, default=8192, help="rays per field call (larger on a GPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from minerf.render.video import RunRenderer

    results = {}
    for item in args.run:
        name, _, path = item.partition("=")
        renderer = RunRenderer.open(path, args.device)
        results[name] = {"run": path, **_measure(renderer, args.clip, args.frames, args.scale, args.chunk)}
        print(json.dumps({name: results[name]}), flush=True)
    speedups = {}
    if len(results) >= 2:
        first, *others = list(results)
        for other in others:
            speedups[f"{first}_vs_{other}"] = {
                k: round(results[other]["seconds_per_frame"][k] / results[first]["seconds_per_frame"][k], 2) for k in ("full_head", "lower_face")
            }
            speedups[f"{first}_lower_face_vs_{other}_full_head"] = round(results[other]["seconds_per_frame"]["full_head"] / results[first]["seconds_per_frame"]["lower_face"], 2)
    print(json.dumps({"benchmark": "render_speed", "device": device_name(torch.device(args.device)), "threads": args.threads, "torch": torch.__version__, "clip": args.clip, "results": results, "speedup": speedups}, indent=2))


if __name__ == "__main__":
    main()
