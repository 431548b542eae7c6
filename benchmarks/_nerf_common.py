"""Shared helpers of the MI-NeRF benchmarks (synthetic clips, timing on CPU / CUDA)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/NAME.py` from anywhere
    sys.path.insert(0, str(ROOT))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call of ``fn`` after one warm-up call."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def synthetic_clips(root: Path, size: int, count: int = 2, frames: int = 6) -> list[Path]:
    from minerf.synthetic import write_synthetic_clip

    return [write_synthetic_clip(root / f"s{size}_{i}", i, frames, size) for i in range(count)]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
