"""Mouth landmark distance (LMD) and the shuffled-audio control, on known point sets."""

from __future__ import annotations

import numpy as np
import pytest

from minerf_dub.lmd import (
    MOUTH_LANDMARKS,
    centred_mouth,
    eye_distance,
    frame_lmd,
    landmark_distance,
    mouth_opening,
    opening_correlation,
    opening_spread,
    paired_lmd_difference,
    pooled_opening,
    pooled_paired_lmd_difference,
)
from minerf_dub.self_dub import shuffle_plan, shuffle_segments


def _face(radius: float, centre=(50.0, 80.0), eyes=((0.0, 0.0), (100.0, 0.0))) -> np.ndarray:
    """(468, 2) points: outer eye corners as given, the 40 lip points evenly on a circle."""
    points = np.zeros((468, 2))
    points[33], points[263] = eyes
    angles = np.linspace(0, 2 * np.pi, len(MOUTH_LANDMARKS), endpoint=False)
    points[MOUTH_LANDMARKS] = np.asarray(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    return points


def test_lip_indices_are_the_40_outer_and_inner_lip_points():
    assert len(MOUTH_LANDMARKS) == 40 and len(set(MOUTH_LANDMARKS.tolist())) == 40
    assert {61, 291, 0, 17, 13, 14, 78, 308} <= set(MOUTH_LANDMARKS.tolist())


def test_identical_mouths_have_zero_distance_wherever_the_head_is():
    real = _face(10.0)
    assert frame_lmd(real, real) == 0.0
    assert frame_lmd(real + np.array([13.0, -7.0]), real) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(centred_mouth(real).mean(0), 0.0, atol=1e-12)


def test_a_wider_mouth_is_its_radius_difference_over_the_eye_distance():
    # every lip point 2 px further from the centroid, eye distance 100 px -> 0.02
    assert frame_lmd(_face(12.0, centre=(58.0, 91.0)), _face(10.0)) == pytest.approx(0.02)
    assert eye_distance(_face(10.0)) == pytest.approx(100.0)


def test_the_real_frames_eye_distance_sets_the_scale():
    # the same shapes in a video twice as large: same LMD
    big_real = _face(20.0, centre=(100.0, 160.0), eyes=((0.0, 0.0), (200.0, 0.0)))
    assert frame_lmd(_face(24.0), big_real) == pytest.approx(0.02)
    # the output's own eye distance does not matter
    assert frame_lmd(_face(12.0, eyes=((0.0, 0.0), (50.0, 0.0))), _face(10.0)) == pytest.approx(0.02)


def test_sequence_mean_skips_frames_without_a_face_and_counts_them():
    real = np.stack([_face(10.0)] * 4)
    out = np.stack([_face(10.0), _face(12.0), _face(14.0), _face(10.0), _face(10.0)])  # one extra frame
    out[3] = np.nan
    result = landmark_distance(out, real)
    assert result.frames == 3 and result.missing == 1
    np.testing.assert_allclose(result.per_frame, [0.0, 0.02, 0.04])
    assert result.lmd == pytest.approx(0.02)
    assert result.to_dict() == {"lmd": 0.02, "frames": 3, "missing": 1}


def test_paired_difference_counts_frames_and_brackets_the_mean():
    real = np.stack([_face(10.0)] * 40)
    own = np.stack([_face(10.0 + 0.5 * (k % 2)) for k in range(40)])  # LMD 0 or 0.005
    control = np.stack([_face(12.0)] * 40)  # LMD 0.02 everywhere
    control[5] = np.nan  # no face there: that frame is left out of the pairing
    result = paired_lmd_difference(own, control, real, block=5, seed=0)
    assert result["frames"] == 39 and result["own_closer_fraction"] == 1.0
    diff = 0.02 - np.array([0.005 * (k % 2) for k in range(40) if k != 5])
    assert result["mean_difference"] == pytest.approx(diff.mean(), abs=1e-6)
    low, high = result["ci95"]
    assert 0.015 <= low <= diff.mean() <= high <= 0.02
    # swapped roles: own is the farther one, the interval lies below zero
    swapped = paired_lmd_difference(control, own, real, block=5)
    assert swapped["own_closer_fraction"] == 0.0 and swapped["ci95"][1] < 0
    # the same mouths: no difference, the interval is exactly zero
    assert paired_lmd_difference(own, own, real)["ci95"] == [0.0, 0.0]
    assert paired_lmd_difference(own[:0], control[:0], real[:0])["frames"] == 0


def test_pooled_difference_weights_frames_and_narrows_with_more_videos():
    rng = np.random.default_rng(0)
    real = np.stack([_face(10.0)] * 60)
    own = np.stack([_face(10.0 + rng.uniform(0, 1.5)) for _ in range(60)])
    control = np.stack([_face(10.0 + rng.uniform(0, 1.5)) for _ in range(60)])
    short = paired_lmd_difference(own[:20], control[:20], real[:20], block=5)
    long = paired_lmd_difference(own, control, real, block=5)
    both = pooled_paired_lmd_difference([(own[:20], control[:20], real[:20]), (own, control, real)], block=5)
    assert both["frames"] == 80
    assert both["mean_difference"] == pytest.approx((20 * short["mean_difference"] + 60 * long["mean_difference"]) / 80, abs=2e-6)
    twice = pooled_paired_lmd_difference([(own, control, real), (own, control, real)], block=5)
    assert twice["mean_difference"] == pytest.approx(long["mean_difference"], abs=1e-6)
    # the same frames twice, each video resampled on its own: a narrower interval (~1/sqrt(2))
    width = lambda r: r["ci95"][1] - r["ci95"][0]  # noqa: E731
    assert 0.55 * width(long) < width(twice) < 0.85 * width(long)
    assert pooled_paired_lmd_difference([], block=5)["frames"] == 0


def test_shuffled_audio_has_the_same_segments_in_another_order():
    wave = np.arange(16000 * 3, dtype=np.float32)  # 3 s, every sample unique
    bounds, order = shuffle_plan(len(wave), 16000, seed=3)
    lengths = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == len(wave)
    assert ((lengths[:-1] >= 3200) & (lengths[:-1] <= 8000)).all() and 0 < lengths[-1] <= 8000
    assert sorted(order.tolist()) == list(range(len(lengths))) and not np.any(order == np.arange(len(order)))
    shuffled = shuffle_segments(wave, 16000, seed=3)
    expected = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in order])
    np.testing.assert_array_equal(shuffled, expected)
    np.testing.assert_array_equal(np.sort(shuffled), wave)
    np.testing.assert_array_equal(shuffle_segments(wave, 16000, seed=3), shuffled)
    assert not np.array_equal(shuffle_segments(wave, 16000, seed=4), shuffled)


