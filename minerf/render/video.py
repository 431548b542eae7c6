"""Rendering videos with a trained run: expression transfer / re-enactment, pasted into the
full-resolution source frames.

Python API (also what the dubbing pipeline builds on):

* :func:`render_frames` -- the general renderer: identity code, expression sequence (T, d),
  poses (T, 4, 4), intrinsics, latent codes (T, 32) and backgrounds -> RGB crops + opacity.
* :class:`RunRenderer` -- a loaded run plus its clips; ``clip_sequence`` renders an identity
  with any expression sequence over its own clip's poses and backgrounds.
* :func:`paste_into_frame` -- blends a rendered crop back into an original frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor

from minerf.data import MultiClipData, window_indices
from minerf.model.mi_nerf import MINeRF
from minerf.render.composite import (
    blend_mask,
    paste_into_frame,
    ping_pong,
    render_region,
)
from minerf.render.conditioning import latent_window
from minerf.render.views import render_view
from minerf.run import LoadedRun, load_run
from minerf_base.clip import load_clip
from minerf_base.errors import InputError

log = logging.getLogger(__name__)


@torch.no_grad()
def render_frames(
    model: MINeRF,
    identity_code: Tensor,
    expressions: np.ndarray,
    poses: np.ndarray,
    intrinsics: np.ndarray,
    latents: Tensor | None,
    backgrounds: Iterable[np.ndarray],
    smooth: bool,
    regions: Iterable[np.ndarray] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (RGB uint8 (S, S, 3), opacity float (S, S)) for each of T frames.

    ``identity_code`` (d,), ``expressions`` (T, d), ``poses`` (T, 4, 4) head -> camera,
    ``intrinsics`` (3, 3), ``latents`` (T, 32) (None for models without latent codes),
    ``backgrounds`` T RGB uint8 images (S, S, 3). With ``smooth`` the model's temporal
    attention runs over a window of neighbouring frames. ``regions``: T bool masks (S, S) of
    the pixels to render (the rest is background), e.g. from :func:`render_region`.
    """
    device = model.identity_codes.device
    window = model.cfg.smoothing_window if smooth else 1
    T = len(expressions)
    expr_all = torch.from_numpy(np.asarray(expressions, np.float32)).to(device)
    regions_it = iter(regions) if regions is not None else None
    for k, bg in zip(range(T), backgrounds):
        region = None if regions_it is None else torch.from_numpy(next(regions_it))
        win = torch.from_numpy(window_indices(np.array([k]), T, window)).to(device)
        lat = latents[win] if latents is not None else None
        cond = model.condition(identity_code.to(device)[None], expr_all[win], lat, smooth)[0]
        out = render_view(model, torch.from_numpy(np.asarray(poses[k])), torch.from_numpy(np.asarray(intrinsics)), cond, torch.from_numpy(bg).float().div(255.0).to(device), region=region)
        yield (out["rgb"].cpu().numpy() * 255).round().astype(np.uint8), out["acc"].cpu().numpy()


