"""minerf train / render / eval through the command line."""

from __future__ import annotations

import json

import av
import numpy as np
from click.testing import CliRunner

from minerf_dub.cli import minerf


def test_render_pastes_into_source_frames(tiny_run, synthetic_clips, tmp_path):
    run_dir, _ = tiny_run
    out = tmp_path / "transfer.mp4"
    result = CliRunner().invoke(minerf, ["render", str(run_dir), "--identity", "head0", "--expressions-from", str(synthetic_clips[1]), "-o", str(out), "--max-frames", "5", "-q", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["frames"] == 5 and info["full_frame"]
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (40, 48, 3)
    # outside the pasted crop the source frame (grey 90) is untouched
    assert abs(float(frames[0][:, :8].mean()) - 90) < 4


def test_render_expressions_file_and_errors(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    expr = tmp_path / "e.npy"
    np.save(expr, np.full((4, 4), 0.5, np.float32))
    out = tmp_path / "crop.mp4"
    ok = CliRunner().invoke(minerf, ["render", str(run_dir), "--identity", "head2", "--expressions", str(expr), "--crop-only", "-o", str(out), "-q"])
    assert ok.exit_code == 0, ok.output
    with av.open(str(out)) as container:
        assert container.streams.video[0].width == 32
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 7), np.float32))
    wrong = CliRunner().invoke(minerf, ["render", str(run_dir), "--identity", "head2", "--expressions", str(bad), "-o", str(out), "-q"])
    assert wrong.exit_code == 2 and "(T, 4)" in wrong.output
    unknown = CliRunner().invoke(minerf, ["render", str(run_dir), "--identity", "nobody", "-o", str(out), "-q"])
    assert unknown.exit_code == 2 and "head0" in unknown.output


def test_eval_command_reports_per_identity(tiny_run):
    run_dir, _ = tiny_run
    result = CliRunner().invoke(minerf, ["eval", str(run_dir), "--max-frames", "1", "--json", "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["identities"]) == {"head0", "head1", "head2"} and all(v["frames"] == 1 for v in data["identities"].values())
    assert "lpips" in data["not_measured"]


def test_train_command_rejects_missing_clip(tmp_path):
    result = CliRunner().invoke(minerf, ["train", str(tmp_path / "nope"), "-o", str(tmp_path / "run"), "--preset", "tiny", "--iters", "1", "-q"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_cuda_only_flags_are_refused_on_cpu(synthetic_clips, tmp_path):
    for flag in ("--bf16", "--compile"):
        result = CliRunner().invoke(minerf, ["train", str(synthetic_clips[0]), "-o", str(tmp_path / "run"), "--preset", "tiny", "--device", "cpu", flag, "-q"])
        assert result.exit_code == 2, result.output
        assert f"{flag} run on CUDA only; this run trains on cpu" in result.output and f"drop {flag}" in result.output
    assert not (tmp_path / "run").exists()
