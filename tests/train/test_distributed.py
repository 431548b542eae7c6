"""minerf train under torchrun: 2 gloo processes on this CPU (localhost) take the same steps as
one process that accumulates both ray batches; killed, resumed, or continued with another
number of processes, a run ends where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from minerf.run import load_run
from minerf.train.trainer import TrainOptions, train

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 8
HALF = 4


def _opts(**kw) -> TrainOptions:
    return TrainOptions(preset="tiny", validate_every=0, evaluate=False, progress=False, **kw)


def _torchrun(clips: list[Path], run_dir: Path, *args: str) -> subprocess.Popen:
    """``minerf train`` in 2 processes (gloo, localhost)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "minerf_dub.cli", "train", *map(str, clips), "-o", str(run_dir), "--preset", "tiny", "--validate-every", "0", "--json", "-q", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    step = json.loads((run_dir / "latest.json").read_text())["checkpoint"]
    return load_file(str(run_dir / "checkpoints" / step / "weights.safetensors"))


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synthetic_clips) -> dict[str, Path]:
    """One process, both ray batches of a step accumulated: stopped at HALF and run to TOTAL."""
    root = tmp_path_factory.mktemp("reference")
    clips = synthetic_clips[:2]
    train(clips, root / "half", _opts(iterations=TOTAL, stop_at=HALF, accumulate=2))
    train(clips, root / "full", _opts(iterations=TOTAL, accumulate=2))
    return {"half": root / "half", "full": root / "full"}


def test_two_processes_take_the_steps_of_one_with_their_global_batch(tmp_path, synthetic_clips, reference):
    clips = synthetic_clips[:2]
    out = _finish(_torchrun(clips, tmp_path / "ddp", "--iters", str(TOTAL), "--checkpoint-every", "2", "--validate-every", str(HALF)))
    summaries = [json.loads(chunk) for chunk in out.replace("}\n{", "}\n\0{").split("\0") if chunk.strip()]
    assert len(summaries) == 1 and summaries[0]["global_batch"] == {"processes": 2, "accumulate": 1, "rays": 1024}
    assert "eval" in summaries[0]  # rank 0 evaluated the finished run
    _assert_same(_weights(tmp_path / "ddp"), _weights(reference["full"]))
    # one writer: one log record per log step and the final evaluation
    records = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [TOTAL, TOTAL] and "eval/psnr" in records[1]
    assert sorted(p.name for p in (tmp_path / "ddp" / "val").iterdir()) == ["step_00000004.png", "step_00000008.png"]
    # the global batch matters: one process on one ray batch per step ends elsewhere
    train(clips, tmp_path / "one", _opts(iterations=TOTAL))
    one, ddp = _weights(tmp_path / "one"), _weights(tmp_path / "ddp")
    assert max(float((one[k] - ddp[k]).abs().max()) for k in one) > 1e-4


def test_a_ddp_run_continues_in_one_process_and_back(tmp_path, synthetic_clips, reference):
    clips = synthetic_clips[:2]
    _finish(_torchrun(clips, tmp_path / "ddp", "--iters", str(TOTAL), "--stop-at", str(HALF)))
    _assert_same(_weights(tmp_path / "ddp"), _weights(reference["half"]))
    assert load_run(tmp_path / "ddp").iteration == HALF  # loads for inference in one process
    summary = train(clips, tmp_path / "ddp", _opts(iterations=TOTAL, accumulate=2))
    assert summary["resumed_from"] == HALF
    _assert_same(_weights(tmp_path / "ddp"), _weights(reference["full"]))
    # a one-process checkpoint continued by 2 processes
    shutil.copytree(reference["half"], tmp_path / "single")
    _finish(_torchrun(clips, tmp_path / "single", "--iters", str(TOTAL)))
    _assert_same(_weights(tmp_path / "single"), _weights(reference["full"]))


def _worker_of_rank(parent: int, rank: int) -> int:
    """The pid of torchrun ``parent``'s worker process of ``rank``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no worker of rank {rank} under {parent}")


def test_kill_9_of_one_rank_then_resume_equals_uninterrupted(tmp_path, synthetic_clips):
    clips, long = synthetic_clips[:2], 100_000
    run_dir = tmp_path / "run"
    proc = _torchrun(clips, run_dir, "--iters", str(long), "--checkpoint-every", "2")
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            latest = run_dir / "latest.json"
            if latest.is_file() and json.loads(latest.read_text())["step"] >= 4:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        os.kill(_worker_of_rank(proc.pid, 1), signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0  # torchrun reports the lost rank
    killed_at = load_run(run_dir).iteration
    _finish(_torchrun(clips, run_dir, "--iters", str(long), "--stop-at", str(killed_at + 2)))
    assert load_run(run_dir).iteration == killed_at + 2
    train(clips, tmp_path / "straight", _opts(iterations=long, stop_at=killed_at + 2, accumulate=2))
    _assert_same(_weights(run_dir), _weights(tmp_path / "straight"))
