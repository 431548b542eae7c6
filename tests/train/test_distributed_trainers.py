"""audio2exp train and lipsync train under torchrun: 2 gloo processes on this CPU take the
same steps as one process that accumulates both batches of a step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from checkpoints import latest_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(group: str, *args: str) -> str:
    """The ``group`` command line (audio2exp, lipsync) in 2 processes (gloo, localhost)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python", sys.executable, "-c", f"from minerf_dub.cli import {group}; {group}()", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run) / "weights.safetensors"))


def _differ(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_audio2exp_two_processes_take_the_steps_of_one(tmp_path):
    from audio2exp.train import AUDIO2EXP_PRESETS, TrainSession, train
    from tests.audio2exp.conftest import make_clip

    clips = [make_clip(tmp_path / "spk_a", seed=1, offset=0.0), make_clip(tmp_path / "spk_b", seed=2, offset=0.5)]
    out = _torchrun("audio2exp", "train", *map(str, clips), "-o", str(tmp_path / "ddp"), "--preset", "tiny", "--steps", "6", "--json", "-q")
    assert json.loads(out)["step"] == 6  # one summary: rank 0's
    tiny_train, tiny_net = AUDIO2EXP_PRESETS["tiny"]
    config = replace(tiny_train, steps=6, seed=0, sync_correct=False)
    train(clips, tmp_path / "one", train_config=config, net_config=tiny_net, session=TrainSession(accumulate=2))
    ddp, one = _weights(tmp_path / "ddp"), _weights(tmp_path / "one")
    assert set(ddp) == set(one)
    for key in ddp:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-5, atol=1e-6, msg=key)
    train(clips, tmp_path / "half", train_config=config, net_config=tiny_net)
    assert _differ(_weights(tmp_path / "half"), ddp) > 1e-5  # half the batch ends elsewhere


def test_lipsync_two_processes_take_the_steps_of_one(tmp_path):
    from lipsync.model import SyncNetConfig
    from lipsync.train import SyncNetTrainConfig, train_expert
    from tests.lipsync.test_train import synthetic_clip

    clips = [synthetic_clip(tmp_path / f"clip{i}", seed=i) for i in range(2)]
    flags = ["--steps", "3", "--batch-size", "4", "--width", "0.125", "--embed-dim", "16", "--lip-downsample", "4", "--lip-rows", "0", "224", "--max-offset", "3", "--negatives", "2", "--device", "cpu"]
    out = _torchrun("lipsync", "train", *map(str, clips), "-o", str(tmp_path / "ddp"), *flags, "--json", "-q")
    assert json.loads(out)["steps"] == 3
    model = SyncNetConfig(embed_dim=16, width=0.125, lip_downsample=4, lip_top=0, lip_bottom=224, lip_motion=True)
    config = SyncNetTrainConfig(model=model, steps=3, batch_size=4, lr=1e-3, max_offset=3, negatives=2, min_gap=3)
    train_expert(clips, tmp_path / "one", config, device="cpu", progress=False, accumulate=2)
    ddp, one = _weights(tmp_path / "ddp"), _weights(tmp_path / "one")
    # batch-norm running statistics are rank 0's under DDP (its batches only), so the
    # comparison is over the trained parameters
    params = [k for k in ddp if "running_" not in k and "num_batches_tracked" not in k]
    assert len(params) > 10
    for key in params:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    train_expert(clips, tmp_path / "half", config, device="cpu", progress=False)
    assert _differ({k: _weights(tmp_path / "half")[k] for k in params}, {k: ddp[k] for k in params}) > 1e-5


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
