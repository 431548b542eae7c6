"""`lipsync score`: JSON and table output, batch behaviour, exit statuses."""

from __future__ import annotations

import json

from click.testing import CliRunner

from minerf_dub.cli import lipsync
from tests.conftest import shared_data


def test_missing_weights_stop_with_status_2_and_a_fix(tmp_path, monkeypatch):
    monkeypatch.setattr("lipsync.weights.shipped_expert", lambda: None)  # without it the shipped expert is found
    video = tmp_path / "v.mp4"
    video.write_text("x")
    out = CliRunner().invoke(lipsync, ["score", str(video)])
    assert out.exit_code == 2
    assert "no SyncNet weights found" in out.output and "lipsync train" in out.output


def test_batch_reports_failures_and_scores_the_rest(random_weights, tmp_path):
    real = shared_data("videos", "grid_bbaf2n.mpg")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    runner = CliRunner()
    out = runner.invoke(lipsync, ["score", str(bad), str(real), "--weights", str(random_weights), "--json"])
    assert out.exit_code == 1  # one file failed
    data = json.loads(out.output[out.output.index("{") :])
    assert list(data["errors"]) == [str(bad)]
    (result,) = data["results"]
    assert result["source"] == str(real) and result["weights_id"].startswith("syncnet_v2-layout:")
    assert data["num_tracks"] == 1 and data["mean_lse_d"] == result["lse_d"]
    assert any("shorter than the video" in note for note in result["notes"])


def test_glob_that_matches_nothing_is_an_input_error(random_weights, tmp_path):
    out = CliRunner().invoke(lipsync, ["score", str(tmp_path / "*.mp4"), "--weights", str(random_weights)])
    assert out.exit_code == 2 and "matches no file" in out.output
