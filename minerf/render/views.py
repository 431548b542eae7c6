"""Rendering whole views (or boxes of them).

:func:`render_view` is the one entry point that renders a picture from a :class:`View` (a
camera, a per-frame conditioning vector and a background image); evaluation, validation
images, ``minerf render`` and the dubbing pipeline all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Real, UInt8
from torch import Tensor

from minerf.model.mi_nerf import MINeRF
from minerf.model.rays import Rays, box_bounds, grow_box, pixel_rays


@dataclass
class View:
    """What one picture is rendered from."""

    pose: Float[Tensor, "4 4"]
    """Head space -> camera space."""
    intrinsics: Float[Tensor, "3 3"]
    """Camera matrix of the crop."""
    cond: Float[Tensor, " cond"]
    """Conditioning vector of the frame (:meth:`MINeRF.condition`)."""
    background: Float[Tensor, "size size 3"]
    """Background image in [0, 1], on the device that renders."""

    @classmethod
    def from_arrays(
        cls, pose: Float[np.ndarray, "4 4"], intrinsics: Float[np.ndarray, "3 3"], cond: Float[Tensor, " cond"], background: UInt8[np.ndarray, "size size 3"]
    ) -> "View":
        """A view from a clip's arrays (pose, intrinsics, uint8 background), on ``cond``'s device."""
        bg = torch.from_numpy(background).float().div(255.0).to(cond.device)
        return cls(torch.from_numpy(pose), torch.from_numpy(intrinsics), cond, bg)

    def scaled(self, factor: int) -> "View":
        """The same camera at ``factor`` x the resolution: each pixel of this view becomes a
        ``factor`` x ``factor`` block whose rays fan over the pixel's area (the intrinsics scale
        about the image corner; the background is resized bilinearly)."""
        if factor == 1:
            return self
        K = self.intrinsics.clone()
        K[:2] *= factor
        bg = torch.nn.functional.interpolate(self.background.permute(2, 0, 1)[None], scale_factor=factor, mode="bilinear", align_corners=False)
        return View(self.pose, K, self.cond, bg[0].permute(1, 2, 0).contiguous())


@torch.no_grad()
def render_view(
    model: MINeRF,
    view: View,
    box: tuple[int, int, int, int] | None = None,
    chunk: int = 8192,
    region: Bool[Tensor, "size size"] | None = None,
) -> dict[str, Tensor]:
    """Render pixels of the S x S ``view``.

    ``box`` (x0, y0, x1, y1) limits rendering to a crop; ``region`` limits the field to those
    pixels (the rest shows the background). Returns ``rgb`` (height, width, 3) and ``acc``
    (height, width) on the model's device. Rays that miss the head box take the background
    without evaluating the field.
    """
    device = view.cond.device
    size = view.background.shape[0]
    x0, y0, x1, y1 = box if box is not None else (0, 0, size, size)
    ys, xs = torch.meshgrid(torch.arange(y0, y1), torch.arange(x0, x1), indexing="ij")
    pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1).to(device)
    origins, dirs = pixel_rays(view.pose.to(device).float(), view.intrinsics.to(device).float(), pixels)
    near, far, hit = box_bounds(origins, dirs)
    if region is not None:
        hit = hit & region.to(device)[pixels[:, 1], pixels[:, 0]]
    bg = view.background.to(device)[pixels[:, 1], pixels[:, 0]]
    rgb = bg.clone()
    acc = torch.zeros(len(pixels), device=device)
    idx = torch.nonzero(hit).squeeze(-1)
    for start in range(0, len(idx), chunk):
        sel = idx[start : start + chunk]
        with model.autocast(device):
            out = model.render_rays(Rays(origins[sel], dirs[sel], near[sel], far[sel], bg[sel], view.cond.expand(len(sel), -1)))
        rgb[sel] = out["rgb"].float()
        acc[sel] = out["acc"].float()
    h, w = y1 - y0, x1 - x0
    return {"rgb": rgb.reshape(h, w, 3).clamp(0, 1), "acc": acc.reshape(h, w)}


def crop_box(face_box: Real[np.ndarray, "4"], size: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """Integer face crop (x0, y0, x1, y1) of an S x S image: the face box grown by ``margin``."""
    x0, y0, x1, y1 = grow_box(face_box, margin)
    box = (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))
    return max(0, box[0]), max(0, box[1]), min(size, max(box[2], box[0] + 8)), min(size, max(box[3], box[1] + 8))
