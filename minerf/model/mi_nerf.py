"""MI-NeRF: one dynamic face NeRF for many identities (paper Sec. 3).

The model owns the learned codes (one identity code of dimension d per identity, one latent
code of dimension 32 per training frame), the interaction module, the optional temporal
smoothing, the coarse and fine fields and the renderer. Everything that conditions a frame
travels with the call, so the same model renders training frames, held-out frames,
another identity's expressions (expression transfer) or audio-predicted expressions:

* :meth:`MINeRF.condition` -- (identity codes, expression windows, latent windows) -> per-frame
  conditioning (frames, cond);
* :meth:`MINeRF.render_rays` -- :class:`~minerf.model.rays.Rays` (with per-ray conditioning) -> colours;
* :meth:`MINeRF.frame_condition` -- the same for stored codes (training frames by index).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from minerf.model.field import ConditionedField, FieldConfig
from minerf.model.interaction import InteractionConfig, InteractionModule
from minerf.model.occupancy import OccupancyGrid
from minerf.model.rays import Rays
from minerf.model.render import distortion_loss, importance_depths, stratified_depths, volume_render
from minerf.model.smoothing import TemporalAttention
from minerf_base.clip import HEAD_BOX

HEAD_DEPTH = float(HEAD_BOX[1][2] - HEAD_BOX[0][2])
"""Depth of the head box (decimetres): the distortion loss measures depths in this unit."""


@dataclass
class MINeRFConfig:
    """Model, sampling and optimisation settings; presets are instances of this class."""

    interaction: InteractionConfig = field(default_factory=InteractionConfig)
    """Identity-expression interaction module (M, H or an ablation)."""
    field: FieldConfig = field(default_factory=FieldConfig)
    """Architecture of the coarse and the fine field."""
    use_latent: bool = True
    """Per-frame latent codes (Table 1 "without latent codes" sets False)."""
    latent_dim: int = 32
    """Dimension of a per-frame latent code."""
    identity_init_std: float = 1.0
    """Standard deviation of the random initial identity codes (on the scale of expressions)."""
    latent_init_std: float = 0.01
    """Standard deviation of the random initial latent codes (small: they hold small per-frame
    variations, so identity has to go through the identity code)."""
    coarse_samples: int = 64
    """Stratified samples per ray for the coarse field."""
    fine_samples: int = 128
    """Importance samples per ray for the fine field (0: coarse field only)."""
    shared_fine: bool = False
    """One field for both passes: the fine pass evaluates only its new importance samples and
    renders them merged with the coarse ones (no second network, no re-evaluation)."""
    occupancy_resolution: int = 0
    """Side of the occupancy grid that narrows each ray to where the field is dense (0: none)."""
    occupancy_every: int = 32
    """Training steps between occupancy refreshes (with a random training frame's conditioning)."""
    occupancy_warmup: int = 256
    """Steps before the first refresh (the whole head box is sampled until then)."""
    max_span: float = 0.0
    """Longest span (decimetres) a ray samples after entering occupied space (0: no limit)."""
    lambda_distortion: float = 0.0
    """Weight of the distortion loss on the final render's weights (0: off)."""
    rays_per_step: int = 2048
    """Rays per gradient step."""
    frames_per_step: int = 1
    """Frames the rays of one step are drawn from (paper: one randomly chosen frame)."""
    balance_identities: bool = False
    """Draw each step's frames identity by identity (each person gets the same share of the
    rays, however long their videos) instead of uniformly over all training frames."""
    inside_fraction: float = 0.95
    """Fraction of rays drawn inside the head box (paper: 95 %)."""
    head_margin: float = 0.25
    """The head box is the tracked face box grown by this fraction of its size on each side, so
    that it holds hair, ears and chin (the face landmarks alone cover only the inner face)."""
    mouth_fraction: float = 0.0
    """Fraction of each frame's rays drawn inside the lip landmarks' box (grown by 30 %), on top
    of the head-box sampling: the mouth is ~2 % of the head box, so its motion gets few rays."""
    iterations: int = 400_000
    """Default number of training steps."""
    lr: float = 5e-4
    """Initial Adam learning rate."""
    lr_final: float = 5e-5
    """Learning rate reached (exponential decay) at ``iterations``."""
    lambda_latent: float = 0.01
    """Weight of |l|_2 (Eq. 5)."""
    lambda_identity: float = 1e-4
    """Weight of |i|_2 (Eq. 5)."""
    smoothing_start: int = 200_000
    """Iteration after which self-attention smoothing is switched on (-1: never)."""
    smoothing_window: int = 8
    """Frames in the smoothing window."""
    mixed_precision: bool = True
    """Use bfloat16 autocast on CUDA (ignored on CPU)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MINeRFConfig":
        data = dict(data)
        data["interaction"] = InteractionConfig(**data.get("interaction", {}))
        data["field"] = FieldConfig.from_dict(data.get("field", {}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**data)


BF16_DEVICE_TYPES: tuple[str, ...] = ("cuda",)
"""Device types on which ``MINeRFConfig.mixed_precision`` turns bfloat16 autocast on (the
tests add "cpu" to run the same numerics without a GPU)."""


class MINeRF(nn.Module):
    """The multi-identity dynamic NeRF. Sizes: ``expression_dim`` d, ``num_identities``,
    ``num_latents`` (one latent code per frame of every training clip)."""

    def __init__(self, cfg: MINeRFConfig, expression_dim: int, num_identities: int, num_latents: int):
        super().__init__()
        self.cfg = cfg
        self.expression_dim = expression_dim
        self.identity_codes = nn.Parameter(torch.randn(num_identities, expression_dim) * cfg.identity_init_std)
        self.latent_codes = nn.Parameter(torch.randn(num_latents, cfg.latent_dim) * cfg.latent_init_std)
        self.interaction = InteractionModule(cfg.interaction, expression_dim, cfg.latent_dim)
        self.latent_in_cond = cfg.use_latent and not self.interaction.uses_latent
        self.cond_dim = self.interaction.out_dim + (cfg.latent_dim if self.latent_in_cond else 0)
        self.smoother = TemporalAttention(self.cond_dim, cfg.smoothing_window) if cfg.smoothing_start >= 0 else None
        self.coarse = ConditionedField(cfg.field, self.cond_dim)
        self.fine = ConditionedField(cfg.field, self.cond_dim) if cfg.fine_samples > 0 and not cfg.shared_fine else None
        self.occupancy = OccupancyGrid(cfg.occupancy_resolution, max_span=cfg.max_span) if cfg.occupancy_resolution else None

    # ------------------------------------------------------------------ conditioning
    def condition(
        self,
        identity: Float[Tensor, "frames expr"],
        expression: Float[Tensor, "frames window expr"],
        latent: Float[Tensor, "frames window latent"] | None,
        smooth: bool,
    ) -> Float[Tensor, "frames cond"]:
        """Per-frame conditioning from identity codes and expression and latent-code windows
        centred on each frame (a window of 1 is fine when ``smooth`` is False)."""
        F, W, d = expression.shape
        ident = identity[:, None, :].expand(F, W, d).reshape(F * W, d)
        lat = None
        if latent is not None and self.cfg.use_latent:
            lat = latent.reshape(F * W, -1)
        elif self.cfg.use_latent:
            raise ValueError("this model uses latent codes; pass them")
        m = self.interaction(expression.reshape(F * W, d), ident, lat)
        parts = [m]
        if self.latent_in_cond:
            parts.append(lat)
        cond = torch.cat(parts, dim=-1).reshape(F, W, -1)
        if smooth and self.smoother is not None and W == self.cfg.smoothing_window:
            return self.smoother(cond)
        return cond[:, W // 2]

    def frame_condition(
        self,
        identity_index: Int[Tensor, " frames"],
        expression: Float[Tensor, "frames window expr"],
        latent_index: Int[Tensor, "frames window"],
        smooth: bool,
    ) -> Float[Tensor, "frames cond"]:
        """Conditioning for stored codes: identity and latent codes by index."""
        latent = self.latent_codes[latent_index] if self.cfg.use_latent else None
        return self.condition(self.identity_codes[identity_index], expression, latent, smooth)

    def code_regularizer(self, identity_index: Int[Tensor, " frames"], latent_index: Int[Tensor, " frames"]) -> Float[Tensor, ""]:
        """lambda_l |l|_2 + lambda_i |i|_2 (Eq. 5), averaged over the frames of the batch."""
        reg = self.cfg.lambda_identity * self.identity_codes[identity_index].norm(dim=-1).mean()
        if self.cfg.use_latent:
            reg = reg + self.cfg.lambda_latent * self.latent_codes[latent_index].norm(dim=-1).mean()
        return reg

    # ------------------------------------------------------------------ rendering
    def autocast(self, device: torch.device) -> torch.autocast:
        """The autocast context of a forward pass on ``device``: bfloat16 where
        ``cfg.mixed_precision`` is on and the device is one of :data:`BF16_DEVICE_TYPES`."""
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.cfg.mixed_precision and device.type in BF16_DEVICE_TYPES)

    def render_rays(self, rays: Rays, perturb: bool = False, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Render ``rays`` -> ``rgb`` (rays, 3) (fine if any), ``rgb_coarse`` (rays, 3), ``acc``
        (rays,), ``depth`` (rays,), ``weights`` and ``depths`` (rays, samples) of the final
        render. ``perturb`` jitters the samples (training) with ``generator``. With an
        occupancy grid the samples lie only in each ray's occupied span."""
        cfg = self.cfg
        near, far = rays.near, rays.far
        if self.occupancy is not None:
            near, far = self.occupancy.interval(rays.origins, rays.dirs, near, far)
        z = stratified_depths(near, far, cfg.coarse_samples, perturb, generator)
        rgb, sigma = self.coarse(self._points(rays, z), rays.dirs, rays.cond)
        coarse = volume_render(rgb.float(), sigma.float(), z, far, rays.background)
        out = {"rgb_coarse": coarse["rgb"], "rgb": coarse["rgb"], "acc": coarse["acc"], "depth": coarse["depth"], "weights": coarse["weights"], "depths": z, "far": far}
        if cfg.fine_samples <= 0:
            return out
        z_fine = importance_depths(z, coarse["weights"], cfg.fine_samples, perturb, generator).detach()
        if self.fine is not None:  # the paper's second network re-evaluates every depth
            z_all, _ = torch.sort(torch.cat([z, z_fine], dim=-1), dim=-1)
            rgb_all, sigma_all = self.fine(self._points(rays, z_all), rays.dirs, rays.cond)
        else:  # shared field: evaluate the new depths only and merge them in depth order
            rgb_f, sigma_f = self.coarse(self._points(rays, z_fine), rays.dirs, rays.cond)
            z_all, order = torch.sort(torch.cat([z, z_fine], dim=-1), dim=-1)
            rgb_all = torch.cat([rgb, rgb_f], dim=1).gather(1, order[..., None].expand(-1, -1, 3))
            sigma_all = torch.cat([sigma, sigma_f], dim=1).gather(1, order)
        fine = volume_render(rgb_all.float(), sigma_all.float(), z_all, far, rays.background)
        out.update(rgb=fine["rgb"], acc=fine["acc"], depth=fine["depth"], weights=fine["weights"], depths=z_all)
        return out

    @staticmethod
    def _points(rays: Rays, depths: Float[Tensor, "rays samples"]) -> Float[Tensor, "rays samples 3"]:
        return rays.origins[:, None, :] + rays.dirs[:, None, :] * depths[..., None]

    def render_regularizer(self, out: dict[str, Tensor]) -> Tensor | float:
        """Loss terms on a render's samples: the distortion loss (0 when its weight is 0)."""
        if self.cfg.lambda_distortion <= 0:
            return 0.0
        return self.cfg.lambda_distortion * distortion_loss(out["weights"], out["depths"], out["far"], float(HEAD_DEPTH))

    def density_field(self) -> ConditionedField:
        """The field whose density decides where rays sample (the fine one when there is one)."""
        return self.fine if self.fine is not None else self.coarse

    def field_parameters(self) -> list[nn.Parameter]:
        """Parameters of the fields and the smoother (what personalization fine-tunes)."""
        mods = [self.coarse] + ([self.fine] if self.fine is not None else []) + ([self.smoother] if self.smoother is not None else [])
        return [p for m in mods for p in m.parameters()]
