"""Checkpoints: resuming gives the uninterrupted run; kill -9 loses nothing; bad inputs are named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from checkpoints import CheckpointError
from minerf.run import load_run
from minerf.train.trainer import TrainOptions, train
from minerf_base.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
FAST = {"rays_per_step": 128, "coarse_samples": 8, "fine_samples": 8}


def _opts(iterations: int, **kw) -> TrainOptions:
    return TrainOptions(preset="tiny", iterations=iterations, validate_every=0, evaluate=False, progress=False, config_overrides=FAST, **kw)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    step = json.loads((run_dir / "latest.json").read_text())["checkpoint"]
    return load_file(str(run_dir / "checkpoints" / step / "weights.safetensors"))


def test_resume_equals_uninterrupted_run(tmp_path, synthetic_clips):
    clips = synthetic_clips[:2]
    train(clips, tmp_path / "straight", _opts(12, checkpoint_every=100))
    first = train(clips, tmp_path / "split", _opts(12, checkpoint_every=100, stop_at=6))
    assert first["iterations"] == 6 and load_run(tmp_path / "split").iteration == 6
    summary = train(clips, tmp_path / "split", _opts(12, checkpoint_every=100))
    assert summary["resumed_from"] == 6
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_checkpoint_carries_space_and_identities(tmp_path, synthetic_clips):
    train(synthetic_clips[:2], tmp_path / "run", _opts(3, same_identity=[("head0", "head1")]))
    run = load_run(tmp_path / "run")
    assert run.identities == ["head0"]
    assert run.expression_space == {"id": "synthetic-4", "dim": 4}
    assert run.iteration == 3 and run.model.identity_codes.shape == (1, 4)
    meta = json.loads((tmp_path / "run" / "checkpoints" / "step_00000003" / "checkpoint.json").read_text())
    assert meta["kind"] == "minerf" and [c["identity"] for c in meta["clips"]] == ["head0", "head0"]
    # a damaged checkpoint is refused with a clear error
    meta_path = tmp_path / "run" / "checkpoints" / "step_00000003" / "checkpoint.json"
    meta.pop("identities")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="lacks 'identities'"):
        load_run(tmp_path / "run")


def test_resume_refuses_other_clips(tmp_path, synthetic_clips):
    train(synthetic_clips[:2], tmp_path / "run", _opts(2))
    with pytest.raises(InputError, match="this run was trained on clips"):
        train(synthetic_clips[1:], tmp_path / "run", _opts(4))


def test_kill_9_during_training_then_resume(tmp_path, synthetic_clips):
    run_dir = tmp_path / "run"
    code = (
        "import sys; from minerf.train.trainer import TrainOptions, train; "
        f"train(sys.argv[1:], {str(run_dir)!r}, TrainOptions(preset='tiny', iterations=100000, checkpoint_every=3, validate_every=0, "
        f"evaluate=False, progress=False, config_overrides={FAST!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, synthetic_clips[:2])], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            latest = run_dir / "latest.json"
            if latest.is_file() and json.loads(latest.read_text())["iteration"] >= 6:
                break
            time.sleep(0.2)
        else:
            pytest.fail("training wrote no checkpoint in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = load_run(run_dir).iteration
    assert killed_at >= 6
    summary = train(synthetic_clips[:2], run_dir, _opts(killed_at + 3, checkpoint_every=3))
    assert summary["resumed_from"] == killed_at
    assert load_run(run_dir).iteration == killed_at + 3
    assert len(list((run_dir / "checkpoints").iterdir())) <= 2  # old checkpoints are pruned
