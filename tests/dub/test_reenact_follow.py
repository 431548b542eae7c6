"""The re-enactment check (minerf_dub/reenact_follow.py) on the generated portrait: each
setting's output is written once, measured against the driver's real mouth, and reused."""

from __future__ import annotations

import numpy as np
import pytest

from minerf_dub.lmd import mouth_opening, opening_correlation, video_landmarks
from minerf_dub.pipeline import DubOptions


def test_reenactment_follow_measures_each_setting_once(tmp_path, models, demo_video, monkeypatch):
    import minerf_dub.reenact_follow as rf

    options = DubOptions(run=models[0], audio2exp=models[1], personalize_steps=8, preview_seconds=1.0)
    settings = {"lift": {"speaker_lift": True, "expression_gain": 1.0}, "raw": {"speaker_lift": False}}
    result = rf.reenactment_follow(demo_video, demo_video, options, tmp_path, settings)
    assert result["driver"] == str(demo_video) and result["driver_frames"] == 100
    real, target = video_landmarks(demo_video), mouth_opening(video_landmarks(demo_video))
    for name in settings:
        out = tmp_path / f"{name}.mp4"
        assert out.exists() and not (tmp_path / f"{name}.report.png").exists()  # no report, no score
        points = video_landmarks(out)
        assert len(points) == 25  # the 1 s preview at the driver's 25 fps
        entry = result[name]
        assert entry["settings"] == settings[name]
        assert entry["opening_corr"] == pytest.approx(opening_correlation(points, real), abs=1e-3)
        assert entry["spread_vs_target"] == pytest.approx(np.nanstd(mouth_opening(points)) / np.nanstd(target), abs=1e-3)
        assert entry["spread_vs_driver"] > 0
    # a second call measures the outputs already there without dubbing again
    monkeypatch.setattr(rf, "dub", lambda *a, **k: pytest.fail("dubbed again"))
    assert rf.reenactment_follow(demo_video, demo_video, options, tmp_path, settings) == result
