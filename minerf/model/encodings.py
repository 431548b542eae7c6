"""Input encodings of 3-D points and view directions.

* :class:`PositionalEncoding` -- NeRF's sin/cos encoding (paper: 10 frequencies for x, 4 for v).
* :class:`HashGridEncoding` -- a multiresolution hash grid (Instant-NGP) in plain PyTorch,
  evaluated for all levels and all 8 cell corners in one vectorised gather.
  :func:`hash_grid_reference` is its slow twin (a loop over levels and corners, written
  straight from the definition); tests compare values and gradients of the two.

Points given to the hash grid are expected in [0, 1]^3 (the field normalises the head box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

# Instant-NGP's spatial hash primes (the first is 1 so level-0 grids stay coherent).
PRIMES = (1, 2654435761, 805459861)
PRIMES32 = tuple(p - 2**32 if p >= 2**31 else p for p in PRIMES)  # the same primes as wrapped int32


class PositionalEncoding(nn.Module):
    """``x`` (..., coords) -> (..., coords * (1 + 2 * num_freqs)): ``[x, sin(2^k x), cos(2^k x)]``."""

    def __init__(self, in_dim: int, num_freqs: int, include_input: bool = True):
        super().__init__()
        self.in_dim = in_dim
        self.num_freqs = num_freqs
        self.include_input = include_input
        self.register_buffer("freqs", 2.0 ** torch.arange(num_freqs, dtype=torch.float32), persistent=False)
        self.out_dim = in_dim * (2 * num_freqs + int(include_input))

    def forward(self, x: Float[Tensor, "*batch coords"]) -> Float[Tensor, "*batch enc"]:
        scaled = (x[..., None, :] * self.freqs[:, None]).flatten(-2)  # (..., F*C)
        parts = [x] if self.include_input else []
        return torch.cat(parts + [torch.sin(scaled), torch.cos(scaled)], dim=-1)


@dataclass
class HashGridConfig:
    """Multiresolution hash grid (Instant-NGP) parameters."""

    levels: int = 16
    """Number of resolution levels."""
    features: int = 2
    """Features stored per table entry."""
    log2_table: int = 16
    """log2 of the table size per level."""
    base_resolution: int = 16
    """Grid resolution of the coarsest level."""
    max_resolution: int = 512
    """Grid resolution of the finest level."""


def level_resolutions(cfg: HashGridConfig) -> list[int]:
    """Grid resolution per level (geometric progression from base to max)."""
    if cfg.levels == 1:
        return [cfg.base_resolution]
    growth = math.exp((math.log(cfg.max_resolution) - math.log(cfg.base_resolution)) / (cfg.levels - 1))
    return [int(math.floor(cfg.base_resolution * growth**lv)) for lv in range(cfg.levels)]


def _corner_index(corner: Int[Tensor, "*batch 3"], resolution: int, table_size: int) -> Int[Tensor, " *batch"]:
    """Integer corner coordinates (..., 3) -> table index (...): dense when the grid fits, else hashed."""
    side = resolution + 1
    if side**3 <= table_size:
        return corner[..., 0] + side * (corner[..., 1] + side * corner[..., 2])
    h = corner[..., 0] * PRIMES[0]
    h = torch.bitwise_xor(h, corner[..., 1] * PRIMES[1])
    h = torch.bitwise_xor(h, corner[..., 2] * PRIMES[2])
    return torch.remainder(h, table_size)


class _CornerBlend(torch.autograd.Function):
    """``sum_c table[index[:, c]] * weight[:, c]``: table (T, F), index (B, 8), weight (B, 8) -> (B, F).

    Forward is one fused gather (``embedding_bag``); backward scatters with ``index_add_``,
    which on CPU is several times faster than the generic sort-based embedding backward."""

    @staticmethod
    def forward(ctx, table: Float[Tensor, "entries features"], index: Int[Tensor, "batch 8"], weight: Float[Tensor, "batch 8"]) -> Float[Tensor, "batch features"]:  # type: ignore[override]
        ctx.save_for_backward(table, index, weight)
        return nn.functional.embedding_bag(index, table, per_sample_weights=weight, mode="sum")

    @staticmethod
    def backward(ctx, grad: Float[Tensor, "batch features"]) -> tuple[Float[Tensor, "entries features"] | None, None, Float[Tensor, "batch 8"] | None]:  # type: ignore[override]
        table, index, weight = ctx.saved_tensors
        grad_table = grad_weight = None
        if ctx.needs_input_grad[0]:
            contrib = (weight[..., None] * grad[:, None, :]).reshape(-1, table.shape[1])
            grad_table = torch.zeros_like(table).index_add_(0, index.reshape(-1), contrib.to(table.dtype))
        if ctx.needs_input_grad[2]:
            grad_weight = (table[index] * grad[:, None, :]).sum(dim=-1)
        return grad_table, None, grad_weight


class HashGridEncoding(nn.Module):
    """``x`` (batch, 3) in [0, 1] -> (batch, levels * features), trilinear interpolation per level."""

    def __init__(self, cfg: HashGridConfig):
        super().__init__()
        self.cfg = cfg
        self.table_size = 2**cfg.log2_table
        self.resolutions = level_resolutions(cfg)
        self.out_dim = cfg.levels * cfg.features
        # Instant-NGP initialisation: small uniform values.
        self.table = nn.Parameter((torch.rand(cfg.levels, self.table_size, cfg.features) * 2 - 1) * 1e-4)
        offsets = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)], dtype=torch.int32)
        self.register_buffer("corner_offsets", offsets, persistent=False)  # (8, 3)
        sides = torch.tensor([r + 1 for r in self.resolutions], dtype=torch.int32)
        self.register_buffer("level_offset", torch.arange(cfg.levels, dtype=torch.int32) * self.table_size, persistent=False)
        self.register_buffer("sides", sides, persistent=False)
        self.register_buffer("dense_level", sides**3 <= self.table_size, persistent=False)
        self.register_buffer("scales", torch.tensor(self.resolutions, dtype=torch.float32), persistent=False)

    def forward(self, x: Float[Tensor, "batch 3"]) -> Float[Tensor, "batch enc"]:
        cfg, T = self.cfg, self.table_size
        x = x.clamp(0.0, 1.0)
        pos = x[:, None, :] * self.scales[None, :, None]  # (B, L, 3)
        base = torch.floor(pos)
        frac = pos - base  # (B, L, 3)
        base = base.int()
        # corner coordinates per axis, (B, L, 8) each; then dense or hashed index per level
        cx, cy, cz = (base[..., a, None] + self.corner_offsets[:, a] for a in range(3))
        side = self.sides[:, None]  # (L, 1)
        dense = cx + side * (cy + side * cz)
        # int32 arithmetic that wraps like Instant-NGP's uint32 hash; the table size is a power of
        # two, so masking the low bits equals the reference's int64 remainder
        hashed = torch.bitwise_and(torch.bitwise_xor(torch.bitwise_xor(cx * PRIMES32[0], cy * PRIMES32[1]), cz * PRIMES32[2]), T - 1)
        index = torch.where(self.dense_level[:, None], dense, hashed)
        index = (index + self.level_offset[None, :, None]).long()
        # trilinear weights as an outer product of 1-D weights; corner c = x + 2 y + 4 z
        wx, wy, wz = (torch.stack([1 - frac[..., a], frac[..., a]], dim=-1) for a in range(3))  # (B, L, 2)
        w = (wz[..., :, None, None] * wy[..., None, :, None] * wx[..., None, None, :]).reshape(*index.shape)
        out = _CornerBlend.apply(self.table.reshape(-1, cfg.features), index.reshape(-1, 8), w.reshape(-1, 8).to(self.table.dtype))
        return out.reshape(x.shape[0], -1)


def hash_grid_reference(enc: HashGridEncoding, x: Float[Tensor, "batch 3"]) -> Float[Tensor, "batch enc"]:
    """Slow, literal evaluation of :class:`HashGridEncoding` (same table): one level and one
    corner at a time, the trilinear weight written out as a product of 1-D weights."""
    x = x.clamp(0.0, 1.0)
    outputs = []
    for lv, res in enumerate(enc.resolutions):
        pos = x * float(res)
        base = torch.floor(pos).long()
        frac = pos - base
        acc = torch.zeros(x.shape[0], enc.cfg.features, dtype=enc.table.dtype, device=x.device)
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    corner = base + torch.tensor([dx, dy, dz], device=x.device)
                    idx = _corner_index(corner, res, enc.table_size)
                    wx = frac[:, 0] if dx else 1 - frac[:, 0]
                    wy = frac[:, 1] if dy else 1 - frac[:, 1]
                    wz = frac[:, 2] if dz else 1 - frac[:, 2]
                    acc = acc + enc.table[lv][idx] * (wx * wy * wz)[:, None]
        outputs.append(acc)
    return torch.cat(outputs, dim=-1)
