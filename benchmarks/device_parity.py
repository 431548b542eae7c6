"""Do CPU and CUDA render the same picture? A trained run's frames of one of its clips, rendered
on the CPU in float32 and on the GPU in float32 and with the preset's bfloat16 autocast (what
``minerf render`` and ``minerf-dub`` use on CUDA); prints the differences in grey levels (0-255)
over the head region, as JSON.

    python benchmarks/device_parity.py --run RUN_DIR --clip CLIP_NAME [--frames 3] [--threads 2]
    python -m benchmarks.device_parity ...

Needs a CUDA device; the run's training clips must be prepared where its checkpoint.json says.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch


def _renders(renderer, clip_name: str, frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(rendered frames in grey levels, the head regions to compare) of ``frames`` frames of the
    clip; the whole frame is rendered (rays that miss the head box never reach the field)."""
    from minerf.render.composite import render_region
    from minerf.render.conditioning import render_clip_frame

    data = renderer.data
    ci = [c.name for c in data.clips].index(clip_name)
    clip = data.clips[ci]
    rgbs, regions = [], []
    for t in [int(t) for t in np.linspace(0, clip.num_frames - 1, frames).round()]:
        region = render_region(clip.mask(t))
        out = render_clip_frame(renderer.run.model, data, ci, t, renderer.run.smoothing_active)
        rgbs.append(out["rgb"].float().cpu().numpy() * 255.0)
        regions.append(region)
    return rgbs, regions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--clip", required=True, help="a training clip of the run (its name)")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("device_parity compares CPU with CUDA: no CUDA device here")
    torch.set_num_threads(args.threads)
    from minerf.render.video import RunRenderer

    reference, regions = _renders(RunRenderer.open(args.run, "cpu"), args.clip, args.frames)  # float32: no autocast on the CPU
    gpu = RunRenderer.open(args.run, "cuda")
    results = {}
    for name, mixed in (("cuda_float32", False), ("cuda_bfloat16", True)):
        gpu.run.model.cfg.mixed_precision = mixed
        rgbs, _ = _renders(gpu, args.clip, args.frames)
        diff = np.concatenate([np.abs(a - b)[m] for a, b, m in zip(rgbs, reference, regions)])
        results[name] = {
            "mean_abs": round(float(diff.mean()), 4),
            "p99_abs": round(float(np.percentile(diff, 99)), 3),
            "max_abs": round(float(diff.max()), 3),
            "pixels": int(sum(m.sum() for m in regions)),
        }
        print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps({"benchmark": "device_parity", "device": torch.cuda.get_device_name(), "torch": torch.__version__, "run": args.run, "clip": args.clip, "frames": args.frames, "grey_levels_vs_cpu_float32": results}, indent=2))


if __name__ == "__main__":
    main()
