"""Mouth-focused ray sampling: ``mouth_fraction`` of each frame's rays land in the lips' box."""

from __future__ import annotations

import numpy as np
import torch

from minerf.data import MultiClipData
from minerf.model.rays import grow_box
from minerf.prepare.expression_space import LIP_POINTS


def _rays_in_lip_box(data: MultiClipData, mouth_fraction: float) -> float:
    batch = data.sample_batch(400, 1, 1, 0.95, torch.Generator().manual_seed(0), 0.25, mouth_fraction)
    # recover the frame the rays came from: the one batch frame's expression row
    clip = data.clips[0]
    t = int(np.argmin(np.abs(clip.expression - batch.expression[0, 0].numpy()).sum(axis=1)))
    lips = clip.landmarks2d[t][LIP_POINTS]
    x0, y0, x1, y1 = grow_box(np.concatenate([lips.min(axis=0), lips.max(axis=0)]), 0.3).tolist()
    # the pixel of each ray: project its direction through the frame's camera
    dirs = batch.dirs.numpy()
    pose = clip.pose[t].astype(np.float64)
    cam = dirs @ pose[:3, :3].T
    uv = cam[:, :2] / cam[:, 2:3] * np.diag(clip.intrinsics)[:2] + clip.intrinsics[:2, 2]
    inside = (uv[:, 0] >= np.floor(x0) - 1) & (uv[:, 0] <= x1 + 1) & (uv[:, 1] >= np.floor(y0) - 1) & (uv[:, 1] <= y1 + 1)
    return float(inside.mean())


def test_mouth_fraction_puts_that_share_of_rays_on_the_lips(demo_clip):
    data = MultiClipData.from_dirs([demo_clip])
    base = _rays_in_lip_box(data, 0.0)
    focused = _rays_in_lip_box(data, 0.5)
    assert base < 0.2
    assert focused >= 0.5 + 0.5 * base - 0.03
