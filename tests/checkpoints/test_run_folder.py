"""The one run-folder format and the training loop, on a toy trainer: exact resume, atomic
writes, training state round trips, and clear errors for truncated or foreign folders."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

import checkpoints.run_folder as run_folder
from checkpoints import (
    CheckpointError,
    RunFolder,
    RunFormat,
    TrainState,
    latest_checkpoint,
    read_checkpoint,
    read_train_state,
)
from checkpoints.convert import convert_run
from checkpoints.loop import LoopConfig, TrainJob, TrainLoop, exponential_decay
from checkpoints.state import capture_rng, restore_rng, write_train_state

TOY = RunFormat(kind="toy", version=1, readable=(1,), writer="toy train")
OTHER = RunFormat(kind="other", version=1, readable=(1,), writer="other train")


class ToyJob(TrainJob):
    """Noisy linear regression: batches from a numpy generator, noise from a torch generator,
    dropout from the global torch RNG, an EMA of the weights as extra state."""

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.1)
        self.batches = np.random.default_rng(seed)
        self.noise = torch.Generator().manual_seed(seed + 1)
        self.ema = [p.detach().clone() for p in self.model.parameters()]
        self.logged: list[int] = []

    def generators(self):
        return {"batches": self.batches, "noise": self.noise}

    def learning_rate(self, step):
        return exponential_decay(0.1, 0.1, step, 20)

    def train_step(self, step):
        x = torch.from_numpy(self.batches.standard_normal((16, 4)).astype(np.float32))
        y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(16, 1, generator=self.noise)
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for avg, p in zip(self.ema, self.model.parameters()):
                avg.lerp_(p, 0.1)
        return {"loss": float(loss.detach())}

    def checkpoint(self, step):
        return self.model.state_dict(), {"note": "toy"}

    def extra_state(self):
        return {"ema": list(self.ema)}

    def load_extra_state(self, extra):
        self.ema = [t.clone() for t in extra["ema"]]

    def on_log(self, step, record):
        self.logged.append(step)


def _train(path, total=20, resume=True, **loop):
    job = ToyJob()
    run = RunFolder(path, TOY)
    point = run.resume_point() if resume else None
    if point is not None:
        job.model.load_state_dict(point.tensors)
    job.model.train()
    with TrainLoop(job, LoopConfig(total_steps=total, checkpoint_every=loop.pop("checkpoint_every", 4), log_every=5, **loop), run, point and point.state) as tl:
        result = tl.run()
    return job, result


def test_resume_gives_the_uninterrupted_run_bit_for_bit(tmp_path):
    straight, _ = _train(tmp_path / "straight")
    first, result = _train(tmp_path / "split", stop_at=9)
    assert result.end == 9 and json.loads((tmp_path / "split" / "latest.json").read_text())["step"] == 9
    random.random(), np.random.random(), torch.rand(3)  # the process goes on drawing numbers
    resumed, result = _train(tmp_path / "split")
    assert (result.start, result.end) == (9, 20)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    for x, y in zip(straight.ema, resumed.ema):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    # the optimizer's learning rate follows the schedule of the whole run
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(exponential_decay(0.1, 0.1, 19, 20))
    # two step folders are kept, the pointer names the last, the log covers both sessions
    assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir()) == ["step_00000016", "step_00000020"]
    assert latest_checkpoint(tmp_path / "split").name == "step_00000020"
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert steps == [5, 9, 10, 15, 20] and first.logged == [5, 9]
    record = json.loads((tmp_path / "split" / "log.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(record["loss"]) and record["lr"] == pytest.approx(exponential_decay(0.1, 0.1, 19, 20))


def test_step_folder_holds_weights_meta_and_training_state(tmp_path):
    job, _ = _train(tmp_path / "run", total=4)
    loaded = read_checkpoint(tmp_path / "run", TOY, with_state=True)
    assert loaded.folder == tmp_path / "run" / "checkpoints" / "step_00000004"
    assert sorted(p.name for p in loaded.folder.iterdir()) == ["checkpoint.json", "train_state.json", "train_state.safetensors", "weights.safetensors"]
    assert loaded.meta["kind"] == "toy" and loaded.meta["step"] == 4 and loaded.meta["note"] == "toy"
    assert set(loaded.tensors) == set(job.model.state_dict())
    state = loaded.state
    assert state.step == 4 and set(state.rng) >= {"torch", "numpy", "python", "generators"}
    assert set(state.rng["generators"]) == {"batches", "noise"}
    assert set(state.optimizer["state"]) == {0, 1, 2, 3} and state.optimizer["param_groups"][0]["betas"] == (0.9, 0.999)
    torch.testing.assert_close(state.optimizer["state"][0]["exp_avg"], job.optimizer.state_dict()["state"][0]["exp_avg"], rtol=0, atol=0)
    # a checkpoint folder (what inference loads) can be passed directly too
    assert read_checkpoint(loaded.folder, TOY).folder == loaded.folder


def test_state_tree_round_trips_every_kind_of_value(tmp_path):
    tree = {
        "ints": {0: torch.arange(3), 7: {"x": torch.tensor(2.5)}},
        "dollar": {"$tensor": "not a reference"},
        "array": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "tuple": (1, 2.5, None, "s", True),
        "nan": float("nan"),
        "big": 2**100,
        "list": [torch.zeros(2, dtype=torch.uint8), [np.float32(1.5)]],
    }
    (tmp_path / "f").mkdir()
    write_train_state(tmp_path / "f", TrainState(step=3, extra=tree))
    back = read_train_state(tmp_path / "f").extra
    assert torch.equal(back["ints"][0], torch.arange(3)) and float(back["ints"][7]["x"]) == 2.5
    assert back["dollar"] == {"$tensor": "not a reference"}
    assert back["array"].dtype == np.uint32 and np.array_equal(back["array"], tree["array"])
    assert back["tuple"] == (1, 2.5, None, "s", True) and math.isnan(back["nan"]) and back["big"] == 2**100
    assert back["list"][0].dtype == torch.uint8 and back["list"][1] == [1.5]
    with pytest.raises(TypeError, match="cannot store a object"):
        write_train_state(tmp_path / "f", TrainState(step=3, extra={"bad": object()}))


def test_rng_states_restore_every_generator():
    gens = {"t": torch.Generator().manual_seed(3), "n": np.random.default_rng(4)}
    saved = capture_rng(gens)

    def draw():
        return (torch.rand(2).tolist(), np.random.random(), random.random(), torch.rand(2, generator=gens["t"]).tolist(), gens["n"].random())

    first = draw()
    restore_rng(saved, gens)
    assert draw() == first
    with pytest.raises(CheckpointError, match="random generator 'extra'"):
        restore_rng(saved, {**gens, "extra": torch.Generator()})


def test_a_save_that_dies_leaves_the_previous_checkpoint_in_charge(tmp_path, monkeypatch):
    _train(tmp_path / "run", total=4)
    before = (tmp_path / "run" / "latest.json").read_text()

    def dies(*_args, **_kwargs):
        raise KeyboardInterrupt("killed while writing the training state")

    monkeypatch.setattr(run_folder, "write_train_state", dies)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "run", total=8)
    assert (tmp_path / "run" / "latest.json").read_text() == before
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert "step_00000008" not in names and names[0].startswith(".step_00000008")  # only a partial
    monkeypatch.undo()
    _, result = _train(tmp_path / "run", total=8)
    assert result.start == 4 and sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_00000004", "step_00000008"]


def test_truncated_foreign_and_incomplete_folders_are_clear_errors(tmp_path):
    run = tmp_path / "run"
    _train(run, total=4)
    step = latest_checkpoint(run)
    with pytest.raises(CheckpointError, match="'toy' checkpoint, expected 'other'") as err:
        RunFolder(run, OTHER).resume_point()
    assert "fix:" in str(err.value)
    weights = step / "weights.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated") as err:
        read_checkpoint(run, TOY)
    assert str(weights) in str(err.value)
    weights.write_bytes(data)
    tensors = step / "train_state.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated") as err:
        RunFolder(run, TOY).resume_point()
    assert str(tensors) in str(err.value) and "fix:" in str(err.value)
    (step / "train_state.json").unlink()
    with pytest.raises(CheckpointError, match="no training state"):
        RunFolder(run, TOY).resume_point()
    (run / "latest.json").write_text('{"checkpoint": "step_00000099"}')
    with pytest.raises(CheckpointError, match="names this checkpoint, but it is missing") as err:
        read_checkpoint(run, TOY)
    assert "step_00000099" in str(err.value)
    (run / "latest.json").write_text('{"checkpoint": ')
    with pytest.raises(CheckpointError, match="corrupt pointer") as err:
        read_checkpoint(run, TOY)
    assert str(run / "latest.json") in str(err.value)
    (run / "latest.json").unlink()
    with pytest.raises(CheckpointError, match="never completed a checkpoint"):
        read_checkpoint(run, TOY)
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "clip.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a run folder"):
        read_checkpoint(tmp_path / "clip", TOY)
    with pytest.raises(CheckpointError, match="no such folder"):
        read_checkpoint(tmp_path / "nowhere", TOY)
    with pytest.raises(CheckpointError, match="not a run folder of any layout"):
        convert_run(tmp_path / "clip")


def test_older_layouts_are_not_resumed_but_named_with_the_conversion(tmp_path):
    old = tmp_path / "old"
    (old / "train_state").mkdir(parents=True)
    (old / "checkpoint.json").write_text("{}")
    with pytest.raises(CheckpointError, match="older layout") as err:
        RunFolder(old, TOY).resume_point()
    assert f"python -m checkpoints.convert {old}" in str(err.value)
    assert RunFolder(tmp_path / "fresh", TOY).resume_point() is None


def test_without_a_run_folder_the_loop_runs_in_chunks_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    whole = ToyJob()
    TrainLoop(whole, LoopConfig(total_steps=10)).run()
    chunked = ToyJob()
    loop = TrainLoop(chunked, LoopConfig(total_steps=10))
    ends = [loop.run(until=loop.step + 3).end for _ in range(4)]
    assert ends == [3, 6, 9, 10]
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(value, chunked.model.state_dict()[name], rtol=0, atol=0)
    assert list(tmp_path.iterdir()) == []


def test_only_rank_0_writes(tmp_path):
    job = ToyJob()
    TrainLoop(job, LoopConfig(total_steps=4, checkpoint_every=2, rank=1), RunFolder(tmp_path / "run", TOY)).run()
    assert not (tmp_path / "run").exists()
