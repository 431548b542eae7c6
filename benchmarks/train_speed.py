"""Training throughput (rays/s, forward + backward + Adam) of the paper and fast presets.

Prints JSON. On CPU the paper preset is measured with fewer rays per step than its 2048 (its
cost is linear in rays); ``rays_per_step`` in the output says what was timed.

    python benchmarks/train_speed.py [--sizes 128 256 512] [--presets paper fast] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from _nerf_common import device_name, synthetic_clips, timed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--presets", nargs="+", default=["paper", "fast"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cpu-rays", type=int, default=256, help="rays per timed step on CPU")
    args = ap.parse_args()
    device = torch.device(args.device)

    from minerf.data import MultiClipData
    from minerf.model import MINeRF, Rays, get_preset

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            data = MultiClipData.from_dirs(synthetic_clips(Path(tmp), size))
            for preset in args.presets:
                cfg = get_preset(preset)
                rays = cfg.rays_per_step if device.type == "cuda" else min(cfg.rays_per_step, args.cpu_rays)
                torch.manual_seed(0)
                model = MINeRF(cfg, data.expression_dim, len(data.identity_names), data.num_latents).to(device)
                opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
                gen = torch.Generator().manual_seed(0)
                amp = device.type == "cuda" and cfg.mixed_precision

                def step():
                    b = data.sample_batch(rays, cfg.frames_per_step, 1, cfg.inside_fraction, gen, cfg.head_margin).to(device)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                        cond = model.frame_condition(b.identity, b.expression, b.latent, False)
                        out = model.render_rays(Rays(b.origins, b.dirs, b.near, b.far, b.background, cond[b.slot]), True, gen)
                    loss = ((out["rgb"] - b.target) ** 2).mean() + ((out["rgb_coarse"] - b.target) ** 2).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

                sec = timed(step, device, args.repeats)
                samples = rays * (cfg.coarse_samples + cfg.coarse_samples + cfg.fine_samples)
                results.append(
                    {
                        "preset": preset,
                        "resolution": size,
                        "rays_per_step": rays,
                        "seconds_per_step": round(sec, 4),
                        "rays_per_s": round(rays / sec, 1),
                        "field_samples_per_s": round(samples / sec, 1),
                        "seconds_per_step_at_preset_rays": round(sec * cfg.rays_per_step / rays, 3),
                    }
                )
                print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"benchmark": "train_speed", "device": device_name(device), "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