def test_audio_shorter_than_two_segments_cannot_be_shuffled():
    with pytest.raises(ValueError, match="shorter than two segments"):
        shuffle_segments(np.zeros(1000, np.float32), 16000)


def test_mouth_opening_and_its_correlation_over_time():
    real = np.stack([_face(10.0) for _ in range(5)])
    gaps = np.array([2.0, 6.0, 4.0, 10.0, 8.0])
    real[:, 13] = [50.0, 70.0]
    real[:, 14, 0], real[:, 14, 1] = 50.0, 70.0 + gaps
    np.testing.assert_allclose(mouth_opening(real), gaps / 100.0)
    out = real.copy()
    assert opening_correlation(out, real) == pytest.approx(1.0)
    out[:, 14, 1] = 70.0 + gaps[::-1]
    assert opening_correlation(out, real) == pytest.approx(np.corrcoef(gaps[::-1], gaps)[0, 1])
    out[:, 14, 1] = 75.0  # a mouth that never moves
    assert np.isnan(opening_correlation(out, real))


def test_opening_spread_is_the_ratio_of_standard_deviations_on_frames_with_a_face():
    real = np.stack([_face(10.0) for _ in range(6)])
    gaps = np.array([2.0, 6.0, 4.0, 10.0, 8.0, 3.0])
    real[:, 13] = [50.0, 70.0]
    real[:, 14, 0], real[:, 14, 1] = 50.0, 70.0 + gaps
    out = real.copy()
    out[:, 14, 1] = 70.0 + 0.5 * gaps + 1.0  # half the motion, shifted
    assert opening_spread(out, real) == pytest.approx(0.5)
    out[2] = np.nan  # a frame without a face in the output: left out of both
    assert opening_spread(out, real) == pytest.approx(0.5)
    real[:, 14, 1] = 75.0  # a real mouth that never moves: no ratio
    assert np.isnan(opening_spread(out, real))


def _opening_faces(gaps: np.ndarray) -> np.ndarray:
    """(T, 468, 2) faces whose inner-lip gap is ``gaps`` px (eye distance 100 px)."""
    faces = np.stack([_face(10.0) for _ in gaps])
    faces[:, 13] = [50.0, 70.0]
    faces[:, 14, 0], faces[:, 14, 1] = 50.0, 70.0 + np.asarray(gaps, np.float64)
    return faces


def test_pooled_opening_measures_each_video_around_its_own_mean():
    real_a, real_b = np.array([2.0, 6.0, 4.0, 8.0]), np.array([12.0, 20.0, 16.0, 14.0, 18.0])
    # the output moves twice as much as the real mouth, around another mean in each video
    videos = [(_opening_faces(2 * real_a + 1), _opening_faces(real_a)), (_opening_faces(2 * real_b - 20), _opening_faces(real_b))]
    corr, spread = pooled_opening(videos)
    assert corr == pytest.approx(1.0) and spread == pytest.approx(2.0)
    # over the raw frames together the offsets between the videos would blur it
    out_all, real_all = (np.concatenate([mouth_opening(v[i]) for v in videos]) for i in (0, 1))
    assert np.corrcoef(out_all, real_all)[0, 1] < 0.9
    # one video: that video's values
    noisy = _opening_faces(real_b + np.array([1.0, -2.0, 0.5, 3.0, -1.0]))
    one = pooled_opening([(noisy, _opening_faces(real_b))])
    assert one == pytest.approx((opening_correlation(noisy, _opening_faces(real_b)), opening_spread(noisy, _opening_faces(real_b))))
    assert all(np.isnan(pooled_opening([])))
