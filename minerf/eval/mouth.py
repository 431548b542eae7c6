"""Does the rendered mouth follow the expression? Measurements on a trained run.

* :func:`mouth_follow` -- render frames, run the face tracker on the renders and correlate the
  rendered inner-lip opening with the opening tracked on the real frames (per identity and
  pooled). A mouth that stays a blurred average gives r near 0 whatever its PSNR.
* :func:`swap_test` -- render one frame with the most open and the most closed tracked
  expression of its clip and compare how much the lip box changes with how much it changes
  between the real open and closed frames.
* :func:`weight_concentration` -- how many samples carry 99 % of a ray's weight (fog vs surface).
* :func:`dark_share` in the box of :func:`lips_union_box` -- how much of the mouth is open (dark) in
  each frame of a video, without the face tracker (which finds blurred lips poorly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from jaxtyping import Float

from minerf.data import MultiClipData
from minerf.model.mi_nerf import MINeRF
from minerf.model.rays import pixel_box
from minerf.prepare.expression_space import LIP_POINTS, mouth_opening
from minerf.render.conditioning import ConditionOverride, clip_frame_condition, render_clip_frame


@dataclass
class OpeningPairs:
    """Openings of the frames of one identity: tracked (the clip's landmarks, found on the
    source video), rendered (the tracker on the render) and real (the same tracker on the real
    frame at the clip's resolution: what the render's measurement could reach at best)."""

    identity: str
    tracked: list[float]
    rendered: list[float]
    real: list[float] = field(default_factory=list)

    def correlation(self) -> float | None:
        return _pearson(self.tracked, self.rendered)


def _pearson(a: Sequence[float], b: Sequence[float]) -> float | None:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or x[ok].std() < 1e-9 or y[ok].std() < 1e-9:
        return None
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def evenly(frames: Sequence[int], count: int | None) -> list[int]:
    """At most ``count`` of ``frames``, evenly spread (all when ``count`` is None)."""
    frames = [int(t) for t in frames]
    if count is None or len(frames) <= count:
        return frames
    return [frames[int(k)] for k in np.linspace(0, len(frames) - 1, count).round()]


def _tracked_opening(tracker: Any, rgb: np.ndarray) -> float:
    """Inner-lip opening the tracker finds in an RGB uint8 image (NaN: no face)."""
    faces = tracker.detect(rgb)
    return float(mouth_opening(faces[0])) if faces else float("nan")


@torch.no_grad()
def mouth_follow(model: MINeRF, data: MultiClipData, smooth: bool, tracker: Any, frames_per_clip: int | None = 16, heldout: bool = True) -> dict[str, Any]:
    """Rendered vs tracked inner-lip opening on each clip's held-out (or training) frames.

    ``tracker``: an object with ``detect(rgb) -> list of (468, >=2) landmark arrays`` (a
    :class:`~minerf.prepare.face_tracker.FaceMeshTracker`). Returns per identity and pooled
    Pearson r, the frames used and how many renders the tracker found no face in; and, as the
    ceiling of that measurement, the same tracker on the real frames at the clip's resolution
    against the tracked opening (``real_frame_*``) and the render against it (``vs_real_frame_*``)."""
    was_training = model.training
    model.eval()
    pairs = {name: OpeningPairs(name, [], []) for name in data.identity_names}
    for ci, (train, test) in enumerate(data.splits):
        clip = data.clips[ci]
        for t in evenly(test if heldout else train, frames_per_clip):
            rgb = render_clip_frame(model, data, ci, t, smooth)["rgb"].cpu().numpy()
            item = pairs[data.identity_names[data.identity_of_clip[ci]]]
            item.tracked.append(float(mouth_opening(clip.landmarks2d[t])))
            item.rendered.append(_tracked_opening(tracker, (rgb * 255).round().astype(np.uint8)))
            item.real.append(_tracked_opening(tracker, clip.frame(t)))
    model.train(was_training)
    column = {key: [v for p in pairs.values() for v in getattr(p, key)] for key in ("tracked", "rendered", "real")}
    return {
        "pooled_r": _pearson(column["tracked"], column["rendered"]),
        "per_identity_r": {name: p.correlation() for name, p in pairs.items()},
        "rendered_vs_tracked_std": float(np.nanstd(column["rendered"]) / max(float(np.std(column["tracked"])), 1e-9)),
        "real_frame_pooled_r": _pearson(column["tracked"], column["real"]),
        "real_frame_per_identity_r": {name: _pearson(p.tracked, p.real) for name, p in pairs.items()},
        "vs_real_frame_pooled_r": _pearson(column["real"], column["rendered"]),
        "vs_real_frame_per_identity_r": {name: _pearson(p.real, p.rendered) for name, p in pairs.items()},
        "frames": len(column["tracked"]),
        "renders_without_face": int(np.isnan(column["rendered"]).sum()),
        "frames_kind": "held-out" if heldout else "training",
    }


def lip_box(landmarks2d: Float[np.ndarray, "points 2"], size: int, grow: float = 0.3) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) around the lip landmarks grown by ``grow`` of its size."""
    lips = landmarks2d[LIP_POINTS]
    return pixel_box(np.concatenate([lips.min(axis=0), lips.max(axis=0)]), grow, size, size)


