"""The tri-plane encoding and the expression-driven dynamic planes of the ``fast`` field."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from minerf.model.encodings import TriPlaneConfig, TriPlaneEncoding, plane_roughness, triplane_reference
from minerf.model.field import ConditionedField, DynamicPlanes
from minerf.model.presets import get_preset


@pytest.mark.parametrize("combine", ["product", "sum"])
def test_triplane_matches_grid_sample_reference_values_and_gradients(combine):
    torch.manual_seed(0)
    enc = TriPlaneEncoding(TriPlaneConfig(resolutions=(5, 17), channels=3, combine=combine, init_std=1.0)).double()
    x = torch.rand(400, 3, dtype=torch.float64)
    x[:3] = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.5]], dtype=torch.float64)  # plane edges
    x = x.requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    fast, ref = enc(x), triplane_reference(enc, x_ref)
    torch.testing.assert_close(fast, ref)
    g = torch.randn_like(fast)
    params = list(enc.planes)
    grads_fast = torch.autograd.grad(fast, params + [x], g)
    grads_ref = torch.autograd.grad(ref, params + [x_ref], g)
    for a, b in zip(grads_fast[:-1], grads_ref[:-1]):
        torch.testing.assert_close(a, b)
    # d/dx on the plane edges is one-sided (clamped); inside the planes both agree
    torch.testing.assert_close(grads_fast[-1][3:], grads_ref[-1][3:])
    assert all(p.abs().sum() > 0 for p in grads_fast[:-1])


def test_triplane_features_are_local_in_3d():
    """A product tri-plane changed at one texel of one plane changes only points near it."""
    enc = TriPlaneEncoding(TriPlaneConfig(resolutions=(9,), channels=2, init_std=0.0)).double()
    with torch.no_grad():
        enc.planes[0][0, 4, 4] += 1.0  # xy plane at u = v = 0.5
    near = torch.tensor([[0.5, 0.5, 0.3]], dtype=torch.float64)
    far = torch.tensor([[0.1, 0.9, 0.3]], dtype=torch.float64)
    torch.testing.assert_close(enc(far), torch.ones(1, 2, dtype=torch.float64))
    torch.testing.assert_close(enc(near), torch.full((1, 2), 2.0, dtype=torch.float64))


def _dynamic_field(cond_dim: int = 6) -> ConditionedField:
    cfg = dataclasses.replace(get_preset("fast").field, triplane=TriPlaneConfig((4, 8), 4), dynamic_basis=3, dynamic_channels=2, dynamic_resolution=5)
    return ConditionedField(cfg, cond_dim).double()


def test_dynamic_planes_equal_the_sum_of_coefficient_weighted_basis_lookups():
    torch.manual_seed(1)
    dyn = _dynamic_field().dynamic
    assert isinstance(dyn, DynamicPlanes)
    with torch.no_grad():
        dyn.planes.normal_()
    cond = torch.randn(2, 6, dtype=torch.float64)
    rays_cond = cond[torch.tensor([0, 1, 1, 0, 1])]  # five rays of two frames
    samples = 4
    unit = torch.rand(5 * samples, 3, dtype=torch.float64)
    got = dyn(unit, rays_cond, samples)
    coef = dyn.coefficients(rays_cond).repeat_interleave(samples, dim=0)  # (points, K)
    want = torch.zeros_like(got)
    for j in range(dyn.basis):  # every basis as its own sum tri-plane, looked up literally
        basis = TriPlaneEncoding(TriPlaneConfig((dyn.res,), dyn.channels, combine="sum")).double()
        with torch.no_grad():
            basis.planes[0].copy_(dyn.planes[j])
        want += coef[:, j : j + 1] * triplane_reference(basis, unit)
    torch.testing.assert_close(got, want)


def test_the_expression_changes_the_density_in_space_through_the_dynamic_planes():
    torch.manual_seed(2)
    field = _dynamic_field()
    with torch.no_grad():
        field.dynamic.planes.normal_()
    x = torch.rand(3, 5, 3, dtype=torch.float64) * 2 - 1
    v = torch.nn.functional.normalize(torch.randn(3, 3, dtype=torch.float64), dim=-1)
    cond_a, cond_b = torch.randn(2, 1, 6, dtype=torch.float64)
    sigma_a = field(x, v, cond_a.expand(3, 6))[1]
    sigma_b = field(x, v, cond_b.expand(3, 6))[1]
    assert (sigma_a - sigma_b).abs().max() > 1e-3
    grad = torch.autograd.grad(sigma_a.sum(), field.dynamic.planes)[0]
    assert grad.abs().sum() > 0  # the basis planes learn from the density


def test_plane_roughness_is_zero_on_constant_planes_and_measures_neighbour_steps():
    assert float(plane_roughness(torch.full((3, 6, 6, 2), 0.7))) == 0.0
    ramp = torch.arange(5.0)[None, :, None, None].expand(3, 5, 5, 1)  # +1 per row, constant across
    assert float(plane_roughness(ramp)) == pytest.approx(1.0)
    i, j = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    checker = ((-1.0) ** (i + j))[None, None, :, :, None].expand(2, 3, 4, 4, 3)  # a stack of planes
    assert float(plane_roughness(checker)) == pytest.approx(8.0)  # steps of 2 along both sides
