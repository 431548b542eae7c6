"""An occupancy grid over the head box: where the field can be dense, so rays sample only there.

The grid holds, per voxel of a ``resolution``^3 grid over :data:`~minerf_base.clip.HEAD_BOX`, a
running maximum of the density the field showed there (decayed at every refresh, so voxels
that empty out are released). A voxel is occupied when that value reaches ``threshold`` or it
lies in the ``keep`` mask (e.g. the mouth region, which must stay free to open), dilated by
one voxel so a slightly different expression still finds its samples.

:meth:`OccupancyGrid.interval` narrows each ray's [near, far] to the span between its first
and last occupied voxel; a ray that crosses no occupied voxel gets an empty span (its samples
all sit at ``near``, with zero length) and renders the background: its samples are still
evaluated, so an empty span saves no work. Until the first :meth:`~OccupancyGrid.refresh` every
voxel counts as occupied (a new field samples the whole box).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

from minerf_base.clip import HEAD_BOX


class OccupancyGrid(nn.Module):
    """Occupancy of the head box; its state (``density``, ``keep``, ``refreshes``) is saved with the model."""

    def __init__(self, resolution: int = 64, threshold: float = 0.2, decay: float = 0.9, max_span: float = 0.0, march_steps: int = 128):
        super().__init__()
        self.resolution = resolution
        self.threshold = threshold
        """Density at which a voxel counts as occupied (0.2 per decimetre: about 1 % opacity
        across one voxel of a 64^3 grid)."""
        self.decay = decay
        self.max_span = max_span
        """Longest occupied span a ray samples after its first occupied voxel (decimetres; 0:
        no limit). The inside of the head is never seen, so its voxels stay occupied; the
        surface a ray shows lies within a few centimetres of where it enters."""
        self.march_steps = march_steps
        self.register_buffer("density", torch.zeros(resolution, resolution, resolution))
        self.register_buffer("keep", torch.zeros(resolution, resolution, resolution, dtype=torch.bool))
        self.register_buffer("refreshes", torch.zeros((), dtype=torch.long))
        self.register_buffer("box_min", torch.from_numpy(np.asarray(HEAD_BOX[0])), persistent=False)
        self.register_buffer("box_size", torch.from_numpy(np.asarray(HEAD_BOX[1] - HEAD_BOX[0])), persistent=False)
        self._mask: tuple[int, Tensor, Tensor] | None = None

    @property
    def ready(self) -> bool:
        """True once the grid was refreshed at least once (before: everything is occupied)."""
        return int(self.refreshes) > 0

    def reset(self) -> None:
        """Forget what was seen (e.g. before fitting a new person): everything occupied again."""
        self.density.zero_()
        self.refreshes.zero_()
        self._mask = None

    def cell_centres(self) -> Float[Tensor, "cells 3"]:
        """Head-space centres of all voxels, in the grid's (x, y, z) index order."""
        r = self.resolution
        idx = torch.arange(r, device=self.density.device, dtype=torch.float32)
        grid = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), dim=-1).reshape(-1, 3)
        return self.box_min + (grid + 0.5) / r * self.box_size

    def set_keep(self, lo: Float[Tensor, "3"], hi: Float[Tensor, "3"]) -> None:
        """Voxels whose centres lie in the head-space box [lo, hi] stay occupied."""
        c = self.cell_centres().reshape(*self.keep.shape, 3)
        self.keep.copy_(((c >= lo.to(c)) & (c <= hi.to(c))).all(dim=-1))
        self._mask = None

    @torch.no_grad()
    def refresh(self, density_fn: Callable[[Tensor], Tensor], generator: torch.Generator | None = None, chunk: int = 65536) -> None:
        """Evaluate ``density_fn`` (head-space points (N, 3) -> densities (N,)) at one jittered
        point per voxel and fold it into the running maximum."""
        r = self.resolution
        jitter = (torch.rand(r**3, 3, generator=generator) - 0.5).to(self.density.device) / r * self.box_size
        points = self.cell_centres() + jitter
        new = torch.cat([density_fn(points[s : s + chunk]).float().reshape(-1) for s in range(0, len(points), chunk)])
        self.density.copy_(torch.maximum(self.density * self.decay, new.reshape(r, r, r)))
        self.refreshes += 1
        self._mask = None

    def mask(self) -> Bool[Tensor, "res res res"]:
        """Occupied voxels (threshold or keep, dilated by one voxel)."""
        return self._masks()[0]

    def _masks(self) -> tuple[Tensor, Tensor]:
        """(mask, the mask padded by one empty voxel on every side and flattened), rebuilt
        when the state changes."""
        version = int(self.refreshes) * 2 + int(self.keep.any())  # changes when the state changes
        if self._mask is None or self._mask[0] != version or self._mask[1].device != self.density.device:
            occupied = ((self.density >= self.threshold) | self.keep).float()[None, None]
            mask = nn.functional.max_pool3d(occupied, 3, stride=1, padding=1)[0, 0] > 0
            self._mask = (version, mask, nn.functional.pad(mask, (1, 1, 1, 1, 1, 1)).reshape(-1))
        return self._mask[1], self._mask[2]

    def _lookup(self, cells: Float[Tensor, "*batch 3"]) -> Bool[Tensor, " *batch"]:
        """Occupancy at ``cells``: positions in voxel units of the padded grid (the box spans
        1 to resolution + 1). Everything outside the box lands in the empty border."""
        r = self.resolution
        padded = r + 2
        c = cells.floor().clamp_(0, r + 1).long()  # integer arithmetic: exact under any autocast
        return self._masks()[1][(c[..., 0] * padded + c[..., 1]) * padded + c[..., 2]]

    def _cells(self, points: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 3"]:
        """Head-space ``points`` in voxel units of the padded grid (see :meth:`_lookup`)."""
        return (points - self.box_min) * (self.resolution / self.box_size) + 1.0

    def occupied(self, points: Float[Tensor, "*batch 3"]) -> Bool[Tensor, " *batch"]:
        """Whether head-space ``points`` fall in occupied voxels (outside the box: no)."""
        return self._lookup(self._cells(points))

    @torch.no_grad()
    def interval(
        self, origins: Float[Tensor, "rays 3"], dirs: Float[Tensor, "rays 3"], near: Float[Tensor, " rays"], far: Float[Tensor, " rays"]
    ) -> tuple[Float[Tensor, " rays"], Float[Tensor, " rays"]]:
        """Each ray's [near, far] narrowed to its occupied span (one march step of margin on each
        side); rays without an occupied voxel get near == far. Unchanged before the first refresh."""
        if not self.ready:
            return near, far
        n = self.march_steps
        frac = (torch.arange(n, device=near.device, dtype=near.dtype) + 0.5) / n
        depth = near[:, None] + (far - near)[:, None] * frac
        # the march points in voxel units, from each ray's start and step: no (R, n, 3) head-space copy
        start, step_cells = self._cells(origins), dirs * (self.resolution / self.box_size)
        occ = self._lookup(start[:, None, :] + step_cells[:, None, :] * depth[..., None])  # (R, n)
        first = occ.float().argmax(dim=-1)
        last = n - 1 - occ.flip(-1).float().argmax(dim=-1)
        step = (far - near) / n
        new_near = torch.maximum(near, near + (first.to(near.dtype) - 0.5) * step)
        new_far = torch.minimum(far, near + (last.to(near.dtype) + 1.5) * step)
        if self.max_span > 0:
            new_far = torch.minimum(new_far, new_near + self.max_span)
        hit = occ.any(dim=-1)
        return torch.where(hit, new_near, near), torch.where(hit, new_far, near)
