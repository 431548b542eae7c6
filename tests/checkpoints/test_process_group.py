"""checkpoints.distributed: torchrun's variables, the device of a process, the pieces of a step."""

from __future__ import annotations

import pytest
import torch

from checkpoints.distributed import (
    World,
    backend_for,
    mean_over_ranks,
    pick_device,
    process_group,
    shard_generator,
    shard_range,
    world_from_env,
)
from minerf_base.errors import InputError


def test_the_world_comes_from_torchruns_variables():
    assert world_from_env({}) == World() and not World().distributed and World().writes
    world = world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert world == World(rank=3, size=4, local_rank=1) and world.distributed and not world.writes
    with pytest.raises(InputError, match="not integers"):
        world_from_env({"WORLD_SIZE": "two", "RANK": "0"})
    with pytest.raises(InputError, match="RANK=2 does not fit WORLD_SIZE=2"):
        world_from_env({"WORLD_SIZE": "2", "RANK": "2"})


def test_one_process_is_left_alone():
    with process_group("cpu", {}) as place:
        assert place.world == World() and place.device == torch.device("cpu")
        assert not torch.distributed.is_initialized()
        assert mean_over_ranks({"loss": 2.0}, place.world) == {"loss": 2.0}


def test_devices_and_backends():
    assert pick_device("cpu", World(rank=1, size=2, local_rank=1)) == torch.device("cpu")
    assert backend_for(torch.device("cpu")) == "gloo" and backend_for(torch.device("cuda", 0)) == "nccl"
    with pytest.raises(InputError, match="names one GPU") as err:
        pick_device("cuda:1", World(rank=0, size=2))
    assert "--device cuda" in str(err.value)


def test_pieces_of_a_step_split_over_the_processes():
    assert [list(shard_range(World(rank=r, size=2), 3)) for r in range(2)] == [[0, 1, 2], [3, 4, 5]]
    assert list(shard_range(World(), 2)) == [0, 1]
    draw = lambda seed, step, piece: torch.rand(8, generator=shard_generator(seed, step, piece))  # noqa: E731
    torch.testing.assert_close(draw(0, 5, 1), draw(0, 5, 1), rtol=0, atol=0)
    others = [draw(0, 5, 0), draw(0, 6, 1), draw(1, 5, 1)]
    assert all(not torch.equal(draw(0, 5, 1), other) for other in others)
