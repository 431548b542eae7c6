"""Rendering whole views (or boxes of them) and the image metrics of the paper.

:func:`render_view` is the one entry point that renders a picture from a camera (pose,
intrinsics), a per-frame conditioning vector and a background image; evaluation,
validation images, ``minerf render`` and the dubbing pipeline all go through it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from minerf.model.mi_nerf import MINeRF
from minerf.model.rays import Rays, box_bounds, grow_box, pixel_rays


@torch.no_grad()
def render_view(
    model: MINeRF,
    pose: Tensor,
    intrinsics: Tensor,
    cond: Tensor,
    background: Tensor,
    box: tuple[int, int, int, int] | None = None,
    chunk: int = 8192,
    region: Tensor | None = None,
) -> dict[str, Tensor]:
    """Render pixels of an S x S view.

    ``pose`` (4, 4) head -> camera, ``intrinsics`` (3, 3), ``cond`` (C,), ``background``
    (S, S, 3) float in [0, 1]; ``box`` (x0, y0, x1, y1) limits rendering to a crop; ``region``
    (S, S) bool limits the field to those pixels (the rest shows the background).
    Returns ``rgb`` (H, W, 3) and ``acc`` (H, W) on the model's device. Rays that miss the
    head box take the background without evaluating the field.
    """
    device = cond.device
    size = background.shape[0]
    x0, y0, x1, y1 = box if box is not None else (0, 0, size, size)
    ys, xs = torch.meshgrid(torch.arange(y0, y1), torch.arange(x0, x1), indexing="ij")
    pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1).to(device)
    origins, dirs = pixel_rays(pose.to(device).float(), intrinsics.to(device).float(), pixels)
    near, far, hit = box_bounds(origins, dirs)
    if region is not None:
        hit = hit & region.to(device)[pixels[:, 1], pixels[:, 0]]
    bg = background.to(device)[pixels[:, 1], pixels[:, 0]]
    rgb = bg.clone()
    acc = torch.zeros(len(pixels), device=device)
    idx = torch.nonzero(hit).squeeze(-1)
    for start in range(0, len(idx), chunk):
        sel = idx[start : start + chunk]
        with _autocast(model, device):
            out = model.render_rays(Rays(origins[sel], dirs[sel], near[sel], far[sel], bg[sel], cond.expand(len(sel), -1)))
        rgb[sel] = out["rgb"].float()
        acc[sel] = out["acc"].float()
    h, w = y1 - y0, x1 - x0
    return {"rgb": rgb.reshape(h, w, 3).clamp(0, 1), "acc": acc.reshape(h, w)}


def _autocast(model: MINeRF, device: torch.device):
    enabled = device.type == "cuda" and model.cfg.mixed_precision
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def crop_box(face_box: np.ndarray, size: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """Integer face crop (x0, y0, x1, y1) of an S x S image: the face box grown by ``margin``."""
    x0, y0, x1, y1 = grow_box(face_box, margin)
    box = (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))
    return max(0, box[0]), max(0, box[1]), min(size, max(box[2], box[0] + 8)), min(size, max(box[3], box[1] + 8))


