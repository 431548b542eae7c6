"""Conditioning of clip frames: identity code, expression window and latent codes -> the
per-frame vector M(e, i) (+ latent) the field takes; and rendering a training clip's frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from minerf.data import MultiClipData, window_indices
from minerf.model.mi_nerf import MINeRF
from minerf.render.views import View, render_view


def frame_latent_codes(
    model: MINeRF, offset: int, trained_frames: int, frames: Int[np.ndarray, " frames"], num_frames: int, window: int
) -> Float[Tensor, "frames window latent"]:
    """Latent-code windows for ``frames`` of a clip whose codes start at ``offset`` in
    ``model.latent_codes``: a frame's own code when it was trained (the first
    ``trained_frames`` of the clip's ``num_frames``), the mean code of the clip's trained frames
    for held-out frames (their codes never trained). The one rule for evaluation,
    ``minerf render`` and the dub."""
    win = window_indices(np.asarray(frames), num_frames, window)
    codes = model.latent_codes[torch.from_numpy(win + offset).to(model.latent_codes.device)]
    mean = model.latent_codes[offset : offset + trained_frames].mean(dim=0)
    held = torch.from_numpy(win >= trained_frames).to(codes.device)
    return torch.where(held[..., None], mean, codes)


def latent_window(model: MINeRF, data: MultiClipData, ci: int, frames: Int[np.ndarray, " frames"], window: int) -> Float[Tensor, "frames window latent"]:
    """Latent-code windows for frames of clip ``ci`` of ``data`` (:func:`frame_latent_codes`)."""
    train, _ = data.splits[ci]
    return frame_latent_codes(model, int(data.latent_offset[ci]), len(train), frames, data.clips[ci].num_frames, window)


@dataclass
class ConditionOverride:
    """What replaces a clip's own conditioning (expression transfer, identity swap)."""

    identity: int | None = None
    """Identity index to show instead of the clip's."""
    expression: Float[np.ndarray, "time expr"] | None = None
    """Expression sequence to use instead of the clip's."""
    expression_frames: Int[np.ndarray, " frames"] | None = None
    """Which entries of the expressions drive the frames (default: the frames' own indices)."""


@torch.no_grad()
def clip_frame_condition(
    model: MINeRF, data: MultiClipData, ci: int, frames: Int[np.ndarray, " frames"], smooth: bool, override: ConditionOverride | None = None
) -> Float[Tensor, "frames cond"]:
    """Conditioning for frames of clip ``ci``: its identity, expressions and latent codes,
    each replaced where ``override`` says so."""
    override = override or ConditionOverride()
    window = model.cfg.smoothing_window if smooth else 1
    device = model.identity_codes.device
    expr_src = data.clips[ci].expression if override.expression is None else np.asarray(override.expression, dtype=np.float32)
    expr_idx = np.asarray(frames) if override.expression_frames is None else np.asarray(override.expression_frames)
    expr = torch.from_numpy(expr_src[window_indices(expr_idx, len(expr_src), window)]).float().to(device)
    ident = data.identity_of_clip[ci] if override.identity is None else override.identity
    codes = model.identity_codes[torch.full((len(frames),), ident, dtype=torch.long, device=device)]
    latent = latent_window(model, data, ci, frames, window) if model.cfg.use_latent else None
    return model.condition(codes, expr, latent, smooth)


@torch.no_grad()
def render_clip_frame(
    model: MINeRF, data: MultiClipData, ci: int, t: int, smooth: bool, box: tuple[int, int, int, int] | None = None, cond: Float[Tensor, " cond"] | None = None
) -> dict[str, Tensor]:
    """Render frame ``t`` of clip ``ci`` (its pose, background; ``cond`` default: its own)."""
    clip = data.clips[ci]
    if cond is None:
        cond = clip_frame_condition(model, data, ci, np.array([t]), smooth)[0]
    return render_view(model, View.from_arrays(clip.pose[t], clip.intrinsics, cond, clip.background(t)), box)
