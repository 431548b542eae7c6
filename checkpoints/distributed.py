"""Several training processes as one run: torchrun's environment, the process group,
DistributedDataParallel and the per-shard random generators every trainer shares.

A trainer started by ``torchrun --nproc_per_node N ... minerf train ...`` finds ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR`` / ``MASTER_PORT``) in its environment.
:func:`process_group` reads them, joins the process group (``nccl`` on CUDA, ``gloo`` on
CPU, chosen from the device), puts the process on GPU ``LOCAL_RANK`` and leaves the group at
the end, after a barrier so that every rank leaves together; without ``WORLD_SIZE`` (or
with 1) it is one ordinary process and does nothing.

A step's global batch is ``shards`` pieces; piece ``k`` of step ``s`` is drawn from
:func:`shard_generator` (``seed``, ``s``, ``k``) whatever process draws it, so the batch of a
step does not depend on how many processes share it, a resumed run needs no sampling state
from the other ranks, and one process that accumulates the gradients of every piece
(:func:`shard_range` with ``world_size`` 1) takes exactly the step that N processes take.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import torch
from torch import nn

from minerf_base.errors import InputError

log = logging.getLogger(__name__)

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """Where this process stands among the processes of one run."""

    rank: int = 0
    """This process's index among all of the run's processes (0: the one that writes)."""
    size: int = 1
    """How many processes train the run together."""
    local_rank: int = 0
    """This process's index on its machine (the GPU it uses)."""

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def writes(self) -> bool:
        """Whether this process writes checkpoints, logs and images (rank 0 only)."""
        return self.rank == 0


@dataclass(frozen=True)
class Placement:
    """This process's world and the device it trains on."""

    world: World
    device: torch.device


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The :class:`World` that torchrun's variables describe (one process when absent)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return World()
    try:
        size, rank, local = int(env["WORLD_SIZE"]), int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", env.get("RANK", "0")))
    except ValueError:
        raise InputError(None, f"torchrun variables {{{', '.join(f'{k}={env.get(k)!r}' for k in ENV_VARS)}}} are not integers", "start the command with torchrun, or unset WORLD_SIZE / RANK / LOCAL_RANK") from None
    if size < 1 or not 0 <= rank < size or local < 0:
        raise InputError(None, f"RANK={rank} does not fit WORLD_SIZE={size} (LOCAL_RANK={local})", "start the command with torchrun, or unset WORLD_SIZE / RANK / LOCAL_RANK")
    return World(rank=rank, size=size, local_rank=local)


def pick_device(requested: str | None, world: World) -> torch.device:
    """The device of this process: ``requested`` (default cuda when available, else cpu); a
    CUDA device of a multi-process run is GPU ``LOCAL_RANK``."""
    device = torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda" or not world.distributed:
        return device
    if device.index is not None:
        raise InputError(None, f"--device {requested} names one GPU, but torchrun started {world.size} processes", "pass --device cuda: each process takes GPU LOCAL_RANK (set CUDA_VISIBLE_DEVICES to choose the GPUs)")
    if world.local_rank >= torch.cuda.device_count():
        raise InputError(None, f"LOCAL_RANK {world.local_rank} but this machine shows {torch.cuda.device_count()} GPUs", "start at most one process per GPU (--nproc_per_node)")
    return torch.device("cuda", world.local_rank)


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(requested_device: str | None = None, env: Mapping[str, str] | None = None) -> Iterator[Placement]:
    """Join the run's process group for the duration of the block (see the module doc).
    A group that is already initialised (a caller's) is used and left alone."""
    import torch.distributed as dist

    world = world_from_env(env)
    device = pick_device(requested_device, world)
    owned = world.distributed and not dist.is_initialized()
    if owned:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend_for(device), rank=world.rank, world_size=world.size)
        log.info("rank %d of %d on %s (%s)", world.rank, world.size, device, backend_for(device))
    try:
        yield Placement(world, device)
        if owned:
            # every rank leaves together (not after an error): a rank that tears gloo down
            # while rank 0 still writes its checkpoint or evaluates can abort at exit
            barrier(world)
    finally:
        if owned:
            dist.destroy_process_group()


def wrap(module: nn.Module, world: World) -> nn.Module:
    """``module`` in DistributedDataParallel for a multi-process run, else ``module`` itself.
    Parameters a step does not use (a switched-off smoother, frozen codes) are allowed."""
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=None, find_unused_parameters=True)


def sync_context(module: nn.Module, last: bool) -> contextlib.AbstractContextManager:
    """Inside it a backward pass of a DDP ``module`` only accumulates (no all-reduce) unless
    ``last``: the pieces of one step but the last."""
    if last or not hasattr(module, "no_sync"):
        return contextlib.nullcontext()
    return module.no_sync()


def shard_range(world: World, per_rank: int) -> range:
    """The pieces of a step's global batch (``world.size * per_rank`` of them) that this
    process draws."""
    return range(world.rank * per_rank, (world.rank + 1) * per_rank)


def shard_generator(seed: int, step: int, shard: int) -> torch.Generator:
    """The random generator of piece ``shard`` of step ``step`` of a run seeded ``seed``."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, step, shard]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def mean_over_ranks(values: Mapping[str, float], world: World) -> dict[str, float]:
    """Every rank's ``values`` averaged over the ranks (the same keys on every rank)."""
    if not world.distributed or not values:
        return dict(values)
    import torch.distributed as dist

    keys = sorted(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(packed)
    return {k: float(v) / world.size for k, v in zip(keys, packed.tolist())}


def barrier(world: World) -> None:
    """Wait until every rank gets here (nothing for one process)."""
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()
