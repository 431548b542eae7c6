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
    """``sum_c table[index[:, c]] * weight[:, c]``: table (T, F), index (B, K), weight (B, K) -> (B, F)
    (K = 8 corners of a hash-grid cell, 4 texels of a tri-plane).

    Forward is one fused gather (``embedding_bag``); backward scatters with ``index_add_``,
    which on CPU is several times faster than the generic sort-based embedding backward."""

    @staticmethod
    def forward(ctx, table: Float[Tensor, "entries features"], index: Int[Tensor, "batch corners"], weight: Float[Tensor, "batch corners"]) -> Float[Tensor, "batch features"]:  # type: ignore[override]
        ctx.save_for_backward(table, index, weight)
        return nn.functional.embedding_bag(index, table, per_sample_weights=weight, mode="sum")

    @staticmethod
    def backward(ctx, grad: Float[Tensor, "batch features"]) -> tuple[Float[Tensor, "entries features"] | None, None, Float[Tensor, "batch corners"] | None]:  # type: ignore[override]
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


# The three axis-aligned planes of a tri-plane: (first, second) coordinate of each.
PLANE_AXES = ((0, 1), (0, 2), (1, 2))


@dataclass
class TriPlaneConfig:
    """Multi-scale tri-plane (k-planes style): per scale, three C-channel feature planes
    (xy, xz, yz); a point's feature combines its three bilinear plane lookups (their product,
    or their sum), and the scales are concatenated."""

    resolutions: tuple[int, ...] = (64, 256)
    """Side of the planes of each scale."""
    channels: int = 16
    """Features per plane (and per scale in the output)."""
    combine: str = "product"
    """``product`` (k-planes: local in 3-D) or ``sum`` of the three planes."""
    init_std: float = 0.1
    """Planes start at 1 + N(0, init_std^2) for ``product`` (the product then starts near the
    sum of the three), at N(0, init_std^2) for ``sum``."""

    def __post_init__(self) -> None:
        self.resolutions = tuple(int(r) for r in self.resolutions)
        if self.combine not in ("product", "sum"):
            raise ValueError(f"unknown tri-plane combine '{self.combine}' (product or sum)")
        if not self.resolutions or min(self.resolutions) < 2 or self.channels < 1:
            raise ValueError(f"a tri-plane needs resolutions >= 2 and channels >= 1, not {self.resolutions} / {self.channels}")


def plane_roughness(planes: Float[Tensor, "*stack res res channels"]) -> Float[Tensor, ""]:
    """Mean squared difference of neighbouring cells along both sides of every plane in the
    stack (0 for a constant plane): a total-variation penalty on feature planes."""
    down = (planes[..., 1:, :, :] - planes[..., :-1, :, :]).pow(2).mean()
    across = (planes[..., :, 1:, :] - planes[..., :, :-1, :]).pow(2).mean()
    return down + across


def plane_corners(x: Float[Tensor, "batch 3"], res: int) -> tuple[Int[Tensor, "3 batch 4"], Float[Tensor, "3 batch 4"]]:
    """Bilinear lookup of points ``x`` in [0, 1]^3 on the three planes of side ``res`` (texel
    centres at the plane's edges, like ``align_corners``): per plane, the flat indices of the
    four texels around the point in a (3, res, res) table and their weights. Texel (v, u) of
    plane p is entry ``(p * res + v) * res + u``. Cell and fraction are found once per axis
    (each axis serves two planes)."""
    scaled = x.clamp(0.0, 1.0) * (res - 1)  # (B, 3)
    base = scaled.floor().clamp(0, res - 2)
    frac, cell = (scaled - base).T, base.long().T  # (3, B): per axis
    u_axis, v_axis = (torch.tensor(axes, device=x.device) for axes in zip(*PLANE_AXES))
    first = (torch.arange(3, device=x.device)[:, None] * res + cell[v_axis]) * res + cell[u_axis]
    index = torch.stack([first, first + 1, first + res, first + res + 1], dim=-1)
    fu, fv = frac[u_axis], frac[v_axis]
    gu, gv = 1 - fu, 1 - fv
    weight = torch.stack([gu * gv, fu * gv, gu * fv, fu * fv], dim=-1)
    return index, weight


