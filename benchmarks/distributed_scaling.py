"""Training throughput of 1, 2 ... processes in DistributedDataParallel (the trainer's own
``NeRFJob`` and ``checkpoints.distributed``: gloo on CPU, NCCL on CUDA, one process per GPU).

Every process renders ``rays_per_step`` rays a step, so N processes take N times the rays of
one: ``scaling_efficiency`` = rays/s of N processes / (N x rays/s of one process). On CPU
each process uses one thread (``OMP_NUM_THREADS=1``), so N processes need N free cores.

    python benchmarks/distributed_scaling.py [--processes 1 2] [--preset tiny] [--steps 20]
    python -m benchmarks.distributed_scaling --device cuda --processes 1 2 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, args: argparse.Namespace, size: int, port: int, clips: list[str], out: str) -> None:
    """One process of a ``size``-process run: warm-up steps, then timed steps (rank 0 writes)."""
    torch.set_num_threads(1)
    from checkpoints.distributed import barrier, process_group
    from minerf.data import MultiClipData
    from minerf.model import get_preset
    from minerf.train.trainer import NeRFJob, StepRule, fresh_model

    env = {"RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank)}
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), **env})
    with process_group(args.device, env) as place:
        data = MultiClipData.from_dirs([Path(c) for c in clips])
        cfg = get_preset(args.preset)
        cfg.rays_per_step = args.rays or cfg.rays_per_step
        job = NeRFJob(fresh_model(data, cfg, 0, place.device), data, StepRule(total=None, smooth=False), world=place.world)
        for step in range(args.warmup):
            job.train_step(step)
        _sync(place.device)
        barrier(place.world)
        started = time.perf_counter()
        for step in range(args.warmup, args.warmup + args.steps):
            job.train_step(step)
        _sync(place.device)
        barrier(place.world)
        seconds = time.perf_counter() - started
        if place.world.writes:
            rays = job.global_batch()["rays"]
            record = {"processes": size, "backend": "nccl" if place.device.type == "cuda" else "gloo", "steps": args.steps, "global_rays_per_step": rays, "steps_per_s": round(args.steps / seconds, 3), "rays_per_s": round(rays * args.steps / seconds, 1)}
            Path(out).write_text(json.dumps(record))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(args: argparse.Namespace, size: int, clips: list[str], tmp: Path) -> dict:
    """Throughput of one ``size``-process run."""
    out = tmp / f"result_{size}.json"
    mp.spawn(_worker, args=(args, size, _free_port(), clips, str(out)), nprocs=size, join=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--preset", default="tiny", choices=["paper", "fast", "tiny"])
    ap.add_argument("--rays", type=int, default=None, help="rays per process per step (default: the preset's)")
    ap.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    ap.add_argument("--size", type=int, default=64, help="side of the synthetic clips' frames")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from minerf.synthetic import synthetic_clips

    with tempfile.TemporaryDirectory() as tmp:
        clips = [str(c) for c in synthetic_clips(Path(tmp) / "clips", args.size, count=2, frames=12)]
        results = [measure(args, size, clips, Path(tmp)) for size in args.processes]
    base = next((r for r in results if r["processes"] == 1), None)
    for r in results:
        if base is not None:
            r["scaling_efficiency"] = round(r["rays_per_s"] / (r["processes"] * base["rays_per_s"]), 3)
    info = {"benchmark": "distributed_scaling", "device": args.device, "cpu_count": os.cpu_count(), "torch": torch.__version__, "preset": args.preset, "results": results}
    if args.device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
