"""``minerf export``: weights only, same model, portable identity lookup."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from checkpoints import has_train_state
from minerf.run import latest_checkpoint, load_run
from minerf.train.export import clip_source_sha, export_run
from minerf_base.clip import load_clip
from minerf_base.errors import InputError
from minerf_dub.cli import minerf
from minerf_dub.identity import known_identity


def test_export_keeps_the_model_and_drops_the_optimizer(tiny_run, synthetic_clips, tmp_path):
    run_dir, _ = tiny_run
    out = tmp_path / "export"
    result = CliRunner().invoke(minerf, ["export", str(run_dir), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    original, exported = load_run(run_dir), load_run(out)
    assert exported.iteration == original.iteration == summary["iteration"]
    assert not has_train_state(exported.checkpoint) and has_train_state(original.checkpoint)
    for name, value in original.model.state_dict().items():
        assert torch.equal(value, exported.model.state_dict()[name]), name
    src = sum(p.stat().st_size for p in latest_checkpoint(run_dir).iterdir())
    dst = sum(p.stat().st_size for p in latest_checkpoint(out).iterdir())
    assert dst < 0.5 * src
    clip = load_clip(synthetic_clips[1])
    assert known_identity(exported, clip) == known_identity(original, clip)
    assert known_identity(exported, clip)[0] == clip.name


def test_clip_source_sha_prefers_the_record_then_the_clip(synthetic_clips, tmp_path):
    clip = load_clip(synthetic_clips[0])
    sha = clip.meta["source"]["sha256"]
    assert clip_source_sha({"path": str(synthetic_clips[0])}) == sha
    assert clip_source_sha({"path": str(tmp_path / "moved"), "source_sha256": "ab12"}) == "ab12"
    assert clip_source_sha({"path": str(tmp_path / "moved")}) is None


def test_export_refuses_a_non_empty_folder(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        export_run(run_dir, tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
