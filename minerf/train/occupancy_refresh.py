"""Keeping a model's occupancy grid (:mod:`minerf.model.occupancy`) up to date while it trains.

Every ``occupancy_every`` steps after ``occupancy_warmup``, the density the field shows for one
random training frame (its identity, expression and latent code) is folded into the grid, so
over a run the grid holds the union of many people and expressions. The region the lips move
in (the lip landmarks of every training frame, in head space, grown by half its size) is kept
occupied, so the mouth can open where it has not been seen open.
"""

from __future__ import annotations

import numpy as np
import torch

from minerf.data import MultiClipData
from minerf.model.mi_nerf import MINeRF
from minerf.prepare.expression_space import LIP_POINTS

REFRESH_PIECE = 2**30
"""Piece number of the refresh's generator (:func:`checkpoints.distributed.shard_generator`):
apart from every ray-batch piece, so refreshes do not change the rays a step draws."""


def lip_region(data: MultiClipData, grow: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Head-space box (lo, hi) of the lip landmarks of all frames of ``data``, grown by
    ``grow`` times its size on each side."""
    lips = np.concatenate([clip.landmarks3d[:, LIP_POINTS].reshape(-1, 3) for clip in data.clips])
    lo, hi = lips.min(axis=0), lips.max(axis=0)
    margin = (hi - lo) * grow
    return lo - margin, hi + margin


def due(model: MINeRF, step: int) -> bool:
    """Whether the grid is refreshed after ``step`` (1-based count of finished steps)."""
    cfg = model.cfg
    return model.occupancy is not None and step >= cfg.occupancy_warmup and step % cfg.occupancy_every == 0


@torch.no_grad()
def refresh_occupancy(model: MINeRF, data: MultiClipData, generator: torch.Generator) -> None:
    """One refresh of ``model``'s grid with the conditioning of a random training frame."""
    grid = model.occupancy
    assert grid is not None
    if not grid.keep.any():
        lo, hi = lip_region(data)
        grid.set_keep(torch.from_numpy(lo).float(), torch.from_numpy(hi).float())
    ci, t = (int(v) for v in data.random_training_frame(generator))
    ident, expr, lat = data.frame_inputs(ci, np.array([t]), 1)
    device = grid.density.device
    was_training = model.training
    model.eval()
    cond = model.frame_condition(ident.to(device), expr.to(device), lat.to(device), smooth=False)
    field = model.density_field()
    grid.refresh(lambda pts: field.densities(pts[None], cond).reshape(-1), generator)
    model.train(was_training)
