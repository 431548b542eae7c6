"""Every real video in ../shared/data/videos prepares into a valid clip with sane tracks."""

from __future__ import annotations

import numpy as np
import pytest

from minerf.prepare.expression_space import LOWER_INNER_LIP, UPPER_INNER_LIP
from minerf.prepare.geometry import project, rotation_angle_deg
from minerf_base.clip import load_clip
from minerf_base.video_in import probe


def test_every_shared_video_prepares_and_validates(prepared_shared_clips):
    assert len(prepared_shared_clips) >= 13
    for name, path in prepared_shared_clips.items():
        clip = load_clip(path, expression_space="mp468-pca-v1")
        assert clip.resolution == 128
        assert clip.meta["fps"] == 25
        source = probe(clip.meta["source"]["path"])
        # 25 fps output covers the source duration (within a frame)
        assert abs(clip.num_frames / 25 - source.duration) <= 1 / 25 + 1 / source.fps, name


def test_thirty_fps_sources_come_out_at_25_fps_with_aligned_audio(prepared_shared_clips):
    for name in ("interview_man_700px_30fps", "news_woman_700px_30fps"):
        clip = load_clip(prepared_shared_clips[name])
        assert clip.has_audio
        audio = clip.audio()
        assert abs(len(audio) / 640 - clip.num_frames) <= 1
        # the original track's length (before padding) matches the frame count within a frame
        from minerf_base.video_in import read_audio

        raw = read_audio(clip.meta["source"]["path"])
        assert abs(len(raw) / 16000 * 25 - clip.num_frames) <= 1.5, name


def test_reprojection_error_below_two_percent_of_crop(prepared_shared_clips):
    for name, path in prepared_shared_clips.items():
        clip = load_clip(path)
        errors = [
            np.median(np.linalg.norm(project(clip.landmarks3d[i], clip.pose[i], clip.intrinsics) - clip.landmarks2d[i], axis=1))
            for i in range(clip.num_frames)
        ]
        assert np.median(errors) < 0.02 * clip.resolution, name


def test_head_rotation_never_jumps_more_than_five_degrees(prepared_shared_clips):
    for name, path in prepared_shared_clips.items():
        clip = load_clip(path)
        steps = [rotation_angle_deg(clip.pose[i, :3, :3], clip.pose[i + 1, :3, :3]) for i in range(clip.num_frames - 1)]
        assert max(steps) < 5.0, (name, max(steps))


def test_mouth_expressions_follow_lip_opening_on_grid(prepared_shared_clips):
    grid = [n for n in prepared_shared_clips if n.startswith("grid_")]
    assert len(grid) == 8
    for name in grid:
        clip = load_clip(prepared_shared_clips[name])
        opening = np.linalg.norm(clip.landmarks2d[:, UPPER_INNER_LIP] - clip.landmarks2d[:, LOWER_INNER_LIP], axis=1)
        mouth = clip.meta["expression_space"]["mouth_components"]
        best = max(abs(np.corrcoef(clip.expression[:, k], opening)[0, 1]) for k in mouth)
        assert best > 0.7, (name, best)
        # and the lip opening itself follows the speech envelope
        audio = clip.audio().reshape(clip.num_frames, 640)
        envelope = np.sqrt((audio**2).mean(1))
        assert np.corrcoef(opening, envelope)[0, 1] > 0.2, name


def test_silent_expressions_clip_is_marked_without_audio(prepared_shared_clips):
    clip = load_clip(prepared_shared_clips["silent_expressions_no_speech"])
    assert not clip.has_audio
    assert clip.meta["audio"]["status"] == "audio track is silent"
    assert not (clip.path / "audio.wav").exists()
    with pytest.raises(Exception, match="no audio"):
        clip.audio()


def test_masks_cover_face_and_leave_background(prepared_shared_clips):
    for name, path in prepared_shared_clips.items():
        clip = load_clip(path)
        i = clip.num_frames // 2
        mask = clip.mask(i) > 127
        lm = clip.landmarks2d[i].round().astype(int).clip(0, clip.resolution - 1)
        assert mask[lm[:, 1], lm[:, 0]].mean() > 0.95, name  # the face is head
        assert 0.08 < mask.mean() < 0.75, (name, mask.mean())  # not everything
        assert not mask[:, :3].all() or not mask[:, -3:].all(), name