@dataclass
class RunRenderer:
    """A trained run with its clips, ready to render any identity with any expressions."""

    run: LoadedRun
    data: MultiClipData

    @classmethod
    def open(cls, run_dir: str | Path, device: str | torch.device | None = None) -> "RunRenderer":
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        run = load_run(run_dir, device)
        run.model.eval()
        clips = []
        for rec in run.meta["clips"]:
            if not Path(rec.get("path", "")).is_dir():
                raise InputError(Path(rec.get("path", "")), f"the training clip of '{rec['name']}' is not there", "prepare its source video to this path (minerf prepare VIDEO -o PATH); rendering uses its poses and backgrounds")
            clips.append(load_clip(rec["path"], expression_space=run.expression_space["id"]))
        names = run.identities
        data = MultiClipData(clips, names, [names.index(rec["identity"]) for rec in run.meta["clips"]], float(run.meta.get("holdout", 0.1)))
        return cls(run, data)

    def clip_sequence(self, identity: str, expressions: np.ndarray | None = None) -> tuple[int, np.ndarray, np.ndarray, Iterator[tuple[np.ndarray, np.ndarray]]]:
        """Render ``identity`` over its (first) clip's poses and backgrounds.

        ``expressions`` (T, d): the sequence to show (default: the clip's own). Returns
        (clip index, clip frame indices (T,), expressions (T, d), iterator of (crop, opacity)).
        """
        model = self.run.model
        ident = self.run.identity_index(identity)
        ci = self.data.clips_of_identity(ident)[0]
        clip = self.data.clips[ci]
        expr = clip.expression if expressions is None else np.asarray(expressions, np.float32)
        d = self.run.expression_space["dim"]
        if expr.ndim != 2 or expr.shape[1] != d:
            raise InputError(None, f"expressions have shape {expr.shape}, the model needs (T, {d})", "pass expressions of this model's expression space")
        frames = ping_pong(len(expr), clip.num_frames)
        latents = latent_window(model, self.data, ci, frames, 1)[:, 0] if model.cfg.use_latent else None
        frames_iter = render_frames(
            model, model.identity_codes[ident], expr, clip.pose[frames], clip.intrinsics, latents, (clip.background(int(j)) for j in frames), self.run.smoothing_active,
            (render_region(clip.mask(int(j))) for j in frames),
        )
        return ci, frames, expr, frames_iter


def render_video(
    run_dir: str | Path,
    identity: str,
    output: str | Path,
    expressions_from: str | Path | None = None,
    expressions: str | Path | None = None,
    crop_only: bool = False,
    max_frames: int | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """``minerf render``: render ``identity`` with its own, another clip's or a file's expressions,
    composite over its clip's backgrounds, paste into the full-resolution source frames."""
    from tqdm import tqdm

    from minerf_base.video_out import write_video

    renderer = RunRenderer.open(run_dir, device)
    space = renderer.run.expression_space
    audio = None
    expr = None
    if expressions_from is not None and expressions is not None:
        raise InputError(None, "both --expressions-from and --expressions given", "pass one of them")
    if expressions_from is not None:
        src = load_clip(expressions_from, expression_space=space["id"])
        expr = src.expression
        audio = src.audio() if src.has_audio else None
    elif expressions is not None:
        path = Path(expressions)
        try:
            expr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read expressions ({exc})", "pass a .npy file holding a float array (T, d)") from None
    if expr is not None and max_frames:
        expr = expr[:max_frames]
        audio = None if audio is None else audio[: max_frames * 640]
    ci, frames, expr, crops = renderer.clip_sequence(identity, expr)
    if max_frames and expressions_from is None and expressions is None:
        frames = frames[:max_frames]
    clip = renderer.data.clips[ci]
    if expressions_from is None and expressions is None and clip.has_audio:
        audio = clip.audio()[: len(frames) * 640]
    source_path = (clip.meta.get("source") or {}).get("path")
    if not crop_only and (not source_path or not Path(source_path).is_file()):
        raise InputError(clip.path, f"the source video of this clip ({source_path}) is not available, so the render cannot be pasted into full frames", "restore the video at that path, or pass --crop-only")
    source_frames: list[np.ndarray] | None = None
    if not crop_only:
        from minerf_base.video_in import iter_frames

        source_frames = list(_take(iter_frames(source_path), clip.num_frames))

    def frames_out() -> Iterator[np.ndarray]:
        for k, (crop, acc) in enumerate(tqdm(crops, total=len(frames), desc="render", unit="frames", disable=not progress)):
            if k >= len(frames):
                break
            j = int(frames[k])
            if source_frames is None:
                yield crop
            else:
                alpha = blend_mask(clip.mask(j), acc)
                yield paste_into_frame(source_frames[min(j, len(source_frames) - 1)], crop, alpha, clip.crop_box)

    write_video(output, frames_out(), fps=25, audio=audio)
    return {"output": str(output), "frames": int(len(frames)), "identity": identity, "clip": clip.name, "full_frame": not crop_only}


def _take(it: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for k, item in enumerate(it):
        if k >= n:
            return
        yield item