DARK_GREY = 70
"""Grey level (0-255) below which a pixel counts as the open mouth's interior."""


def dark_share(frames: Iterable[np.ndarray], box: tuple[int, int, int, int], dark: float = DARK_GREY) -> np.ndarray:
    """(T,) share of the pixels of ``box`` (x0, y0, x1, y1) darker than ``dark`` in each RGB
    uint8 frame: the open mouth's interior, where ``box`` holds the lips."""
    x0, y0, x1, y1 = box
    return np.array([float((_grey(np.asarray(frame)[y0:y1, x0:x1]) < dark).mean()) for frame in frames])


def lips_union_box(clip: Any) -> tuple[int, int, int, int]:
    """The union of a prepared clip's lip boxes (:func:`lip_box`) over its frames, in pixels
    of the source video's frames (where the crop sits: ``clip.crop_box``)."""
    boxes = np.array([lip_box(clip.landmarks2d[t], clip.resolution) for t in range(clip.num_frames)], np.float64)
    x0, y0, side = clip.crop_box
    union = np.concatenate([boxes[:, :2].min(0), boxes[:, 2:].max(0)]) * (side / clip.resolution) + np.array([x0, y0, x0, y0])
    return tuple(int(round(v)) for v in union)


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@torch.no_grad()
def swap_test(model: MINeRF, data: MultiClipData, ci: int, smooth: bool) -> dict[str, Any]:
    """Render clip ``ci``'s most closed training frame with its own and with the most open
    tracked expression; mean absolute grey-level change (0-255) in the lip box, against the
    change between the real open and closed frames (each in its own lip box)."""
    clip = data.clips[ci]
    train = np.asarray(data.splits[ci][0])
    opening = mouth_opening(clip.landmarks2d[train])
    closed, opened = int(train[np.argmin(opening)]), int(train[np.argmax(opening)])
    box = lip_box(clip.landmarks2d[closed], clip.resolution)
    x0, y0, x1, y1 = box
    own = render_clip_frame(model, data, ci, closed, smooth, box)["rgb"].cpu().numpy() * 255
    cond = clip_frame_condition(model, data, ci, np.array([closed]), smooth, ConditionOverride(expression_frames=np.array([opened])))[0]
    swapped = render_clip_frame(model, data, ci, closed, smooth, box, cond=cond)["rgb"].cpu().numpy() * 255
    rendered_change = float(np.abs(_grey(own) - _grey(swapped)).mean())
    ox0, oy0, ox1, oy1 = lip_box(clip.landmarks2d[opened], clip.resolution)
    real_open = clip.frame(opened)[oy0:oy1, ox0:ox1]
    real_closed = clip.frame(closed)[y0:y1, x0:x1]
    h, w = min(real_open.shape[0], real_closed.shape[0]), min(real_open.shape[1], real_closed.shape[1])
    real_change = float(np.abs(_grey(real_open[:h, :w]) - _grey(real_closed[:h, :w])).mean())
    return {"clip": clip.name, "open_frame": opened, "closed_frame": closed, "rendered_change": rendered_change, "real_change": real_change, "ratio": rendered_change / max(real_change, 1e-9)}


def weight_concentration(weights: Float[torch.Tensor, "rays samples"], share: float = 0.99, min_opacity: float = 0.5) -> float:
    """Median number of samples that carry ``share`` of the weight of rays with opacity above
    ``min_opacity`` (the head's rays). 1-2 for a surface; most of the samples for fog."""
    acc = weights.sum(dim=-1)
    head = weights[acc > min_opacity]
    if not len(head):
        return float("nan")
    ordered = head.sort(dim=-1, descending=True).values.cumsum(dim=-1)
    needed = (ordered < share * head.sum(dim=-1, keepdim=True)).sum(dim=-1) + 1
    return float(needed.float().median())
