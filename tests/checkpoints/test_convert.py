"""``python -m checkpoints.convert``: older run-folder layouts become the one format (each
trainer's test resumes a converted run to the uninterrupted weights; this one checks the
command and the layout detection)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from checkpoints import read_checkpoint, save_checkpoint
from checkpoints.convert import AUDIO2EXP

ROOT = Path(__file__).resolve().parents[2]


def _old_audio2exp_run(run: Path) -> None:
    """The layout audio2exp train wrote before: the model at RUN/, the state in RUN/train_state/."""
    w, avg = torch.arange(4.0), torch.arange(4.0) + 0.5
    save_checkpoint(run, {"w": avg}, kind="audio2exp", version=1, meta={"training": {"step": 3, "config": {"ema": 0.99}}})
    slots = {"optim.0.step": torch.tensor(3.0), "optim.0.exp_avg": torch.ones(4), "optim.0.exp_avg_sq": torch.full((4,), 2.0)}
    save_checkpoint(run / "train_state", {"model.w": w, "average.w": avg, **slots}, kind="audio2exp-train", version=1, meta={"step": 3, "fingerprint": {"clips": ["a"]}})


def _convert(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "checkpoints.convert", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_the_command_converts_an_old_run_in_place_and_explains_what_it_leaves(tmp_path):
    run = tmp_path / "run"
    _old_audio2exp_run(run)
    (tmp_path / "shipped").mkdir()
    save_checkpoint(tmp_path / "shipped", {"w": torch.zeros(1)}, kind="syncnet", version=1, meta={})
    done = _convert(str(run), str(tmp_path / "shipped"), "--json")
    assert done.returncode == 0, done.stderr
    first, second = json.loads(done.stdout)
    assert first["converted"] and first["step"] == 3 and first["checkpoint"] == str(run / "checkpoints" / "step_00000003")
    assert not second["converted"] and "loads as it is" in second["reason"]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "latest.json"]
    loaded = read_checkpoint(run, AUDIO2EXP, with_state=True)
    torch.testing.assert_close(loaded.tensors["w"], torch.arange(4.0) + 0.5)  # the average is the model
    assert loaded.meta["training"]["step"] == 3 and loaded.state.step == 3
    assert loaded.state.extra["fingerprint"] == {"clips": ["a"]}
    torch.testing.assert_close(loaded.state.extra["model"]["w"], torch.arange(4.0))
    assert set(loaded.state.optimizer["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    again = _convert(str(run))
    assert again.returncode == 0 and "nothing to convert, already in the current layout" in again.stdout


def test_the_command_refuses_a_folder_that_is_no_run(tmp_path):
    result = _convert(str(tmp_path))
    assert result.returncode == 2 and "not a run folder" in result.stderr and "fix:" in result.stderr and "Traceback" not in result.stderr
