"""The occupancy grid narrows rays to where the field is dense; the distortion loss."""

from __future__ import annotations

import torch

from minerf.model.occupancy import OccupancyGrid
from minerf.model.render import distortion_loss, volume_render
from minerf.model.rays import box_bounds


def _ball(points: torch.Tensor, centre=(0.0, 0.0, 0.5), radius=0.5) -> torch.Tensor:
    return ((points - torch.tensor(centre)).norm(dim=-1) < radius).float() * 10.0


def _rays(n: int = 64):
    g = torch.Generator().manual_seed(0)
    origins = torch.tensor([[0.0, 0.0, -8.0]]).expand(n, 3) + torch.cat([torch.rand(n, 2, generator=g) - 0.5, torch.zeros(n, 1)], dim=-1) * 2.4
    origins[0, :2] = 0.0  # one ray through the centre
    dirs = torch.tensor([[0.0, 0.0, 1.0]]).expand(n, 3).contiguous()
    near, far, _ = box_bounds(origins, dirs)
    return origins, dirs, near, far


def test_a_new_grid_keeps_every_ray_whole_and_a_refreshed_one_finds_the_ball():
    grid = OccupancyGrid(resolution=32, threshold=1.0)
    origins, dirs, near, far = _rays()
    n0, f0 = grid.interval(origins, dirs, near, far)
    assert torch.equal(n0, near) and torch.equal(f0, far) and not grid.ready
    grid.refresh(_ball, torch.Generator().manual_seed(1))
    n1, f1 = grid.interval(origins, dirs, near, far)
    lateral = origins[:, :2].norm(dim=-1)
    hits = lateral < 0.4  # rays well inside the ball's silhouette
    misses = lateral > 0.75  # rays that pass beside it (more than a dilated voxel away)
    assert hits.any() and misses.any()
    assert torch.equal(n1[misses], f1[misses])  # nothing to sample: background only
    step = (far - near) / grid.march_steps
    voxel = 0.2  # the largest voxel side (3.6 dm / 32 cells along y), plus the dilation
    # the ray enters the ball at z = 0.5 - sqrt(r^2 - d^2): the span starts within a voxel + a step
    entry = 0.5 - torch.sqrt((0.25 - lateral**2).clamp_min(0))
    start = origins[:, 2] + n1
    assert ((start[hits] - entry[hits]).abs() <= 2 * voxel + 2 * step[hits]).all()
    assert (f1[hits] - n1[hits] < (far - near)[hits]).all()  # narrower than the box


def test_keep_region_stays_occupied_and_max_span_caps_the_interval():
    grid = OccupancyGrid(resolution=16, threshold=1.0, max_span=0.3)
    grid.set_keep(torch.tensor([-0.2, -0.2, -0.5]), torch.tensor([0.2, 0.2, 1.5]))
    grid.refresh(lambda p: torch.zeros(len(p)))  # the field is empty everywhere
    origins, dirs, near, far = _rays()
    n, f = grid.interval(origins, dirs, near, far)
    centre = origins[:, :2].norm(dim=-1) < 0.1
    assert centre.any() and (f[centre] > n[centre]).all()
    assert (f - n <= 0.3 + 1e-6).all()


def test_refresh_decays_old_density_and_reset_forgets_it():
    grid = OccupancyGrid(resolution=8, threshold=1.0, decay=0.5)
    grid.refresh(lambda p: torch.full((len(p),), 4.0))
    grid.refresh(lambda p: torch.zeros(len(p)))
    torch.testing.assert_close(grid.density, torch.full((8, 8, 8), 2.0))
    assert grid.mask().all() and int(grid.refreshes) == 2
    grid.refresh(lambda p: torch.zeros(len(p)))
    grid.refresh(lambda p: torch.zeros(len(p)))
    assert not grid.mask().any()  # 0.5 < threshold: released
    grid.reset()
    assert not grid.ready and grid.density.abs().sum() == 0