def memo_corners(x: Float[Tensor, "batch 3"], res: int, memo: dict | None) -> tuple[Tensor, Tensor]:
    """:func:`plane_corners` of ``x``, kept in ``memo`` (a dict per batch of points, or None)
    for the other tri-planes of the same side (the static 64^2 scale and the dynamic planes)."""
    if memo is None:
        return plane_corners(x, res)
    if res not in memo:
        memo[res] = plane_corners(x, res)
    return memo[res]


def blend_rows(table: Float[Tensor, "entries features"], index: Int[Tensor, "*batch corners"], weight: Float[Tensor, "*batch corners"]) -> Float[Tensor, "*batch features"]:
    """``sum_c table[index[..., c]] * weight[..., c]`` (one fused gather; scatter-add backward)."""
    flat_index, flat_weight = index.reshape(-1, index.shape[-1]), weight.reshape(-1, weight.shape[-1])
    out = _CornerBlend.apply(table, flat_index, flat_weight.to(table.dtype))
    return out.reshape(*index.shape[:-1], table.shape[-1])


class TriPlaneEncoding(nn.Module):
    """``x`` (batch, 3) in [0, 1] -> (batch, scales * channels): per scale one fused gather of
    the 3 x 4 texels around each point (cheap in plain PyTorch, forward and backward).
    Planes are stored channels-last, (3, res, res, C). :func:`triplane_reference` is its slow twin."""

    def __init__(self, cfg: TriPlaneConfig):
        super().__init__()
        self.cfg = cfg
        self.out_dim = len(cfg.resolutions) * cfg.channels
        mean = 1.0 if cfg.combine == "product" else 0.0
        self.planes = nn.ParameterList(nn.Parameter(mean + cfg.init_std * torch.randn(3, res, res, cfg.channels)) for res in cfg.resolutions)

    def forward(self, x: Float[Tensor, "batch 3"], memo: dict | None = None) -> Float[Tensor, "batch enc"]:
        """``memo``: see :func:`memo_corners`. The three planes are combined per scale, then
        the scales concatenated (half the memory traffic of concatenating the planes first)."""
        scales = []
        for planes in self.planes:
            index, weight = memo_corners(x, planes.shape[1], memo)
            looks = blend_rows(planes.reshape(-1, planes.shape[-1]), index, weight)  # (3, batch, C)
            scales.append(looks[0] * looks[1] * looks[2] if self.cfg.combine == "product" else looks.sum(dim=0))
        return torch.cat(scales, dim=-1)


def triplane_reference(enc: TriPlaneEncoding, x: Float[Tensor, "batch 3"]) -> Float[Tensor, "batch enc"]:
    """Slow, literal evaluation of :class:`TriPlaneEncoding` (same planes) with PyTorch's own
    bilinear sampler (``grid_sample``, ``align_corners``): plane by plane, then the product
    (or sum) of the planes."""
    coords = x.clamp(0.0, 1.0) * 2.0 - 1.0
    product = enc.cfg.combine == "product"
    outputs = []
    for planes in enc.planes:
        feature = None
        for p, (a, b) in enumerate(PLANE_AXES):
            image = planes[p].permute(2, 0, 1)[None]  # (1, C, rows v, columns u)
            grid = torch.stack([coords[:, a], coords[:, b]], dim=-1)[None, :, None, :]
            looked = nn.functional.grid_sample(image, grid.to(image.dtype), mode="bilinear", align_corners=True)[0, :, :, 0].T
            feature = looked if feature is None else (feature * looked if product else feature + looked)
        outputs.append(feature)
    return torch.cat(outputs, dim=-1)
