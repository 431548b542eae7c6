"""Image quality and identity of a dub's face against the real video's: face-crop PSNR and ACD.

Both compare frame ``k`` of the dub with frame ``k`` of the real video, read at the rate the
landmarks were taken (:func:`minerf_base.video_in.iter_frames` at 25 fps, the same frames
:func:`minerf_dub.lmd.video_landmarks` tracks), inside the same box: the bounding box of the
REAL frame's face-mesh points grown by 10 % of its width / height on each side, clipped to
the frame (:func:`landmark_box`). Frames where the real face is not found are left out and
counted.

* **face PSNR**: the mean over frames of the PSNR (dB, :func:`minerf.eval.metrics.psnr` on
  [0, 1] colour) of the dub's crop against the real crop; a frame identical in the crop
  counts as :data:`PSNR_CAP` (100 dB) instead of infinity, so one identical frame does not
  make the mean infinite.
* **ACD** (:mod:`minerf.eval.embedding`): the mean cosine distance of the dub's crop
  embeddings to the unit mean embedding of the real crops, on at most :data:`ACD_FRAMES`
  frames spread evenly over those with a face. When the face-recognition backend is not
  installed the result is ``None`` with a note saying why (:class:`IdentityJudge`).

Frames are streamed: only the sampled crops are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from minerf.eval.embedding import FaceEmbedder, embedding_acd
from minerf.eval.metrics import psnr
from minerf_base.errors import InputError

FACE_MARGIN = 0.1
"""The face box is the landmarks' bounding box grown by this fraction of its size on each side."""
PSNR_CAP = 100.0
"""PSNR (dB) given to a frame whose crop is identical to the real one."""
ACD_FRAMES = 25
"""At most this many frames per video are embedded for ACD (spread evenly)."""


def landmark_box(points: np.ndarray, height: int, width: int, margin: float = FACE_MARGIN) -> tuple[int, int, int, int] | None:
    """Integer crop (x0, y0, x1, y1) of an H x W frame around (468, 2) face-mesh pixel points:
    their bounding box grown by ``margin``, clipped to the frame; None when the points are
    not all finite (no face) or the box lies outside the frame."""
    from minerf.model.rays import pixel_box  # lazily: minerf.model loads torch

    points = np.asarray(points, np.float64)[:, :2]
    if not np.isfinite(points).all():
        return None
    box = pixel_box(np.concatenate([points.min(axis=0), points.max(axis=0)]), margin, height, width)
    return box if box[2] > box[0] and box[3] > box[1] else None


def crop_psnr(output: np.ndarray, real: np.ndarray) -> float:
    """PSNR (dB) of two uint8 RGB crops on [0, 1] colour, at most :data:`PSNR_CAP`."""
    return min(PSNR_CAP, psnr(np.asarray(output, np.float64) / 255.0, np.asarray(real, np.float64) / 255.0))


def spread_indices(indices: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of ``indices``, spread evenly from the first to the last."""
    indices = np.asarray(indices)
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


@dataclass
class FaceCrops:
    """A dub's face crops against the real video's, frame by frame."""

    psnr: list[float] = field(default_factory=list)
    """PSNR of each compared frame (real face found)."""
    missing: int = 0
    """Frames left out because the real face was not found."""
    output_crops: list[np.ndarray] = field(default_factory=list)
    """The dub's crops of the sampled frames (for ACD)."""
    real_crops: list[np.ndarray] = field(default_factory=list)
    """The real crops of the same frames."""

    @property
    def frames(self) -> int:
        return len(self.psnr)

    @property
    def mean_psnr(self) -> float | None:
        """Mean PSNR over the compared frames; None when there are none."""
        return float(np.mean(self.psnr)) if self.psnr else None


def compare_face_crops(output: Iterable[np.ndarray], real: Iterable[np.ndarray], real_points: np.ndarray, samples: int = ACD_FRAMES) -> FaceCrops:
    """Face crops of frame-aligned RGB frame streams (the dub's and the real video's) in the
    box of ``real_points`` (T, 468, 2; NaN rows = no face): each frame's PSNR, and the crops
    of at most ``samples`` frames spread over those with a face. The shortest of the two
    streams and the points sets the frames compared."""
    found = np.flatnonzero(np.isfinite(np.asarray(real_points)).all(axis=(1, 2)))
    sampled = set(spread_indices(found, samples).tolist())
    crops = FaceCrops()
    for k, (out_frame, real_frame) in enumerate(zip(output, real)):
        if k >= len(real_points):
            break
        if out_frame.shape != real_frame.shape:
            raise ValueError(f"frame {k}: the dub's frame is {out_frame.shape}, the real one {real_frame.shape}")
        box = landmark_box(real_points[k], *real_frame.shape[:2])
        if box is None:
            crops.missing += 1
            continue
        x0, y0, x1, y1 = box
        crops.psnr.append(crop_psnr(out_frame[y0:y1, x0:x1], real_frame[y0:y1, x0:x1]))
        if k in sampled:
            crops.output_crops.append(out_frame[y0:y1, x0:x1].copy())
            crops.real_crops.append(real_frame[y0:y1, x0:x1].copy())
    return crops


def compare_face_videos(output: str | Path, real: str | Path, real_points: np.ndarray, samples: int = ACD_FRAMES) -> FaceCrops:
    """:func:`compare_face_crops` of two videos, both read at 25 fps from their first frame
    as :func:`minerf_dub.lmd.video_landmarks` reads them (streamed)."""
    from minerf_base.video_in import iter_frames

    try:
        return compare_face_crops(iter_frames(output), iter_frames(real), real_points, samples)
    except ValueError as exc:
        raise InputError(output, f"cannot be compared with {real} ({exc})", "compare a dub with the video it dubs (the dub keeps the source's frame size)") from None


class IdentityJudge:
    """ACD of a dub's face crops against one real video's (:mod:`minerf.eval.embedding`).

    The real crops are embedded on the first call and reused: one judge per real video, its
    crops the same frames every time (:func:`compare_face_crops` samples them from the real
    landmarks alone)."""

    def __init__(self, embedder: FaceEmbedder | None, note: str | None = None) -> None:
        self.embedder, self.note = embedder, note
        self._reference: np.ndarray | None = None

    @classmethod
    def open(cls) -> IdentityJudge:
        """A judge with the installed face-recognition backend, or one that answers None and
        says why (``note``) when it is not installed."""
        try:
            return cls(FaceEmbedder())
        except InputError as exc:
            return cls(None, f"ACD not measured: {exc}")

    def reference(self, real_crops: list[np.ndarray]) -> np.ndarray:
        """(M, 128) embeddings of the real crops (computed once)."""
        if self._reference is None:
            self._reference = self.embedder.embed_many(real_crops)
        return self._reference

    def acd(self, output_crops: list[np.ndarray], real_crops: list[np.ndarray]) -> float | None:
        """ACD of ``output_crops`` against the real crops; None without a backend or crops."""
        if self.embedder is None or not output_crops or not real_crops:
            return None
        return embedding_acd(self.embedder.embed_many(output_crops), self.reference(real_crops))

    def real_acd(self, real_crops: list[np.ndarray]) -> float | None:
        """ACD of the real crops against their own mean: the spread of the real frames, the
        floor a dub is compared with; None without a backend or crops."""
        if self.embedder is None or not real_crops:
            return None
        reference = self.reference(real_crops)
        return embedding_acd(reference, reference)
