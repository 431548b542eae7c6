"""Face-crop PSNR and ACD of a dub against the real frames (minerf_dub.dub_quality), on
synthetic frames with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from minerf.eval.embedding import embedding_acd
from minerf_base.errors import InputError
from minerf_base.video_out import write_video
from minerf_dub import dub_quality
from minerf_dub.dub_quality import (
    PSNR_CAP,
    IdentityJudge,
    compare_face_crops,
    compare_face_videos,
    crop_psnr,
    landmark_box,
    spread_indices,
)
from minerf_dub.self_dub import measure_case
from tests.dub.test_lmd import _face


def _points(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(468, 2) points filling the box (x0, y0)-(x1, y1), its corners among them."""
    rng = np.random.default_rng(0)
    points = rng.uniform([x0, y0], [x1, y1], (468, 2))
    points[0], points[1] = (x0, y0), (x1, y1)
    return points


def test_identical_crops_score_the_cap_and_a_uniform_error_the_psnr_formula():
    real = np.full((20, 30, 3), 100, np.uint8)
    assert crop_psnr(real, real) == PSNR_CAP
    # every channel of every pixel 10 grey levels off: MSE = (10 / 255)^2
    assert crop_psnr(real + 10, real) == pytest.approx(20 * np.log10(255 / 10))
    assert crop_psnr(real - 10, real) == pytest.approx(28.1308, abs=1e-4)


def test_face_box_is_the_landmark_box_grown_by_ten_percent_and_clipped():
    # box 40 x 60 px -> 4 px and 6 px more on each side
    assert landmark_box(_points(20, 30, 60, 90), height=120, width=100) == (16, 24, 64, 96)
    # near the edges the grown box is cut at the frame
    assert landmark_box(_points(2, 50, 98, 118), height=120, width=100) == (0, 43, 100, 120)
    assert landmark_box(np.full((468, 2), np.nan), 120, 100) is None
    assert landmark_box(_points(200, 200, 240, 260), 120, 100) is None  # outside the frame


def test_sampled_frames_are_spread_evenly_over_the_candidates():
    assert spread_indices(np.array([0, 2, 3]), 5).tolist() == [0, 2, 3]
    assert spread_indices(np.arange(10, 21), 3).tolist() == [10, 15, 20]


def test_crops_are_compared_inside_the_real_face_box_on_frames_with_a_face():
    points = np.stack([_points(20, 30, 60, 90)] * 5)
    points[1] = np.nan  # no face in the real frame 1
    real = [np.full((120, 100, 3), 100, np.uint8) for _ in range(6)]  # one frame more than the points
    output = []
    for k in range(6):
        frame = np.zeros((120, 100, 3), np.uint8)  # outside the face box: far off, not counted
        frame[24:96, 16:64] = 100 + 10 * (k % 2)  # inside: exact on even frames, 10 off on odd ones
        output.append(frame)
    crops = compare_face_crops(iter(output), iter(real), points, samples=2)
    assert crops.frames == 4 and crops.missing == 1  # frames 0, 2, 3, 4; frame 5 has no points
    np.testing.assert_allclose(crops.psnr, [PSNR_CAP, PSNR_CAP, 20 * np.log10(25.5), PSNR_CAP])
    assert crops.mean_psnr == pytest.approx((3 * PSNR_CAP + 20 * np.log10(25.5)) / 4)
    # the ACD samples: the first and last frames with a face, cropped to the box
    assert len(crops.output_crops) == len(crops.real_crops) == 2
    assert all(c.shape == (72, 48, 3) for c in crops.output_crops + crops.real_crops)
    assert compare_face_crops([], [], points).mean_psnr is None


def test_videos_are_compared_frame_by_frame_and_must_have_the_same_size(tmp_path):
    frames = [np.full((64, 64, 3), 40 + 20 * k, np.uint8) for k in range(5)]
    video = write_video(tmp_path / "real.mp4", frames)
    points = np.stack([_points(10, 10, 50, 50)] * 5)
    same = compare_face_videos(video, video, points)
    assert same.frames == 5 and same.psnr == [PSNR_CAP] * 5
    small = write_video(tmp_path / "small.mp4", [f[:32, :32] for f in frames])
    with pytest.raises(InputError, match="cannot be compared"):
        compare_face_videos(small, video, points)


def _crops(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(count)]


def test_acd_with_the_installed_embedder():
    judge = IdentityJudge.open()
    if judge.embedder is None:
        pytest.skip(judge.note)
    real, other = _crops(0, 3), _crops(1, 2)
    assert judge.acd([real[0]], [real[0]]) == pytest.approx(0.0, abs=1e-9)  # the reference: real[0] alone
    judge = IdentityJudge.open()
    reference = judge.embedder.embed_many(real)
    assert judge.acd(other, real) == pytest.approx(embedding_acd(judge.embedder.embed_many(other), reference))
    assert judge.real_acd(real) == pytest.approx(embedding_acd(reference, reference))
    assert 0.0 < judge.real_acd(real) < 2.0 and judge.acd([], real) is None


def test_without_the_embedding_backend_acd_is_none_and_says_why(monkeypatch):
    def missing(*args, **kwargs):
        raise InputError(None, "dlib is not importable (test)", "install it")

    monkeypatch.setattr(dub_quality, "FaceEmbedder", missing)
    judge = IdentityJudge.open()
    assert judge.embedder is None and judge.note.startswith("ACD not measured") and "dlib is not importable" in judge.note
    assert judge.acd(_crops(0, 2), _crops(1, 2)) is None and judge.real_acd(_crops(1, 2)) is None
    radii = np.linspace(5, 15, 6)
    real = np.stack([_face(r) for r in radii])
    crops = dub_quality.FaceCrops(psnr=[30.0, 20.0], output_crops=_crops(0, 2), real_crops=_crops(1, 2))
    case = measure_case("own", np.stack([_face(r) for r in 2 * radii]), real, crops, judge)
    assert case["face_psnr_own"] == 25.0 and case["face_frames_own"] == 2
    assert case["acd_own"] is None and case["acd_frames_own"] == 0
    assert case["opening_corr_own"] == 1.0 and case["opening_spread_own"] == 2.0 and case["frames_own"] == 6