def test_grid_state_travels_in_the_state_dict():
    a, b = OccupancyGrid(resolution=8), OccupancyGrid(resolution=8)
    a.refresh(_ball)
    b.load_state_dict(a.state_dict())
    assert b.ready and torch.equal(a.mask(), b.mask())


def test_distortion_loss_is_small_for_a_surface_and_large_for_fog():
    depths = torch.linspace(0.0, 1.0, 33)[:-1].expand(2, 32).contiguous()
    far = torch.ones(2)
    surface = torch.zeros(2, 32)
    surface[:, 10] = 1.0
    fog = torch.full((2, 32), 1.0 / 32)
    loss_surface = distortion_loss(surface, depths, far, 1.0)
    loss_fog = distortion_loss(fog, depths, far, 1.0)
    # one interval: only the own term, w^2 d / 3 with d = 1/32
    torch.testing.assert_close(loss_surface, torch.tensor(1.0 / 96))
    # the literal double sum over sample pairs
    mids = depths[0] + 0.5 / 32
    literal = (fog[0, :, None] * fog[0, None, :] * (mids[:, None] - mids[None, :]).abs()).sum() + (fog[0] ** 2 / 32).sum() / 3
    torch.testing.assert_close(loss_fog, literal)
    assert loss_fog > 10 * loss_surface


def test_weights_from_volume_render_feed_the_distortion_gradient():
    sigma = torch.full((1, 16), 0.5, requires_grad=True)
    depths = torch.linspace(0.0, 2.0, 16)[None]
    out = volume_render(torch.rand(1, 16, 3), sigma, depths, torch.tensor([2.0]), torch.zeros(1, 3))
    grad = torch.autograd.grad(distortion_loss(out["weights"], depths, torch.tensor([2.0]), 2.0), sigma)[0]
    assert grad.abs().sum() > 0


def _occupied_reference(grid: OccupancyGrid, points: torch.Tensor) -> torch.Tensor:
    """The plain definition: inside the box and in an occupied voxel."""
    unit = (points - grid.box_min) / grid.box_size
    inside = ((unit >= 0) & (unit < 1)).all(dim=-1)
    idx = (unit.clamp(0, 1 - 1e-6) * grid.resolution).long()
    return grid.mask()[idx[..., 0], idx[..., 1], idx[..., 2]] & inside


def test_lookup_equals_the_plain_definition_inside_outside_and_on_the_border():
    grid = OccupancyGrid(resolution=16, threshold=1.0)
    g = torch.Generator().manual_seed(3)
    grid.refresh(lambda p: (torch.rand(len(p), generator=g) > 0.8).float() * 2.0)
    assert 0 < grid.mask().float().mean() < 1
    lo, size = grid.box_min.float(), grid.box_size.float()
    points = lo + size * (torch.rand(20000, 3, generator=g) * 1.4 - 0.2)  # a fifth lies outside
    cells = torch.arange(17, dtype=torch.float32) / 16  # next to every voxel face (on one, rounding decides)
    faces = lo + size * torch.stack(torch.meshgrid(cells, cells, cells, indexing="ij"), -1).reshape(-1, 3)
    for p in (points, faces - 1e-4, faces + 1e-4):
        assert torch.equal(grid.occupied(p), _occupied_reference(grid, p))
        with torch.autocast("cpu", dtype=torch.bfloat16):  # what a CUDA render runs under
            assert torch.equal(grid.occupied(p), _occupied_reference(grid, p))
    # the march of interval() matches the plain definition at its own sample points
    origins, dirs, near, far = _rays(256)
    n0, f0 = grid.interval(origins, dirs, near, far)
    depth = near[:, None] + (far - near)[:, None] * (torch.arange(grid.march_steps) + 0.5) / grid.march_steps
    occ = _occupied_reference(grid, origins[:, None] + dirs[:, None] * depth[..., None])
    hit = occ.any(-1)
    first = occ.float().argmax(-1)
    step = (far - near) / grid.march_steps
    expected_near = torch.where(hit, torch.maximum(near, near + (first - 0.5) * step), near)
    torch.testing.assert_close(n0, expected_near)
    assert torch.equal(n0 == f0, ~hit)
