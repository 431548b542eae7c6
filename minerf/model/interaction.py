"""Identity-expression interaction modules: M (paper Eq. 1), H (Eq. 2) and every ablation.

All variants of Table 1 and Table 4 are ONE module configured by name. A variant is a list of
*terms* that are summed (or, for the concatenation variants, concatenated); each term creates
only the parameters it needs. Shapes: ``e`` (B, d) expression, ``i`` (B, d) identity code,
``l`` (B, latent_dim) latent code; the output is (B, out_dim).

=============  ===============================================================  ===========
name           formula                                                          paper
=============  ===============================================================  ===========
``M``          C[(U1 e) * (U2 i)] + W2 e + W3 i                                 Eq. 1
``H``          C x_N,  x_n = x_{n-1} + (U_n1 e + U_n2 i) * x_{n-1}              Eq. 2
``baseline``   [e; i]  (plain concatenation, no module)                         Table 1
``A1``         W2 e + W3 i                                                      Table 1
``A2``         (e * i) + W2 e + W3 i                                            Table 1
``A3``         W1 (e * i) + W1 e + W1 i                                         Table 1
``A4``         W1 (e * i)                                                       Table 1
``A5``         (W2 e) * (W3 i) + W2 e + W3 i                                    Table 1
``A6``         W1 (e * i) + W2 e + W3 i                                         Table 1
``A7``         W x2 e x3 i  (full third-order tensor)                           Table 1
``concat``     [W2 e; W3 i]  (learnable concatenation)                          Table 4 (b)
``M-latent``   C[(U1e)*(U2i)*(U3l) + (U1e)*(U2i) + (U1e)*(U3l) + (U2i)*(U3l)    Eq. 13
               + U1e + U2i + U3l]
=============  ===============================================================  ===========

"k = 32" and "o = 256" (Table 1 / Table 4 a) are the ``rank`` and ``out_dim`` fields; "H with
N = 3" is ``degree``; "without latent codes" is a field of the model config, not of this
module. ``M-latent`` consumes the latent code, so the field then gets no separate latent input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

# variant name -> (terms, how they combine)
VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "M": (("lowrank", "W2e", "W3i"), "sum"),
    "H": (("poly",), "sum"),
    "baseline": (("e", "i"), "concat"),
    "A1": (("W2e", "W3i"), "sum"),
    "A2": (("e*i", "W2e", "W3i"), "sum"),
    "A3": (("W1(e*i)", "W1e", "W1i"), "sum"),
    "A4": (("W1(e*i)",), "sum"),
    "A5": (("W2e*W3i", "W2e", "W3i"), "sum"),
    "A6": (("W1(e*i)", "W2e", "W3i"), "sum"),
    "A7": (("tensor",), "sum"),
    "concat": (("W2e", "W3i"), "concat"),
    "M-latent": (("lowrank3",), "sum"),
}


@dataclass
class InteractionConfig:
    """Which interaction of identity code and expression conditions the field."""

    kind: str = "M"
    """Variant name, one of :data:`VARIANTS`."""
    rank: int = 8
    """k: rank of U1, U2 (and U3, U_n1, U_n2). Paper: 8 for M; for H the paper uses k = d (set 0 = d)."""
    out_dim: int = 0
    """o: output dimension (rows of C / W1 / W2 / W3); 0 means o = d (paper)."""
    degree: int = 2
    """N: number of recursive steps of H."""

    def __post_init__(self) -> None:
        if self.kind not in VARIANTS:
            raise ValueError(f"unknown interaction '{self.kind}'; choose one of {sorted(VARIANTS)}")
        if self.degree < 1:
            raise ValueError("degree N must be >= 1")


class InteractionModule(nn.Module):
    """One configurable interaction ``(e, i[, l]) -> (B, out_dim)``; see the module docstring."""

    def __init__(self, config: InteractionConfig, dim: int, latent_dim: int = 32):
        super().__init__()
        self.config = config
        self.dim = d = dim
        self.latent_dim = latent_dim
        self.terms, self.combine = VARIANTS[config.kind]
        o = config.out_dim or d
        k = config.rank or d
        self.rank = k
        if "e*i" in self.terms and o != d:
            raise ValueError("variant A2 adds e * i directly, so out_dim must equal d")
        linear = lambda n_in, n_out: nn.Linear(n_in, n_out, bias=False)  # noqa: E731
        uses = set(self.terms)
        if uses & {"W2e", "W2e*W3i"}:
            self.W2 = linear(d, o)
        if uses & {"W3i", "W2e*W3i"}:
            self.W3 = linear(d, o)
        if uses & {"W1(e*i)", "W1e", "W1i"}:
            self.W1 = linear(d, o)
        if uses & {"lowrank", "lowrank3"}:
            self.U1 = linear(d, k)
            self.U2 = linear(d, k)
            self.C = linear(k, o)
        if "lowrank3" in uses:
            self.U3 = linear(latent_dim, k)
        if "tensor" in uses:
            self.W = nn.Parameter(torch.randn(o, d, d) / d)
        if "poly" in uses:
            self.U_e = nn.ModuleList(linear(d, k) for _ in range(config.degree))
            self.U_i = nn.ModuleList(linear(d, k) for _ in range(config.degree))
            self.C = linear(k, o)
        if self.combine == "concat":
            self.out_dim = 2 * (d if self.terms == ("e", "i") else o)
        else:
            self.out_dim = o

    @property
    def uses_latent(self) -> bool:
        """True when the latent code is an input of the module (Eq. 13)."""
        return "lowrank3" in self.terms

    def _term(self, name: str, e: Float[Tensor, "batch expr"], i: Float[Tensor, "batch expr"], l: Float[Tensor, "batch latent"] | None) -> Float[Tensor, "batch enc"]:
        if name == "e":
            return e
        if name == "i":
            return i
        if name == "W2e":
            return self.W2(e)
        if name == "W3i":
            return self.W3(i)
        if name == "W1e":
            return self.W1(e)
        if name == "W1i":
            return self.W1(i)
        if name == "e*i":
            return e * i
        if name == "W1(e*i)":
            return self.W1(e * i)
        if name == "W2e*W3i":
            return self.W2(e) * self.W3(i)
        if name == "lowrank":
            return self.C(self.U1(e) * self.U2(i))
        if name == "lowrank3":
            if l is None:
                raise ValueError("variant M-latent needs the latent code l")
            a, b, c = self.U1(e), self.U2(i), self.U3(l)
            return self.C(a * b * c + a * b + a * c + b * c + a + b + c)
        if name == "tensor":
            return torch.einsum("odk,bd,bk->bo", self.W, e, i)
        if name == "poly":
            x = self.U_e[0](e) + self.U_i[0](i)
            for n in range(1, self.config.degree):
                x = x + (self.U_e[n](e) + self.U_i[n](i)) * x
            return self.C(x)
        raise AssertionError(name)

    def forward(
        self, e: Float[Tensor, "batch expr"], i: Float[Tensor, "batch expr"], l: Float[Tensor, "batch latent"] | None = None
    ) -> Float[Tensor, "batch out"]:
        """Expression ``e``, identity code ``i``, latent code ``l`` (or None) -> (batch, out_dim)."""
        parts = [self._term(name, e, i, l) for name in self.terms]
        if self.combine == "concat":
            return torch.cat(parts, dim=-1)
        out = parts[0]
        for part in parts[1:]:
            out = out + part
        return out
