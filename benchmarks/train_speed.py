"""Training throughput (rays/s) of the paper and fast presets: one step of the trainer
(``minerf.train.trainer.NeRFJob``: ray sampling, forward, backward, Adam).

Prints JSON. On CPU the paper preset is measured with fewer rays per step than its 2048 (its
cost is linear in rays); ``rays_per_step`` in the output says what was timed.

    python benchmarks/train_speed.py [--sizes 128 256 512] [--presets paper fast] [--device cuda] [--threads 2] [--compile]
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
from pathlib import Path

import torch
from minerf.eval.timing import device_name, timed
from minerf.synthetic import synthetic_clips


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--presets", nargs="+", default=["paper", "fast"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cpu-rays", type=int, default=256, help="rays per timed step on CPU")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--compile", action="store_true", help="also time the step through torch.compile (CUDA)")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    from minerf.data import MultiClipData
    from minerf.model import get_preset
    from minerf.train.trainer import NeRFJob, StepRule, fresh_model

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            data = MultiClipData.from_dirs(synthetic_clips(Path(tmp), size))
            for preset in args.presets:
                cfg = get_preset(preset)
                rays = cfg.rays_per_step if device.type == "cuda" else min(cfg.rays_per_step, args.cpu_rays)
                preset_rays, cfg.rays_per_step = cfg.rays_per_step, rays
                for compiled in (False, True) if args.compile else (False,):
                    job = NeRFJob(fresh_model(data, cfg, 0, device), data, StepRule(total=None, smooth=False))
                    if compiled:
                        job.compile()
                    sec = timed(functools.partial(job.train_step, 0), device, args.repeats)
                    results.append({"preset": preset, "resolution": size, "compiled": compiled, **_rates(cfg, rays, preset_rays, sec)})
                    print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"benchmark": "train_speed", "device": device_name(device), "torch": torch.__version__, "results": results}, indent=2))


def _rates(cfg, rays: int, preset_rays: int, sec: float) -> dict:
    samples = rays * (cfg.coarse_samples + cfg.coarse_samples + cfg.fine_samples)
    return {
        "rays_per_step": rays,
        "seconds_per_step": round(sec, 4),
        "rays_per_s": round(rays / sec, 1),
        "field_samples_per_s": round(samples / sec, 1),
        "seconds_per_step_at_preset_rays": round(sec * preset_rays / rays, 3),
    }


if __name__ == "__main__":
    main()
