"""Sampling along rays (stratified coarse, importance-sampled fine) and volume rendering.

Volume rendering follows paper Eq. 4 with the AD-NeRF / LipNeRF convention that the last
sample lies on the background: after the S field samples a final sample of opacity 1 takes
the frame's background colour, so ``rgb = sum_i w_i c_i + T_S * bg``. A fully transparent
field therefore renders exactly the background.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor


def stratified_depths(
    near: Float[Tensor, " rays"], far: Float[Tensor, " rays"], num: int, perturb: bool, generator: torch.Generator | None = None
) -> Float[Tensor, "rays samples"]:
    """``num`` depths per ray in [near, far]: bin centres, jittered within bins when ``perturb``."""
    steps = torch.linspace(0.0, 1.0, num + 1, device=near.device, dtype=near.dtype)
    lo, hi = steps[:-1], steps[1:]
    if perturb:
        u = torch.rand(near.shape[0], num, generator=generator, device="cpu").to(near.device, near.dtype)
    else:
        u = torch.full((near.shape[0], num), 0.5, device=near.device, dtype=near.dtype)
    frac = lo + (hi - lo) * u
    return near[:, None] + (far - near)[:, None] * frac


def importance_depths(
    depths: Float[Tensor, "rays samples"], weights: Float[Tensor, "rays samples"], num: int, perturb: bool, generator: torch.Generator | None = None
) -> Float[Tensor, "rays fine"]:
    """Draw ``num`` depths per ray from the piecewise-constant pdf given by coarse ``weights``
    on the bins between the midpoints of ``depths`` (NeRF's hierarchical sampling)."""
    mids = 0.5 * (depths[:, 1:] + depths[:, :-1])  # (R, S-1) bin edges
    w = weights[:, 1:-1].detach() + 1e-5  # (R, S-2) one weight per bin
    pdf = w / w.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)], dim=-1)  # (R, S-1)
    if perturb:
        u = torch.rand(depths.shape[0], num, generator=generator, device="cpu").to(depths.device, depths.dtype)
    else:
        u = torch.linspace(0.0, 1.0, num + 2, device=depths.device, dtype=depths.dtype)[1:-1].expand(depths.shape[0], num)
    u = u.contiguous()
    idx = torch.searchsorted(cdf.contiguous(), u, right=True).clamp(1, cdf.shape[-1] - 1)
    c0, c1 = cdf.gather(1, idx - 1), cdf.gather(1, idx)
    b0, b1 = mids.gather(1, idx - 1), mids.gather(1, idx)
    t = (u - c0) / (c1 - c0).clamp_min(1e-8)
    return b0 + t * (b1 - b0)


def volume_render(
    rgb: Float[Tensor, "rays samples 3"],
    sigma: Float[Tensor, "rays samples"],
    depths: Float[Tensor, "rays samples"],
    far: Float[Tensor, " rays"],
    background: Float[Tensor, "rays 3"],
) -> dict[str, Tensor]:
    """Composite field samples (colour, density at sorted ``depths``) along rays.

    Returns ``rgb`` (rays, 3), ``weights`` (rays, samples), ``acc`` (rays,) opacity of the
    head, ``depth`` (rays,) expected depth of the head.
    """
    ends = torch.cat([depths[:, 1:], far[:, None]], dim=-1)
    deltas = (ends - depths).clamp_min(0.0)
    alpha = 1.0 - torch.exp(-sigma * deltas)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha], dim=-1), dim=-1)
    weights = alpha * trans[:, :-1]
    t_last = trans[:, -1]  # transmittance left for the background sample
    acc = weights.sum(dim=-1)
    color = (weights[..., None] * rgb).sum(dim=1) + t_last[:, None] * background
    depth = (weights * depths).sum(dim=-1)
    return {"rgb": color, "weights": weights, "acc": acc, "depth": depth}


def distortion_loss(weights: Float[Tensor, "rays samples"], depths: Float[Tensor, "rays samples"], far: Float[Tensor, " rays"], scale: float) -> Float[Tensor, ""]:
    """Mip-NeRF 360's distortion loss, mean over rays: ``sum_ij w_i w_j |m_i - m_j| +
    1/3 sum_i w_i^2 d_i`` on the sample intervals (midpoints m, lengths d) of sorted ``depths``
    (the last interval ends at ``far``), depths divided by ``scale``. Small when each ray's
    weight sits in one short interval: it turns a fog of density into a surface."""
    ends = torch.cat([depths[:, 1:], far[:, None]], dim=-1)
    mids = 0.5 * (depths + ends) / scale
    lengths = (ends - depths).clamp_min(0.0) / scale
    w_before = torch.cumsum(weights, dim=-1) - weights  # sum of w_j for j < i
    wm_before = torch.cumsum(weights * mids, dim=-1) - weights * mids
    cross = 2.0 * (weights * (mids * w_before - wm_before)).sum(dim=-1)  # sum_{i != j} (m sorted)
    own = (weights**2 * lengths).sum(dim=-1) / 3.0
    return (cross + own).mean()
