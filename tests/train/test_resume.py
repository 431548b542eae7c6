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

from checkpoints import (
    CheckpointError,
    latest_checkpoint,
    read_train_state,
    save_checkpoint,
)
from checkpoints.convert import convert_run
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
            if latest.is_file() and json.loads(latest.read_text())["step"] >= 6:
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


def _as_version_1(run_dir: Path) -> None:
    """Rewrite the latest checkpoint as ``minerf train`` wrote it before the one run-folder
    format (checkpoint version 1): ``model.*``, ``optim.*`` and ``rng.train`` in one file, the
    optimizer's param groups in checkpoint.json, no training state files."""
    folder = latest_checkpoint(run_dir)
    state = read_train_state(folder)
    tensors = {f"model.{k}": v for k, v in load_file(str(folder / "weights.safetensors")).items()}
    tensors |= {f"optim.{i}.{k}": v for i, slots in state.optimizer["state"].items() for k, v in slots.items()}
    # version 1 kept one sampling generator; today's trainer draws each step from generators
    # seeded by (seed, step, piece), so the converted state's generator is never read back
    tensors["rng.train"] = torch.Generator().manual_seed(0).get_state()
    meta = json.loads((folder / "checkpoint.json").read_text())
    meta = {k: v for k, v in meta.items() if k not in ("kind", "version", "weights_bytes", "step")}
    meta["optimizer_param_groups"] = state.optimizer["param_groups"]
    for path in folder.iterdir():
        path.unlink()
    save_checkpoint(folder, tensors, kind="minerf", version=1, meta=meta)


def test_version_1_run_loads_and_resumes_after_conversion(tmp_path, synthetic_clips):
    clips = synthetic_clips[:2]
    train(clips, tmp_path / "straight", _opts(12, checkpoint_every=100))
    train(clips, tmp_path / "old", _opts(12, checkpoint_every=100, stop_at=6))
    _as_version_1(tmp_path / "old")
    old = load_run(tmp_path / "old")  # renders and evaluates as it is
    assert old.iteration == 6 and json.loads((old.checkpoint / "checkpoint.json").read_text())["version"] == 1
    with pytest.raises(CheckpointError, match="python -m checkpoints.convert"):
        train(clips, tmp_path / "old", _opts(12, checkpoint_every=100))
    done = convert_run(tmp_path / "old")
    assert done["converted"] and done["step"] == 6
    assert convert_run(tmp_path / "old")["reason"] == "already in the current layout"
    converted = load_run(tmp_path / "old")
    for name, value in old.model.state_dict().items():
        torch.testing.assert_close(value, converted.model.state_dict()[name], rtol=0, atol=0, msg=name)
    assert train(clips, tmp_path / "old", _opts(12, checkpoint_every=100))["resumed_from"] == 6
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "old")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_shipped_version_1_model_is_left_alone_by_the_conversion():
    from checkpoints.shipped import SHIPPED_DIR

    shipped = SHIPPED_DIR / "minerf-grid8-fast"  # the version-1 model, kept beside the default
    assert load_run(shipped).iteration == 4000
    assert convert_run(shipped) == {"run": str(shipped), "converted": False, "reason": "a weights-only MI-NeRF checkpoint (an export): it loads as it is and cannot be resumed"}
