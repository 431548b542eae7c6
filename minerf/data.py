"""Training data from many prepared clips: identities, frame splits, ray batches.

Each clip is one identity unless clips are declared the same person; every frame of every clip
owns one latent code (global index = clip offset + frame index). The last 10 % of each clip's
frames are held out (paper protocol). Images are decoded on demand (one frame per draw) and
kept in a small cache, so memory does not grow with video length.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from minerf.model.rays import box_bounds, grow_box, pixel_rays, sample_pixels
from minerf.prepare.expression_space import LIP_POINTS, lower_face_box
from minerf_base.clip import PreparedClip, load_clip
from minerf_base.errors import InputError


@dataclass
class RayBatch:
    """Rays of a few frames plus what conditions them.

    Per ray (R): ``origins``, ``dirs`` (R, 3) head space, ``near``, ``far`` (R,), ``background``,
    ``target`` (R, 3) in [0, 1], ``slot`` (R,) index into the frames below.
    Per frame (F): ``identity`` (F,), ``expression`` (F, W, d), ``latent`` (F, W) latent indices.
    """

    origins: Tensor
    dirs: Tensor
    near: Tensor
    far: Tensor
    background: Tensor
    target: Tensor
    slot: Tensor
    identity: Tensor
    expression: Tensor
    latent: Tensor

    def to(self, device: torch.device | str) -> "RayBatch":
        return RayBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


def window_indices(frames: np.ndarray, num_frames: int, window: int) -> np.ndarray:
    """(F,) frame indices -> (F, W) indices of the window around each (clamped at clip ends)."""
    offsets = np.arange(window) - window // 2
    return np.clip(frames[:, None] + offsets[None, :], 0, num_frames - 1)


@dataclass(frozen=True)
class RayShares:
    """Where a training frame's rays go: ``mouth`` of them inside the lips' box, ``lower``
    inside the box of the lower face that a dub re-renders (:func:`lower_face_box`), and of
    the others ``inside`` in the face box grown by ``head_margin`` (the head box), the rest
    anywhere in the image."""

    inside: float = 0.95
    head_margin: float = 0.0
    mouth: float = 0.0
    lower: float = 0.0


class MultiClipData:
    """The clips of one run, their identities, splits and ray sampling. ``latent_base``: index of
    the first clip's first latent code in the model (non-zero when a clip is added later)."""

    def __init__(
        self,
        clips: Sequence[PreparedClip],
        identity_names: Sequence[str],
        identity_of_clip: Sequence[int],
        holdout: float = 0.1,
        cache_frames: int = 64,
        latent_base: int = 0,
    ):
        self.clips = list(clips)
        self.identity_names = list(identity_names)
        self.identity_of_clip = list(identity_of_clip)
        self.holdout = holdout
        self.latent_offset = latent_base + np.cumsum([0] + [c.num_frames for c in self.clips])[:-1]
        self.num_latents = int(sum(c.num_frames for c in self.clips))
        self.splits = [c.split(holdout) for c in self.clips]
        self.expression_dim = self.clips[0].expression_dim
        self.expression_space = self.clips[0].expression_space
        self._cache: OrderedDict[tuple[int, int], tuple[Tensor, Tensor]] = OrderedDict()
        self._cache_size = cache_frames
        self._train_pairs = np.array([(ci, t) for ci, (train, _) in enumerate(self.splits) for t in train], dtype=np.int64)
        owners = np.array([self.identity_of_clip[ci] for ci, _ in self._train_pairs], dtype=np.int64)
        self._identity_groups = [np.nonzero(owners == ident)[0] for ident in sorted(set(owners.tolist()))]
        """Per identity with training frames: its indices into the training frames."""
        self.balanced = False
        """Draw training frames identity by identity (each person the same share of the rays,
        however long their clips), not uniformly over all frames."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dirs(cls, clip_dirs: Sequence[Path], same_identity: Sequence[Sequence[str]] = (), holdout: float = 0.1) -> "MultiClipData":
        """Load clips; ``same_identity`` lists groups of clip names that are one person."""
        if not clip_dirs:
            raise InputError(None, "no clips given", "pass one or more prepared clip folders")
        clips = [load_clip(p) for p in clip_dirs]
        space, dim = clips[0].expression_space, clips[0].expression_dim
        for clip in clips[1:]:
            if clip.expression_space != space or clip.expression_dim != dim:
                raise InputError(clip.path, f"expression space '{clip.expression_space}' (d={clip.expression_dim}) differs from {clips[0].path}'s '{space}' (d={dim})", "prepare all clips with the same tracker")
        names = [c.name for c in clips]
        if len(set(names)) != len(names):
            raise InputError(clips[0].path, f"two clips share a name ({names})", "give the clip folders distinct names")
        for clip in clips:
            if clip.num_frames < 2:
                raise InputError(clip.path, f"clip has {clip.num_frames} frame(s); training needs at least 2 (one is held out)", "prepare a longer video")
        group_of = {n: n for n in names}
        for group in same_identity:
            for n in group:
                if n not in group_of:
                    raise InputError(None, f"--same-identity names clip '{n}', which is not among the clips {names}", "use the clip folder names")
                group_of[n] = group[0]
        identity_names: list[str] = []
        for n in names:
            if group_of[n] not in identity_names:
                identity_names.append(group_of[n])
        return cls(clips, identity_names, [identity_names.index(group_of[n]) for n in names], holdout)

    # ------------------------------------------------------------------ frames
    def images(self, ci: int, t: int) -> tuple[Tensor, Tensor]:
        """(frame, background) of clip ``ci`` frame ``t`` as float (S, S, 3) in [0, 1]."""
        key = (ci, t)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        clip = self.clips[ci]
        pair = (torch.from_numpy(clip.frame(t)).float() / 255.0, torch.from_numpy(clip.background(t)).float() / 255.0)
        self._cache[key] = pair
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return pair

    def clips_of_identity(self, identity: int) -> list[int]:
        return [ci for ci, ident in enumerate(self.identity_of_clip) if ident == identity]

    def frame_inputs(self, ci: int, frames: np.ndarray, window: int, expression: np.ndarray | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Conditioning inputs of frames of clip ``ci``: identity (F,), expression (F, W, d),
        latent indices (F, W). ``expression`` overrides the clip's own (for transfer)."""
        clip = self.clips[ci]
        expr = clip.expression if expression is None else expression
        win = window_indices(np.asarray(frames), len(expr), window)
        ident = torch.full((len(frames),), self.identity_of_clip[ci], dtype=torch.long)
        lat_win = window_indices(np.asarray(frames), clip.num_frames, window)
        return ident, torch.from_numpy(expr[win]).float(), torch.from_numpy(lat_win + self.latent_offset[ci]).long()

    # ------------------------------------------------------------------ rays
    def frame_rays(self, ci: int, t: int, pixels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Head-space rays of clip ``ci`` frame ``t`` through ``pixels`` (R, 2) -> origins, dirs, near, far."""
        clip = self.clips[ci]
        origins, dirs = pixel_rays(torch.from_numpy(clip.pose[t]).float(), torch.from_numpy(clip.intrinsics).float(), pixels)
        near, far, _ = box_bounds(origins, dirs)
        return origins, dirs, near, far

    def _pick_frames(self, count: int, generator: torch.Generator) -> np.ndarray:
        """Indices into the training frames: uniform over all frames, or (``balanced``) an
        identity drawn uniformly first, then one of its training frames."""
        if not self.balanced:
            return torch.randint(0, len(self._train_pairs), (count,), generator=generator).numpy()
        groups = self._identity_groups
        who = torch.randint(0, len(groups), (count,), generator=generator).numpy()
        within = torch.rand(count, generator=generator).numpy()
        return np.array([groups[g][min(int(u * len(groups[g])), len(groups[g]) - 1)] for g, u in zip(who, within)])

    def random_training_frame(self, generator: torch.Generator) -> tuple[int, int]:
        """(clip index, frame index) of one random training frame."""
        pick = int(torch.randint(0, len(self._train_pairs), (1,), generator=generator))
        ci, t = self._train_pairs[pick]
        return int(ci), int(t)

    def sample_batch(self, num_rays: int, num_frames: int, window: int, shares: RayShares, generator: torch.Generator) -> RayBatch:
        """Random training rays: ``num_frames`` random training frames, ``num_rays`` rays in all,
        placed in each frame as ``shares`` says (:class:`RayShares`)."""
        picks = self._pick_frames(num_frames, generator)
        per = [num_rays // num_frames + (1 if k < num_rays % num_frames else 0) for k in range(num_frames)]
        parts: list[tuple[Tensor, ...]] = []
        idents, exprs, lats = [], [], []
        for slot, (pick, n) in enumerate(zip(picks, per)):
            ci, t = (int(v) for v in self._train_pairs[pick])
            clip = self.clips[ci]
            frame, bg = self.images(ci, t)
            n_mouth = int(round(n * shares.mouth))
            n_lower = min(n - n_mouth, int(round(n * shares.lower)))
            pix = sample_pixels(n - n_mouth - n_lower, clip.resolution, grow_box(clip.face_box[t], shares.head_margin), generator, shares.inside)
            if n_lower:
                pix = torch.cat([pix, sample_pixels(n_lower, clip.resolution, lower_face_box(clip.landmarks2d[t], clip.resolution), generator, 1.0)])
            if n_mouth:
                lips = clip.landmarks2d[t][LIP_POINTS]
                lip_box = np.concatenate([lips.min(axis=0), lips.max(axis=0)])
                pix = torch.cat([pix, sample_pixels(n_mouth, clip.resolution, grow_box(lip_box, 0.3), generator, 1.0)])
            o, d, near, far = self.frame_rays(ci, t, pix)
            parts.append((o, d, near, far, bg[pix[:, 1], pix[:, 0]], frame[pix[:, 1], pix[:, 0]], torch.full((n,), slot, dtype=torch.long)))
            ident, expr, lat = self.frame_inputs(ci, np.array([t]), window)
            idents.append(ident)
            exprs.append(expr)
            lats.append(lat)
        cols = [torch.cat(c) for c in zip(*parts)]
        return RayBatch(*cols, identity=torch.cat(idents), expression=torch.cat(exprs), latent=torch.cat(lats))
