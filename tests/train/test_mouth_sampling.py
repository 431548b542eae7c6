"""Mouth-focused ray sampling: ``mouth_fraction`` of each frame's rays land in the lips' box,
``lower_fraction`` in the box of the lower face that a dub re-renders."""

from __future__ import annotations

import numpy as np
import torch

from minerf.data import MultiClipData, RayShares
from minerf.model.rays import grow_box
from minerf.prepare.expression_space import LIP_POINTS, LOWER_FACE_OUTLINE, lower_face_box


def _lip_box(landmarks2d: np.ndarray, size: int) -> np.ndarray:
    lips = landmarks2d[LIP_POINTS]
    return grow_box(np.concatenate([lips.min(axis=0), lips.max(axis=0)]), 0.3)


def _rays_in_box(data: MultiClipData, box_of, mouth_fraction: float = 0.0, lower_fraction: float = 0.0) -> float:
    """Share of one frame's 400 rays inside ``box_of(landmarks2d, size)`` of that frame."""
    batch = data.sample_batch(400, 1, 1, RayShares(0.95, 0.25, mouth_fraction, lower_fraction), torch.Generator().manual_seed(0))
    # recover the frame the rays came from: the one batch frame's expression row
    clip = data.clips[0]
    t = int(np.argmin(np.abs(clip.expression - batch.expression[0, 0].numpy()).sum(axis=1)))
    x0, y0, x1, y1 = (float(v) for v in box_of(clip.landmarks2d[t], clip.resolution))
    # the pixel of each ray: project its direction through the frame's camera
    dirs = batch.dirs.numpy()
    pose = clip.pose[t].astype(np.float64)
    cam = dirs @ pose[:3, :3].T
    uv = cam[:, :2] / cam[:, 2:3] * np.diag(clip.intrinsics)[:2] + clip.intrinsics[:2, 2]
    inside = (uv[:, 0] >= np.floor(x0) - 1) & (uv[:, 0] <= x1 + 1) & (uv[:, 1] >= np.floor(y0) - 1) & (uv[:, 1] <= y1 + 1)
    return float(inside.mean())


def test_mouth_fraction_puts_that_share_of_rays_on_the_lips(demo_clip):
    data = MultiClipData.from_dirs([demo_clip])
    base = _rays_in_box(data, _lip_box)
    focused = _rays_in_box(data, _lip_box, mouth_fraction=0.5)
    assert base < 0.2
    assert focused >= 0.5 + 0.5 * base - 0.03


def test_lower_fraction_puts_that_share_of_rays_on_the_lower_face(demo_clip):
    data = MultiClipData.from_dirs([demo_clip])
    base = _rays_in_box(data, lower_face_box)
    focused = _rays_in_box(data, lower_face_box, lower_fraction=0.6)
    assert base < 0.6
    assert focused >= 0.6 + 0.4 * base - 0.03
    both = data.sample_batch(400, 1, 1, RayShares(0.95, 0.25, 0.5, 0.9), torch.Generator().manual_seed(0))
    assert len(both.dirs) == 400  # the two shares are capped at every ray, not more


def test_lower_face_box_holds_the_lips_and_the_jaw_room_below_the_chin():
    rng = np.random.default_rng(0)
    points = rng.uniform(20, 100, (468, 2))
    box = lower_face_box(points, 128, jaw_room=0.1)
    outline = points[LOWER_FACE_OUTLINE]
    np.testing.assert_allclose(box, [*outline.min(axis=0), outline[:, 0].max(), outline[:, 1].max() + 12.8])
    points[LOWER_FACE_OUTLINE, 1] -= 5.0  # the outline moves up: so does the box, the other points do not count
    np.testing.assert_allclose(lower_face_box(points, 128, jaw_room=0.1)[[1, 3]], box[[1, 3]] - 5.0)
