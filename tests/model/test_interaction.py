"""Interaction modules: the CP form of M (App. A.1), the expansion of H (Eq. 11), every variant."""

from __future__ import annotations

import pytest
import torch

from minerf.model.interaction import VARIANTS, InteractionConfig, InteractionModule
from minerf.model.presets import ABLATIONS

D = 6


def _inputs(batch: int = 5, latent: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, D, generator=g, dtype=torch.float64), torch.randn(batch, D, generator=g, dtype=torch.float64), torch.randn(batch, latent, generator=g, dtype=torch.float64)


def test_m_equals_cp_decomposed_third_order_tensor():
    module = InteractionModule(InteractionConfig("M", rank=3, out_dim=5), D).double()
    e, i, _ = _inputs()
    U1, U2, C = module.U1.weight, module.U2.weight, module.C.weight  # (k, d), (k, d), (o, k)
    # W = sum_r C[:, r] (outer) U1[r] (outer) U2[r]: the CP form of the third-order tensor (Eq. 9)
    W = torch.einsum("or,rd,rk->odk", C, U1, U2)
    expected = torch.einsum("odk,bd,bk->bo", W, e, i) + e @ module.W2.weight.T + i @ module.W3.weight.T
    torch.testing.assert_close(module(e, i), expected)
    # and the full-tensor variant A7 with this W gives the multiplicative part
    a7 = InteractionModule(InteractionConfig("A7", out_dim=5), D).double()
    with torch.no_grad():
        a7.W.copy_(W)
    torch.testing.assert_close(a7(e, i), module.C(module.U1(e) * module.U2(i)))


def test_h_with_two_steps_equals_eq11_expansion():
    module = InteractionModule(InteractionConfig("H", rank=4, degree=2), D).double()
    e, i, _ = _inputs()
    U11, U12 = module.U_e[0].weight, module.U_i[0].weight
    U21, U22 = module.U_e[1].weight, module.U_i[1].weight
    C = module.C.weight
    lin = lambda U, x: x @ U.T  # noqa: E731
    terms = (
        lin(U21, e) * lin(U11, e)
        + lin(U21, e) * lin(U12, i)
        + lin(U22, i) * lin(U11, e)
        + lin(U22, i) * lin(U12, i)
        + lin(U11, e)
        + lin(U12, i)
    )
    torch.testing.assert_close(module(e, i), terms @ C.T)


def test_h_default_rank_is_d_and_degree_grows_parameters():
    h2 = InteractionModule(InteractionConfig("H", rank=0, degree=2), D)
    h4 = InteractionModule(InteractionConfig("H", rank=0, degree=4), D)
    assert h2.rank == D and h2.out_dim == D
    assert sum(p.numel() for p in h4.parameters()) > sum(p.numel() for p in h2.parameters())


@pytest.mark.parametrize(
    "kind, formula",
    [
        ("A1", lambda m, e, i: m.W2(e) + m.W3(i)),
        ("A2", lambda m, e, i: e * i + m.W2(e) + m.W3(i)),
        ("A3", lambda m, e, i: m.W1(e * i) + m.W1(e) + m.W1(i)),
        ("A4", lambda m, e, i: m.W1(e * i)),
        ("A5", lambda m, e, i: m.W2(e) * m.W3(i) + m.W2(e) + m.W3(i)),
        ("A6", lambda m, e, i: m.W1(e * i) + m.W2(e) + m.W3(i)),
        ("baseline", lambda m, e, i: torch.cat([e, i], -1)),
        ("concat", lambda m, e, i: torch.cat([m.W2(e), m.W3(i)], -1)),
    ],
)
def test_table1_variants_match_their_formulas(kind, formula):
    module = InteractionModule(InteractionConfig(kind), D).double()
    e, i, _ = _inputs()
    out = module(e, i)
    torch.testing.assert_close(out, formula(module, e, i))
    assert out.shape == (5, module.out_dim)


def test_latent_codes_inside_m_eq13():
    module = InteractionModule(InteractionConfig("M-latent", rank=3), D, latent_dim=4).double()
    e, i, l = _inputs()
    a, b, c = module.U1(e), module.U2(i), module.U3(l)
    expected = module.C(a * b * c + a * b + a * c + b * c + a + b + c)
    torch.testing.assert_close(module(e, i, l), expected)
    assert module.uses_latent
    with pytest.raises(ValueError):
        module(e, i)


def test_output_dim_256_and_rank_32():
    assert InteractionModule(InteractionConfig("M", rank=8, out_dim=256), D).out_dim == 256
    assert InteractionModule(InteractionConfig("M", rank=32), D).U1.weight.shape == (32, D)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown interaction"):
        InteractionConfig("A9")


def test_every_table_row_is_an_ablation():
    assert set(VARIANTS) <= {cfg.kind for cfg, _ in ABLATIONS.values()}
    assert {"M-no-latent", "M-k32", "H-N3", "H-N4", "M-o256", "concat", "M-latent"} <= set(ABLATIONS)
