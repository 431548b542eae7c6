"""The conditioned dynamic field F(cond, x, v) -> (rgb, sigma) (paper Eq. 3).

``cond`` is the per-ray conditioning vector: the interaction module's output (after optional
smoothing) concatenated with the latent code. Two encodings of ``x`` share this one class:

* ``"pe"`` -- the paper's NeRF MLP: PE(x) (10 frequencies) + cond -> ``depth`` x ``width``
  ReLU layers (skip connection at the middle, as in NeRF) -> density head; features +
  PE(v) (4 frequencies) -> colour branch of ``color_depth`` x ``color_width``.
* ``"hash"`` -- the fast path: a multiresolution hash grid of x + cond -> small MLPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn

from minerf.model.encodings import HashGridConfig, HashGridEncoding, PositionalEncoding
from minerf_base.clip import HEAD_BOX


@dataclass
class FieldConfig:
    """Architecture of one field (the coarse and the fine field use the same config)."""

    encoding: str = "pe"
    """``pe`` (paper) or ``hash`` (fast)."""
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
    region_attention: bool = False
    """Gate the conditioning per point, channel by channel, with ``2 sigmoid(A enc(x))`` (as
    ER-NeRF's region attention): the expression can then act on the mouth without acting on
    the forehead, which one shared first layer cannot do with a static encoding."""

    def __post_init__(self) -> None:
        if self.encoding not in ("pe", "hash"):
            raise ValueError(f"unknown encoding '{self.encoding}' (pe or hash)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FieldConfig":
        """The config saved by :func:`dataclasses.asdict` (the hash grid as a nested dict)."""
        data = dict(data)
        data["hash_grid"] = HashGridConfig(**data.get("hash_grid", {}))
        return cls(**data)


def _mlp(n_in: int, width: int, depth: int, n_out: int | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(depth):
        layers += [nn.Linear(n_in if k == 0 else width, width), nn.ReLU(inplace=True)]
    if n_out is not None:
        layers.append(nn.Linear(width if depth else n_in, n_out))
    return nn.Sequential(*layers)


class ConditionedField(nn.Module):
    """``x`` head-space points, ``v`` unit view directions, ``cond`` per-ray conditioning -> rgb, sigma."""

    def __init__(self, cfg: FieldConfig, cond_dim: int):
        super().__init__()
        self.cfg = cfg
        self.cond_dim = cond_dim
        self.register_buffer("box_min", torch.from_numpy(np.asarray(HEAD_BOX[0])), persistent=False)
        self.register_buffer("box_size", torch.from_numpy(np.asarray(HEAD_BOX[1] - HEAD_BOX[0])), persistent=False)
        self.dir_enc = PositionalEncoding(3, cfg.dir_freqs)
        if cfg.encoding == "pe":
            self.pos_enc: nn.Module = PositionalEncoding(3, cfg.pos_freqs)
        else:
            self.pos_enc = HashGridEncoding(cfg.hash_grid)
        n_in = self.pos_enc.out_dim + cond_dim
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

    def forward(
        self, x: Float[Tensor, "rays samples 3"], v: Float[Tensor, "rays 3"], cond: Float[Tensor, "rays cond"]
    ) -> tuple[Float[Tensor, "rays samples 3"], Float[Tensor, "rays samples"]]:
        R, S, _ = x.shape
        unit = (x - self.box_min) / self.box_size  # head box -> [0, 1]^3
        flat = unit.reshape(R * S, 3)
        cond_s = cond[:, None, :].expand(R, S, cond.shape[-1]).reshape(R * S, -1)
        enc = self.pos_enc(flat if self.cfg.encoding == "hash" else flat * 2 - 1).to(cond_s.dtype)
        if self.attention is not None:
            cond_s = cond_s * 2.0 * torch.sigmoid(self.attention(enc))
        h_in = torch.cat([enc, cond_s], dim=-1)
        h = self.backbone_a(h_in)
        if self.backbone_b is not None:
            h = self.backbone_b(torch.cat([h, h_in], dim=-1))
        raw = self.density(h).reshape(R, S)
        sigma = torch.relu(raw) if self.cfg.density_activation == "relu" else nn.functional.softplus(raw - 1.0)
        d_enc = self.dir_enc(v)[:, None, :].expand(R, S, self.dir_enc.out_dim).reshape(R * S, -1)
        rgb = torch.sigmoid(self.color(torch.cat([self.feature(h), d_enc.to(h.dtype)], dim=-1))).reshape(R, S, 3)
        return rgb, sigma
