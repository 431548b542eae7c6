"""Camera rays of a prepared clip, expressed in canonical head space, and pixel sampling.

A clip's ``pose[t]`` maps head space to (OpenCV) camera space, ``X_cam = R X_head + t``; the
pixel ``(u, v)`` (centre at ``+0.5``) looks along ``K^-1 [u + 0.5, v + 0.5, 1]``. In head space
the ray starts at ``-R^T t`` and runs along ``R^T d``; that is the paper's "transform the
sampled points to the canonical space". Near and far bounds are where the ray enters and
leaves :data:`~minerf_base.clip.HEAD_BOX`; a ray that misses the box gets ``near == far`` and so
renders the background. :class:`Rays` is what :meth:`MINeRF.render_rays` renders: the rays with
their background and the conditioning of the frame each belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int, Real
from torch import Tensor

from minerf_base.clip import HEAD_BOX


@dataclass
class Rays:
    """Rays in head space with everything that renders them (conditioning travels with the rays)."""

    origins: Float[Tensor, "rays 3"]
    """Ray origins in head space."""
    dirs: Float[Tensor, "rays 3"]
    """Unit ray directions in head space."""
    near: Float[Tensor, " rays"]
    """Depth where each ray enters the head box."""
    far: Float[Tensor, " rays"]
    """Depth where each ray leaves the head box (``near`` for rays that miss it)."""
    background: Float[Tensor, "rays 3"]
    """Colour behind the head, in [0, 1]."""
    cond: Float[Tensor, "rays cond"]
    """Conditioning vector of the frame each ray belongs to."""


def pixel_rays(
    pose: Float[Tensor, "4 4"] | Float[Tensor, "rays 4 4"], intrinsics: Float[Tensor, "3 3"], pixels: Real[Tensor, "rays 2"]
) -> tuple[Float[Tensor, "rays 3"], Float[Tensor, "rays 3"]]:
    """Rays through ``pixels`` (x, y integer or float pixel coords) of one frame's ``pose`` or
    of one pose per pixel -> ``origins``, unit ``dirs``, both in head space."""
    pix = pixels.to(intrinsics.dtype) + 0.5
    ones = torch.ones_like(pix[:, :1])
    cam = torch.cat([pix, ones], dim=-1) @ torch.linalg.inv(intrinsics).T  # (rays, 3)
    R = pose[..., :3, :3]
    t = pose[..., :3, 3]
    if pose.dim() == 2:
        dirs = cam @ R  # R^T d for each row
        origins = (-(R.T @ t)).expand_as(dirs)
    else:
        dirs = torch.einsum("rji,rj->ri", R, cam)
        origins = -torch.einsum("rji,rj->ri", R, t)
    return origins.contiguous(), dirs / dirs.norm(dim=-1, keepdim=True)


def box_bounds(
    origins: Float[Tensor, "rays 3"], dirs: Float[Tensor, "rays 3"], box: Float[np.ndarray, "2 3"] = HEAD_BOX
) -> tuple[Float[Tensor, " rays"], Float[Tensor, " rays"], Bool[Tensor, " rays"]]:
    """Slab intersection of rays with an axis-aligned box (min corner, max corner) -> ``near``,
    ``far``, ``hit``. Missed rays get ``near = far`` (an empty segment)."""
    lo = torch.as_tensor(box[0], dtype=origins.dtype, device=origins.device)
    hi = torch.as_tensor(box[1], dtype=origins.dtype, device=origins.device)
    safe = torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0 = (lo - origins) / safe
    t1 = (hi - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    hit = far > near
    far = torch.where(hit, far, near)
    return near, far, hit


def sample_pixels(
    num: int,
    size: int,
    face_box: Real[Tensor, "4"] | Real[np.ndarray, "4"],
    generator: torch.Generator | None = None,
    inside_fraction: float = 0.95,
) -> Int[Tensor, "rays 2"]:
    """``num`` random pixels (x, y) of an ``size`` x ``size`` image, ``inside_fraction`` of them
    inside ``face_box`` (x0, y0, x1, y1) (paper: 95 % of rays in the head box)."""
    n_in = int(round(num * inside_fraction))
    x0, y0, x1, y1 = [float(v) for v in face_box]
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(size), max(x1, x0 + 1)), min(float(size), max(y1, y0 + 1))
    u = torch.rand(n_in, 2, generator=generator)
    inside = torch.stack([x0 + u[:, 0] * (x1 - x0), y0 + u[:, 1] * (y1 - y0)], dim=-1).floor()
    outside = torch.randint(0, size, (num - n_in, 2), generator=generator).float()
    return torch.cat([inside, outside]).clamp(0, size - 1).long()


def grow_box(box: Real[np.ndarray, "4"], margin: float) -> Float[np.ndarray, "4"]:
    """A box (x0, y0, x1, y1) grown by ``margin`` times its width / height on each side (float64)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return np.array([x0 - mx, y0 - my, x1 + mx, y1 + my])


def pixel_box(box: Real[np.ndarray, "4"], margin: float, height: int, width: int) -> tuple[int, int, int, int]:
    """Integer pixel box (x0, y0, x1, y1) of an H x W image: ``box`` grown by ``margin``
    (:func:`grow_box`), outwards to whole pixels, clipped to the image (it may come out empty)."""
    x0, y0, x1, y1 = grow_box(box, margin)
    return max(0, int(np.floor(x0))), max(0, int(np.floor(y0))), min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
