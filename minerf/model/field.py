"""The conditioned dynamic field F(cond, x, v) -> (rgb, sigma) (paper Eq. 3).

``cond`` is the per-ray conditioning vector: the interaction module's output (after optional
smoothing) concatenated with the latent code. Two encodings of ``x`` share this one class:

* ``"pe"`` -- the paper's NeRF MLP: PE(x) (10 frequencies) + cond -> ``depth`` x ``width``
  ReLU layers (skip connection at the middle, as in NeRF) -> density head; features +
  PE(v) (4 frequencies) -> colour branch of ``color_depth`` x ``color_width``.
* ``"hash"`` -- a multiresolution hash grid of x + cond -> small MLPs (the ``fast-hash`` preset).
* ``"triplane"`` -- the fast path: a multi-scale tri-plane of x + cond -> small MLPs, plus
  (``dynamic_basis`` > 0) an expression-factorised dynamic tri-plane: K basis planes G_j whose
  point features are mixed by coefficients a(cond) that the interaction output M(e, i) drives,
  ``sum_j a_j(cond) G_j(x)`` -- the spatial analogue of M. The expression then changes
  features *in space* (where the lips are), not only through the MLP's first layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn

from minerf.model.encodings import HashGridConfig, HashGridEncoding, PositionalEncoding, TriPlaneConfig, TriPlaneEncoding, blend_rows, memo_corners
from minerf_base.clip import HEAD_BOX


@dataclass
class FieldConfig:
    """Architecture of one field (the coarse and the fine field use the same config)."""

    encoding: str = "pe"
    """``pe`` (paper), ``hash`` or ``triplane`` (fast)."""
    pos_freqs: int = 10
    """Positional-encoding frequencies for x (``pe``)."""
    dir_freqs: int = 4
    """Positional-encoding frequencies for the view direction v."""
    depth: int = 8
    """Linear layers of the backbone."""
    width: int = 256
    """Hidden units of the backbone."""
    color_depth: int = 4
    """Linear layers of the colour branch."""
    color_width: int = 128
    """Hidden units of the colour branch."""
    density_activation: str = "relu"
    """``relu`` (paper) or ``softplus`` (smoother start for the hash grid)."""
    hash_grid: HashGridConfig = field(default_factory=HashGridConfig)
    """Hash grid parameters (``hash`` only)."""
    triplane: TriPlaneConfig = field(default_factory=TriPlaneConfig)
    """Static tri-plane parameters (``triplane`` only)."""
    dynamic_basis: int = 0
    """K expression-driven basis tri-planes (``triplane`` only; 0: none)."""
    dynamic_channels: int = 8
    """Features per basis plane."""
    dynamic_resolution: int = 64
    """Side of the basis planes."""
    region_attention: bool = False
    """Gate the conditioning per point, channel by channel, with ``2 sigmoid(A enc(x))`` (as
    ER-NeRF's region attention): the expression can then act on the mouth without acting on
    the forehead, which one shared first layer cannot do with a static encoding."""

    def __post_init__(self) -> None:
        if self.encoding not in ("pe", "hash", "triplane"):
            raise ValueError(f"unknown encoding '{self.encoding}' (pe, hash or triplane)")
        if self.dynamic_basis and self.encoding != "triplane":
            raise ValueError("dynamic basis planes need the triplane encoding")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FieldConfig":
        """The config saved by :func:`dataclasses.asdict` (the hash grid as a nested dict)."""
        data = dict(data)
        data["hash_grid"] = HashGridConfig(**data.get("hash_grid", {}))
        triplane = dict(data.get("triplane", {}))
        if "resolutions" in triplane:  # JSON stores the tuple as a list
            triplane["resolutions"] = tuple(triplane["resolutions"])
        data["triplane"] = TriPlaneConfig(**triplane)
        return cls(**data)


def _mlp(n_in: int, width: int, depth: int, n_out: int | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(depth):
        layers += [nn.Linear(n_in if k == 0 else width, width), nn.ReLU(inplace=True)]
    if n_out is not None:
        layers.append(nn.Linear(width if depth else n_in, n_out))
    return nn.Sequential(*layers)


def _position_encoding(cfg: FieldConfig) -> nn.Module:
    if cfg.encoding == "pe":
        return PositionalEncoding(3, cfg.pos_freqs)
    if cfg.encoding == "hash":
        return HashGridEncoding(cfg.hash_grid)
    return TriPlaneEncoding(cfg.triplane)


class DynamicPlanes(nn.Module):
    """``sum_j a_j(cond) G_j(x)``: K basis tri-planes G_j (``dynamic_channels`` features each,
    the sum of three planes) mixed by coefficients ``a`` linear in the conditioning (the
    interaction output M(e, i)). The mix is done on the planes, once per distinct
    conditioning (one per frame), so a lookup costs C features, not K x C. The planes start
    near zero: a new field starts static and grows expression-dependent features only where
    the images ask for them (the mouth)."""

    def __init__(self, cfg: FieldConfig, cond_dim: int):
        super().__init__()
        self.basis, self.channels, self.res = cfg.dynamic_basis, cfg.dynamic_channels, cfg.dynamic_resolution
        self.planes = nn.Parameter(1e-3 * torch.randn(self.basis, 3, self.res, self.res, self.channels))
        self.coefficients = nn.Linear(cond_dim, self.basis)

    def forward(self, unit: Float[Tensor, "points 3"], cond: Float[Tensor, "rays cond"], samples: int, memo: dict | None = None) -> Float[Tensor, "points channels"]:
        """``memo``: see :func:`~minerf.model.encodings.memo_corners`."""
        # rays of one frame share their conditioning row: find the distinct rows by a 1-D key
        key = cond.detach().double() @ torch.linspace(1.0, 2.0, cond.shape[-1], dtype=torch.float64, device=cond.device)
        distinct, frame_of_ray = torch.unique(key, return_inverse=True)
        first = torch.full((len(distinct),), len(cond), device=cond.device, dtype=torch.long)
        first = first.scatter_reduce(0, frame_of_ray, torch.arange(len(cond), device=cond.device), "amin")
        coef = self.coefficients(cond[first]).to(self.planes.dtype)  # one row per distinct conditioning
        mixed = torch.einsum("fk,kpvuc->fpvuc", coef, self.planes)  # (F, 3, res, res, C)
        index, weight = memo_corners(unit, self.res, memo)  # (3, points, 4) into one frame's planes
        offset = (frame_of_ray.repeat_interleave(samples) * (3 * self.res * self.res))[None, :, None]
        return blend_rows(mixed.reshape(-1, self.channels), index + offset, weight).sum(dim=0)


class ConditionedField(nn.Module):
    """``x`` head-space points, ``v`` unit view directions, ``cond`` per-ray conditioning -> rgb, sigma."""

    def __init__(self, cfg: FieldConfig, cond_dim: int):
        super().__init__()
        self.cfg = cfg
        self.cond_dim = cond_dim
        self.register_buffer("box_min", torch.from_numpy(np.asarray(HEAD_BOX[0])), persistent=False)
        self.register_buffer("box_size", torch.from_numpy(np.asarray(HEAD_BOX[1] - HEAD_BOX[0])), persistent=False)
        self.dir_enc = PositionalEncoding(3, cfg.dir_freqs)
        self.pos_enc = _position_encoding(cfg)
        self.dynamic = DynamicPlanes(cfg, cond_dim) if cfg.dynamic_basis else None
        n_in = self.pos_enc.out_dim + cond_dim + (cfg.dynamic_channels if self.dynamic is not None else 0)
        self.skip_at = cfg.depth // 2 if cfg.encoding == "pe" and cfg.depth >= 6 else -1
        first = cfg.depth if self.skip_at < 0 else self.skip_at
        self.backbone_a = _mlp(n_in, cfg.width, first, None)
        rest = cfg.depth - first
        self.backbone_b = _mlp(cfg.width + n_in, cfg.width, rest, None) if rest else None
        self.density = nn.Linear(cfg.width, 1)
        self.feature = nn.Linear(cfg.width, cfg.width)
        self.color = _mlp(cfg.width + self.dir_enc.out_dim, cfg.color_width, cfg.color_depth, 3)
        self.attention = nn.Linear(self.pos_enc.out_dim, cond_dim) if cfg.region_attention else None
        if self.attention is not None:  # starts as the identity gate (2 sigmoid(0) = 1)
            nn.init.zeros_(self.attention.weight)
            nn.init.zeros_(self.attention.bias)

    def _hidden(self, x: Float[Tensor, "rays samples 3"], cond: Float[Tensor, "rays cond"]) -> tuple[Tensor, Float[Tensor, "rays samples"]]:
        """Backbone features (rays * samples, width) and densities (rays, samples)."""
        R, S, _ = x.shape
        unit = (x - self.box_min) / self.box_size  # head box -> [0, 1]^3
        flat = unit.reshape(R * S, 3)
        memo: dict = {}  # plane corners shared by the static and the dynamic tri-planes
        if isinstance(self.pos_enc, TriPlaneEncoding):
            enc = self.pos_enc(flat, memo).to(cond.dtype)
        else:
            enc = self.pos_enc(flat if self.cfg.encoding != "pe" else flat * 2 - 1).to(cond.dtype)
        dyn = self.dynamic(flat, cond, S, memo).to(cond.dtype) if self.dynamic is not None else None
        if self.backbone_b is None:
            h = self.backbone_a[1:](self._first_layer(enc, cond, dyn, S))
        else:  # the skip connection needs the whole input again
            h_in = torch.cat([enc, self._gated(enc, cond, S).reshape(R * S, -1)] + ([dyn] if dyn is not None else []), dim=-1)
            h = self.backbone_a(h_in)
            h = self.backbone_b(torch.cat([h, h_in], dim=-1))
        raw = self.density(h).reshape(R, S)
        sigma = torch.relu(raw) if self.cfg.density_activation == "relu" else nn.functional.softplus(raw - 1.0)
        return h, sigma

    def _gated(self, enc: Float[Tensor, "points enc"], cond: Float[Tensor, "rays cond"], samples: int) -> Float[Tensor, "rays samples cond"]:
        """The conditioning of every point, gated per point by ``2 sigmoid(A enc(x))`` when the
        field has region attention."""
        R = cond.shape[0]
        if self.attention is None:
            return cond[:, None, :].expand(R, samples, cond.shape[-1])
        gate = torch.sigmoid(self.attention(enc)).reshape(R, samples, -1)
        return gate * (2.0 * cond)[:, None, :]

    def _first_layer(self, enc: Tensor, cond: Tensor, dyn: Tensor | None, samples: int) -> Float[Tensor, "points width"]:
        """The first linear layer on [enc, gated cond, dyn] without building that concatenation:
        one matrix product per part (the ungated conditioning once per ray, not per point)."""
        first: nn.Linear = self.backbone_a[0]
        n_enc, n_cond = enc.shape[-1], cond.shape[-1]
        w_enc, w_cond, w_dyn = first.weight[:, :n_enc], first.weight[:, n_enc : n_enc + n_cond], first.weight[:, n_enc + n_cond :]
        h = torch.addmm(first.bias, enc, w_enc.t())
        if dyn is not None:
            _addmm_(h, dyn, w_dyn.t())
        R = cond.shape[0]
        if self.attention is None:  # the same conditioning for all samples of a ray
            h.view(R, samples, -1).add_((cond @ w_cond.t())[:, None, :])
            return h
        if not (cond.requires_grad and torch.is_grad_enabled()) and bool((cond == cond[:1]).all()):
            # one frame's rays (a render): its conditioning folds into the weights (each row's
            # own gradient would be lost, so not when the conditioning is trained)
            return _addmm_(h, torch.sigmoid(self.attention(enc)), (2.0 * cond[0])[:, None] * w_cond.t())
        return _addmm_(h, self._gated(enc, cond, samples).reshape(R * samples, n_cond), w_cond.t())

    def densities(self, x: Float[Tensor, "rays samples 3"], cond: Float[Tensor, "rays cond"]) -> Float[Tensor, "rays samples"]:
        """Only the density (no colour branch): what the occupancy grid asks."""
        return self._hidden(x, cond)[1]

    def forward(
        self, x: Float[Tensor, "rays samples 3"], v: Float[Tensor, "rays 3"], cond: Float[Tensor, "rays cond"]
    ) -> tuple[Float[Tensor, "rays samples 3"], Float[Tensor, "rays samples"]]:
        R, S, _ = x.shape
        h, sigma = self._hidden(x, cond)
        return torch.sigmoid(self.color[1:](self._color_input(h, self.dir_enc(v).to(h.dtype), S))).reshape(R, S, 3), sigma

    def _color_input(self, h: Float[Tensor, "points width"], d_enc: Float[Tensor, "rays dir"], samples: int) -> Float[Tensor, "points color"]:
        """The colour branch's first layer on [feature(h), PE(v)] without building that
        concatenation: ``feature`` and the first layer's feature columns are one linear map
        (no activation between them), and PE(v) is the same for all samples of a ray."""
        first: nn.Linear = self.color[0]
        w_feature, w_dir = first.weight[:, : self.cfg.width], first.weight[:, self.cfg.width :]
        fused = torch.addmm(first.bias, self.feature.bias[None], w_feature.t())[0]
        out = torch.addmm(fused, h, (w_feature @ self.feature.weight).t())
        R = d_enc.shape[0]
        out.view(R, samples, -1).add_((d_enc @ w_dir.t())[:, None, :])  # in place: no second (points, color) array
        return out


def _addmm_(h: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``h += a @ b`` in place, in ``h``'s dtype: autocast does not cast in-place products, and
    under bfloat16 autocast ``h`` (an autocast product) is bfloat16 while the weights are float32."""
    return h.addmm_(a.to(h.dtype), b.to(h.dtype))
