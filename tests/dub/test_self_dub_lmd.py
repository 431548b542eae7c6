"""The self-dub LMD experiment end to end: mediapipe landmarks on real (generated) videos and
on dubs made by ``dub()`` with the video's own audio and with the shuffled control."""

from __future__ import annotations

import numpy as np
import pytest

from minerf.demo_media import DemoSpec, make_demo_video
from minerf.eval.metrics import psnr
from minerf_base.video_in import first_frame_time, iter_frames, read_audio
from minerf_dub.dub_quality import ACD_FRAMES, PSNR_CAP, IdentityJudge
from minerf_dub.lmd import (
    opening_correlation,
    pooled_paired_lmd_difference,
    video_landmarks,
    video_lmd,
)
from minerf_dub.pipeline import DubOptions
from minerf_dub.self_dub import self_dub_lmd


def test_lmd_of_videos_separates_a_mouth_that_speaks_other_words(tmp_path):
    # the same portrait and head motion; only the speech (so the mouth timing) differs
    real = make_demo_video(tmp_path / "real.mp4", DemoSpec(seconds=2.0, size=256, seed=0))
    other = make_demo_video(tmp_path / "other.mp4", DemoSpec(seconds=2.0, size=256, seed=1))
    same = video_lmd(real, real)
    assert same.lmd == 0.0 and same.frames == 50 and same.missing == 0
    different = video_lmd(other, real)
    assert different.frames == 50 and different.missing == 0
    assert different.lmd > 0.006  # measured 0.013: 1.3 % of the eye distance
    points_real, points_other = video_landmarks(real), video_landmarks(other)
    assert opening_correlation(points_real, points_real) == pytest.approx(1.0)
    assert opening_correlation(points_other, points_real) < 0.5


@pytest.fixture(scope="module")
def short_portrait_models(tmp_path_factory):
    """A 2 s portrait and a tiny MI-NeRF (400 steps, 64 px) + tiny audio2exp trained on it,
    prepared into the cache the dubs below use."""
    from minerf_dub.demo import DemoTraining, train_demo_audio2exp, train_demo_minerf
    from minerf_dub.sources import cached_clip

    root = tmp_path_factory.mktemp("self_dub")
    video = make_demo_video(root / "portrait.mp4", DemoSpec(seconds=2.0, size=256, seed=0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINERF_CACHE", str(root / "cache"))
        clip = cached_clip(video, 64, progress=False).path
    training = DemoTraining(nerf_steps=400, audio2exp_preset="tiny")
    train_demo_minerf(clip, root / "nerf", training, progress=False)
    train_demo_audio2exp(clip, root / "a2e", training, progress=False)
    return video, root / "nerf", root / "a2e", root / "cache"


def test_self_dub_reports_own_and_shuffled_audio_lmd(tmp_path, monkeypatch, short_portrait_models):
    video, run, a2e, cache = short_portrait_models
    monkeypatch.setenv("MINERF_CACHE", str(cache))  # the clip prepared for training: no second preparation
    from minerf_dub.pipeline import DubRender

    seen, write = [], DubRender.write
    monkeypatch.setattr(DubRender, "write", lambda self, path, expressions, *a, **k: seen.append((path.name, self.clip, np.array(expressions))) or write(self, path, expressions, *a, **k))
    result = self_dub_lmd(video, DubOptions(run=run, audio2exp=a2e), tmp_path, seed=1, tracked=True)
    # the tracked case re-renders the clip's own tracked expressions as they are (no lift, no gain)
    (name, clip, tracked), = [s for s in seen if "tracked" in s[0]]
    np.testing.assert_allclose(tracked, clip.expression, atol=1e-6)
    assert result["frames_tracked"] == 50 and np.isfinite(result["opening_corr_tracked"])
    for case in ("own", "shuffled"):
        # every output frame is aligned with a real frame and the re-rendered face is found
        assert result[f"frames_{case}"] == 50 and result[f"missing_{case}"] == 0
        assert 0.0 < result[f"lmd_{case}"] < 0.15
    assert result["ratio"] == pytest.approx(result["lmd_shuffled"] / result["lmd_own"], abs=2e-3)
    # only the head is re-rendered: the face crop is further from the real frames than the whole frame
    whole = np.mean([psnr(a / 255.0, b / 255.0) for a, b in zip(iter_frames(tmp_path / "own.mp4"), iter_frames(video))])
    for case in ("own", "shuffled"):
        assert result[f"face_frames_{case}"] == 50 and 15.0 < result[f"face_psnr_{case}"] < min(whole, PSNR_CAP)
    if IdentityJudge.open().embedder is None:
        assert result["acd_own"] is None and result["acd_frames_own"] == 0 and result["acd_note"].startswith("ACD not measured")
    else:
        assert "acd_note" not in result and 0.0 <= result["acd_real"] < 2.0
        for case in ("own", "shuffled"):
            assert result[f"acd_frames_{case}"] == ACD_FRAMES and 0.0 < result[f"acd_{case}"] < 2.0
    paired = result["paired"]
    assert paired["frames"] == 50 and 0.0 <= paired["own_closer_fraction"] <= 1.0
    assert paired["mean_difference"] == pytest.approx(result["lmd_shuffled"] - result["lmd_own"], abs=1e-4)
    assert paired["ci95"][0] <= paired["mean_difference"] <= paired["ci95"][1]
    assert result["settings"]["seed"] == 1 and result["settings"]["segment_seconds"] == [0.2, 0.5]
    with np.load(tmp_path / "landmarks.npz") as points:  # what pooled analyses read back
        assert set(points.files) == {"real", "own", "shuffled", "tracked"} and points["own"].shape[1:] == (468, 2) and len(points["own"]) >= 50
        assert pooled_paired_lmd_difference([(points["own"], points["shuffled"], points["real"])], seed=1) == paired
    import soundfile as sf

    own, _ = sf.read(tmp_path / "own.wav", dtype="float32")
    shuffled, _ = sf.read(tmp_path / "shuffled.wav", dtype="float32")
    source = read_audio(video, 16000, start=first_frame_time(video))
    np.testing.assert_allclose(own, source, atol=1e-4)
    assert len(shuffled) == len(own) and not np.allclose(shuffled, own, atol=1e-3)
    np.testing.assert_allclose(np.sort(shuffled), np.sort(own), atol=1e-4)
