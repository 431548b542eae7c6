"""CPU threads for a block of work: library code never changes the process's torch thread
count; the caller that knows the workload (a command, the demo) chooses it for a block."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """``count`` torch CPU threads inside the block, the previous count restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
