"""The field's first layer is computed part by part (no concatenation of its input): it must
equal the one linear layer on [enc, gated cond, dynamic features] it stands for."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from minerf.model.field import ConditionedField, FieldConfig
from minerf.model.presets import get_preset


def _concatenated_first_layer(field: ConditionedField, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """The first layer as one linear map on the concatenated input (the definition)."""
    R, S, _ = x.shape
    flat = ((x - field.box_min) / field.box_size).reshape(R * S, 3)
    enc = field.pos_enc(flat)
    cond_s = cond[:, None, :].expand(R, S, cond.shape[-1]).reshape(R * S, -1)
    if field.attention is not None:
        cond_s = cond_s * 2.0 * torch.sigmoid(field.attention(enc))
    parts = [enc, cond_s] + ([field.dynamic(flat, cond, S)] if field.dynamic is not None else [])
    return field.backbone_a[0](torch.cat(parts, dim=-1))


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("dynamic", [8, 0])
@pytest.mark.parametrize("one_frame", [False, True])  # one frame: the conditioning folds into the weights
def test_first_layer_by_parts_equals_the_concatenated_layer(attention, dynamic, one_frame):
    torch.manual_seed(0)
    base = get_preset("fast").field
    cfg = dataclasses.replace(base, region_attention=attention, dynamic_basis=dynamic)
    field = ConditionedField(cfg, cond_dim=11).double()
    if field.attention is not None:  # a non-trivial gate (it starts as the identity)
        torch.nn.init.normal_(field.attention.weight)
    x = torch.rand(7, 5, 3, dtype=torch.float64) * field.box_size + field.box_min
    cond = torch.randn(7, 11, dtype=torch.float64)
    cond[4:] = cond[0]  # rays of one frame share their conditioning
    if one_frame:
        cond[:] = cond[0]
    flat = ((x - field.box_min) / field.box_size).reshape(-1, 3)
    enc = field.pos_enc(flat)
    dyn = field.dynamic(flat, cond, 5) if field.dynamic is not None else None
    by_parts = field._first_layer(enc, cond, dyn, 5)
    torch.testing.assert_close(by_parts, _concatenated_first_layer(field, x, cond))
    with torch.no_grad():  # how a render asks (one frame: the folded path)
        torch.testing.assert_close(field._first_layer(enc, cond, dyn, 5), by_parts.detach())
    # and the gradients of the conditioning and of every parameter are the same
    cond_a, cond_b = cond.clone().requires_grad_(True), cond.clone().requires_grad_(True)
    params = [p for p in field.parameters() if p.requires_grad]
    g = torch.randn_like(by_parts)
    enc_a = field.pos_enc(flat)
    dyn_a = field.dynamic(flat, cond_a, 5) if field.dynamic is not None else None
    grads_a = torch.autograd.grad((field._first_layer(enc_a, cond_a, dyn_a, 5) * g).sum(), [cond_a] + params, allow_unused=True)
    grads_b = torch.autograd.grad((_concatenated_first_layer(field, x, cond_b) * g).sum(), [cond_b] + params, allow_unused=True)
    for a, b in zip(grads_a, grads_b):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)
    assert grads_a[0].abs().sum() > 0
    assert field.attention is None or grads_a[1 + [id(p) for p in params].index(id(field.attention.weight))].abs().sum() > 0


def test_paper_field_with_skip_connection_still_renders_from_the_whole_input():
    field = ConditionedField(FieldConfig(encoding="pe", depth=6, width=16, color_depth=1, color_width=8), cond_dim=4)
    x = torch.rand(3, 2, 3) * field.box_size + field.box_min
    rgb, sigma = field(x, torch.nn.functional.normalize(torch.randn(3, 3), dim=-1), torch.randn(3, 4))
    assert field.backbone_b is not None and rgb.shape == (3, 2, 3) and sigma.shape == (3, 2)


@pytest.mark.parametrize("color_depth", [1, 0])
def test_colour_branch_by_parts_equals_the_concatenated_branch(color_depth):
    torch.manual_seed(1)
    cfg = dataclasses.replace(get_preset("fast").field, color_depth=color_depth)
    field = ConditionedField(cfg, cond_dim=6).double()
    x = torch.rand(4, 3, 3, dtype=torch.float64) * field.box_size + field.box_min
    v = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
    cond = torch.randn(4, 6, dtype=torch.float64)
    rgb, sigma = field(x, v, cond)
    h, sigma_ref = field._hidden(x, cond)
    d_enc = field.dir_enc(v)[:, None, :].expand(4, 3, -1).reshape(12, -1)
    rgb_ref = torch.sigmoid(field.color(torch.cat([field.feature(h), d_enc], dim=-1))).reshape(4, 3, 3)
    torch.testing.assert_close(rgb, rgb_ref)
    torch.testing.assert_close(sigma, sigma_ref)
    grads = torch.autograd.grad(rgb.sum(), [field.feature.weight, field.color[0].weight])
    grads_ref = torch.autograd.grad(rgb_ref.sum(), [field.feature.weight, field.color[0].weight])
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b)
