"""Rendering videos with a trained run: expression transfer / re-enactment, pasted into the
full-resolution source frames.

Python API (also what the dubbing pipeline builds on):

* :func:`render_frames` -- the general renderer: an identity code and a :class:`FrameSequence`
  (expressions, poses, intrinsics, latent codes, backgrounds) -> RGB crops + opacity.
* :class:`RunRenderer` -- a loaded run plus its clips; ``clip_sequence`` renders an identity
  with any expression sequence over its own clip's poses and backgrounds.
* :func:`render_video` -- ``minerf render``: a :class:`RenderRequest` -> a video file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from jaxtyping import Bool, Float, UInt8
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
from minerf.render.views import View, render_view
from minerf.run import LoadedRun, load_run
from minerf_base.clip import PreparedClip, load_clip
from minerf_base.errors import InputError
from minerf_base.timebase import FPS, SAMPLES_PER_FRAME

log = logging.getLogger(__name__)


@dataclass
class FrameSequence:
    """The per-frame inputs of :func:`render_frames`: T frames seen by one camera."""

    expressions: Float[np.ndarray, "frames expr"]
    """Expression of each frame."""
    poses: Float[np.ndarray, "frames 4 4"]
    """Head space -> camera space of each frame."""
    intrinsics: Float[np.ndarray, "3 3"]
    """Camera matrix of the crop."""
    latents: Float[Tensor, "frames latent"] | None
    """Latent code of each frame (None for models without latent codes)."""
    backgrounds: Iterable[UInt8[np.ndarray, "size size 3"]]
    """T RGB uint8 backgrounds."""
    regions: Iterable[Bool[np.ndarray, "size size"]] | None = None
    """T masks of the pixels to render (the rest is background), e.g. from :func:`render_region`."""


@torch.no_grad()
def render_frames(
    model: MINeRF, identity_code: Float[Tensor, " expr"], frames: FrameSequence, smooth: bool
) -> Iterator[tuple[UInt8[np.ndarray, "size size 3"], Float[np.ndarray, "size size"]]]:
    """Yield (RGB crop, opacity) for each frame of ``frames``, showing ``identity_code``.

    With ``smooth`` the model's temporal attention runs over a window of neighbouring frames.
    """
    device = model.identity_codes.device
    window = model.cfg.smoothing_window if smooth else 1
    T = len(frames.expressions)
    expr_all = torch.from_numpy(np.asarray(frames.expressions, np.float32)).to(device)
    regions_it = iter(frames.regions) if frames.regions is not None else None
    for k, bg in zip(range(T), frames.backgrounds):
        region = None if regions_it is None else torch.from_numpy(next(regions_it))
        win = torch.from_numpy(window_indices(np.array([k]), T, window)).to(device)
        lat = frames.latents[win] if frames.latents is not None else None
        cond = model.condition(identity_code.to(device)[None], expr_all[win], lat, smooth)[0]
        out = render_view(model, View.from_arrays(frames.poses[k], frames.intrinsics, cond, bg), region=region)
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
        sequence = FrameSequence(
            expr, clip.pose[frames], clip.intrinsics, latents, (clip.background(int(j)) for j in frames), (render_region(clip.mask(int(j))) for j in frames)
        )
        frames_iter = render_frames(model, model.identity_codes[ident], sequence, self.run.smoothing_active)
        return ci, frames, expr, frames_iter


@dataclass
class RenderRequest:
    """What ``minerf render`` makes: which identity, driven by which expressions, into which file."""

    identity: str
    """Identity to show (a training clip name)."""
    output: str | Path
    """Video to write (.mp4)."""
    expressions_from: str | Path | None = None
    """Prepared clip whose expressions (and audio) drive the face (expression transfer)."""
    expressions: str | Path | None = None
    """.npy file of expressions (T, d) that drive the face."""
    crop_only: bool = False
    """Write the head crops instead of pasting them into the source frames."""
    max_frames: int | None = None
    """Render at most this many frames."""

    @property
    def own_expressions(self) -> bool:
        """True when the identity's own clip drives the face."""
        return self.expressions_from is None and self.expressions is None


def render_video(run_dir: str | Path, request: RenderRequest, device: str | None = None, progress: bool = True) -> dict:
    """``minerf render``: render the requested identity with its own, another clip's or a file's
    expressions, composite over its clip's backgrounds, paste into the full-resolution source
    frames."""
    from tqdm import tqdm

    from minerf_base.video_out import write_video

    renderer = RunRenderer.open(run_dir, device)
    expr, audio = _driving_expressions(request, renderer.run.expression_space["id"])
    ci, frames, expr, crops = renderer.clip_sequence(request.identity, expr)
    clip = renderer.data.clips[ci]
    if request.own_expressions:
        frames = frames[: request.max_frames]
        audio = clip.audio()[: len(frames) * SAMPLES_PER_FRAME] if clip.has_audio else None
    source_frames = None if request.crop_only else _source_frames(clip)

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

    write_video(request.output, frames_out(), fps=FPS, audio=audio)
    return {"output": str(request.output), "frames": int(len(frames)), "identity": request.identity, "clip": clip.name, "full_frame": not request.crop_only}


def _driving_expressions(request: RenderRequest, space_id: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The expressions (T, d) and the audio that drive the render, cut to ``max_frames``;
    (None, None) when the identity's own clip drives it."""
    if request.expressions_from is not None and request.expressions is not None:
        raise InputError(None, "both --expressions-from and --expressions given", "pass one of them")
    audio = None
    if request.expressions_from is not None:
        src = load_clip(request.expressions_from, expression_space=space_id)
        expr = src.expression
        audio = src.audio() if src.has_audio else None
    elif request.expressions is not None:
        path = Path(request.expressions)
        try:
            expr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read expressions ({exc})", "pass a .npy file holding a float array (T, d)") from None
    else:
        return None, None
    if request.max_frames:
        expr = expr[: request.max_frames]
        audio = None if audio is None else audio[: request.max_frames * SAMPLES_PER_FRAME]
    return expr, audio


def _source_frames(clip: PreparedClip) -> list[np.ndarray]:
    """The full-resolution frames of the clip's source video, to paste the render into."""
    from minerf_base.video_in import iter_frames

    source_path = (clip.meta.get("source") or {}).get("path")
    if not source_path or not Path(source_path).is_file():
        raise InputError(clip.path, f"the source video of this clip ({source_path}) is not available, so the render cannot be pasted into full frames", "restore the video at that path, or pass --crop-only")
    return list(_take(iter_frames(source_path), clip.num_frames))


def _take(it: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for k, item in enumerate(it):
        if k >= n:
            return
        yield item
