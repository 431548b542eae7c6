"""Named configurations: presets (``paper``, ``fast``, ``fast-hash``, ``tiny``) and the paper's ablations.

A preset is one :class:`MINeRFConfig`; an ablation is an override of its interaction module
(or of ``use_latent``), applied with :func:`with_ablation` to any preset.
"""

from __future__ import annotations

import dataclasses

from minerf.model.encodings import HashGridConfig, TriPlaneConfig
from minerf.model.field import FieldConfig
from minerf.model.interaction import InteractionConfig
from minerf.model.mi_nerf import MINeRFConfig
from minerf_base.errors import InputError


def _paper() -> MINeRFConfig:
    """Table 5 exactly: 8x256 ReLU MLP, 4x128 colour branch, PE 10 / 4, 64 + 128 samples,
    2048 rays from one frame, Adam 5e-4 -> 5e-5, smoothing after 200k of 400k iterations."""
    return MINeRFConfig()


def _fast() -> MINeRFConfig:
    """The default: a multi-scale tri-plane (64^2 + 128^2) with an expression-driven dynamic
    tri-plane (8 basis planes mixed by M(e, i): the expression acts in space), one small field
    sampled 16 + 8 times per ray inside an occupancy grid's occupied span, a distortion loss
    that turns density into a surface, and a third of the rays on the lips
    (docs/minerf-model.md)."""
    return MINeRFConfig(
        field=FieldConfig(
            encoding="triplane",
            depth=2,
            width=64,
            color_depth=1,
            color_width=64,
            density_activation="softplus",
            triplane=TriPlaneConfig(resolutions=(64, 128), channels=16),
            dynamic_basis=8,
            dynamic_channels=8,
            dynamic_resolution=64,
            region_attention=True,
        ),
        mouth_fraction=0.33,
        coarse_samples=16,
        fine_samples=8,
        shared_fine=True,
        occupancy_resolution=64,
        occupancy_every=32,
        occupancy_warmup=256,
        max_span=1.0,
        lambda_distortion=0.01,
        rays_per_step=1024,
        frames_per_step=4,
        balance_identities=True,
        iterations=10_000,
        lr=1e-2,
        lr_final=5e-4,
        smoothing_start=8_000,
    )


def _fast_hash() -> MINeRFConfig:
    """The earlier fast preset, kept so benchmarks compare old and new: hash-grid encoding +
    small MLPs, 32 + 32 samples per ray with a second field, rays from several frames. A
    quarter of the rays go to the lips and the expression is gated per point (region
    attention)."""
    return MINeRFConfig(
        field=FieldConfig(
            encoding="hash",
            depth=2,
            width=64,
            color_depth=2,
            color_width=64,
            density_activation="softplus",
            hash_grid=HashGridConfig(levels=12, features=2, log2_table=15, base_resolution=8, max_resolution=256),
            region_attention=True,
        ),
        mouth_fraction=0.25,
        coarse_samples=32,
        fine_samples=32,
        rays_per_step=1024,
        frames_per_step=4,
        iterations=20_000,
        lr=5e-3,
        lr_final=2.5e-4,
        smoothing_start=15_000,
    )


def _tiny() -> MINeRFConfig:
    """Test-sized: a few hundred CPU steps fit a small synthetic scene."""
    return MINeRFConfig(
        field=FieldConfig(
            encoding="hash",
            depth=1,
            width=32,
            color_depth=1,
            color_width=32,
            dir_freqs=2,
            density_activation="softplus",
            hash_grid=HashGridConfig(levels=6, features=2, log2_table=12, base_resolution=4, max_resolution=48),
        ),
        coarse_samples=16,
        fine_samples=16,
        rays_per_step=512,
        frames_per_step=4,
        iterations=400,
        lr=1e-2,
        lr_final=1e-3,
        smoothing_start=-1,
        smoothing_window=4,
    )


PRESETS = {"paper": _paper, "fast": _fast, "fast-hash": _fast_hash, "tiny": _tiny}

# Table 1 and Table 4 rows: name -> (interaction config, use latent codes)
ABLATIONS: dict[str, tuple[InteractionConfig, bool]] = {
    "M": (InteractionConfig("M", rank=8), True),
    "H": (InteractionConfig("H", rank=0, degree=2), True),
    "baseline": (InteractionConfig("baseline"), True),
    **{f"A{n}": (InteractionConfig(f"A{n}"), True) for n in range(1, 8)},
    "M-no-latent": (InteractionConfig("M", rank=8), False),
    "M-k32": (InteractionConfig("M", rank=32), True),
    "H-N3": (InteractionConfig("H", rank=0, degree=3), True),
    "H-N4": (InteractionConfig("H", rank=0, degree=4), True),
    "M-o256": (InteractionConfig("M", rank=8, out_dim=256), True),
    "concat": (InteractionConfig("concat"), True),
    "M-latent": (InteractionConfig("M-latent", rank=8), True),
}


def check_names(preset: str | None = None, ablation: str | None = None) -> None:
    """The one check of preset and ablation names: :class:`InputError` (with the choices)
    unless ``preset`` is a key of :data:`PRESETS` and ``ablation`` one of :data:`ABLATIONS`
    (``None``: not checked)."""
    if preset is not None and preset not in PRESETS:
        raise InputError(None, f"unknown preset '{preset}'", f"choose one of {', '.join(sorted(PRESETS))}")
    if ablation is not None and ablation not in ABLATIONS:
        raise InputError(None, f"unknown ablation '{ablation}'", f"choose one of {', '.join(sorted(ABLATIONS))}")


def get_preset(name: str, ablation: str = "M") -> MINeRFConfig:
    """A fresh config of preset ``name`` with interaction ``ablation`` (a key of :data:`ABLATIONS`)."""
    check_names(name, ablation)
    return with_ablation(PRESETS[name](), ablation)


def with_ablation(cfg: MINeRFConfig, ablation: str) -> MINeRFConfig:
    """``cfg`` with the interaction module (and latent-code use) of ``ablation``."""
    check_names(ablation=ablation)
    inter, use_latent = ABLATIONS[ablation]
    return dataclasses.replace(cfg, interaction=dataclasses.replace(inter), use_latent=use_latent)
