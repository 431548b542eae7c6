"""Encodings: the fast hash grid against its slow reference (values and gradients)."""

from __future__ import annotations

import pytest
import torch

from minerf.model.encodings import (
    HashGridConfig,
    HashGridEncoding,
    PositionalEncoding,
    hash_grid_reference,
    level_resolutions,
)


@pytest.mark.parametrize("log2_table", [6, 14])  # 6: every level hashed; 14: coarse levels dense
def test_hash_grid_matches_reference_values_and_gradients(log2_table):
    torch.manual_seed(0)
    enc = HashGridEncoding(HashGridConfig(levels=4, features=2, log2_table=log2_table, base_resolution=3, max_resolution=40)).double()
    with torch.no_grad():
        enc.table.normal_()
    x = torch.rand(300, 3, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    fast = enc(x)
    ref = hash_grid_reference(enc, x_ref)
    torch.testing.assert_close(fast, ref)
    g = torch.randn_like(fast)
    grad_table_fast, grad_x_fast = torch.autograd.grad(fast, (enc.table, x), g)
    grad_table_ref, grad_x_ref = torch.autograd.grad(ref, (enc.table, x_ref), g)
    torch.testing.assert_close(grad_table_fast, grad_table_ref)
    torch.testing.assert_close(grad_x_fast, grad_x_ref)
    assert grad_table_fast.abs().sum() > 0


def test_corner_blend_gradcheck():
    from minerf.model.encodings import _CornerBlend

    g = torch.Generator().manual_seed(1)
    table = torch.randn(10, 2, dtype=torch.float64, generator=g, requires_grad=True)
    index = torch.randint(0, 10, (5, 8), generator=g)  # repeated indices on purpose
    weight = torch.rand(5, 8, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, w: _CornerBlend.apply(t, index, w), (table, weight))


def test_level_resolutions_span_base_to_max():
    res = level_resolutions(HashGridConfig(levels=5, base_resolution=4, max_resolution=64))
    assert res[0] == 4 and res[-1] in (63, 64) and res == sorted(res)


def test_positional_encoding_layout():
    pe = PositionalEncoding(3, 4)
    x = torch.tensor([[0.5, -1.0, 2.0]])
    out = pe(x)
    assert out.shape == (1, pe.out_dim) == (1, 27)
    torch.testing.assert_close(out[0, :3], x[0])
    torch.testing.assert_close(out[0, 3 + 3 * 1 + 1], torch.sin(torch.tensor(2.0 * -1.0)))  # sin(2^1 * y)
    torch.testing.assert_close(out[0, 3 + 12 + 2], torch.cos(torch.tensor(2.0)))
