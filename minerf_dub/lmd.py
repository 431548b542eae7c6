"""Lip-sync accuracy of a dub against real frames: mouth landmark distance (LMD).

``LMD = mean over frames t of mean over mouth points k of
|(p_k(t) - c(t)) - (q_k(t) - d(t))| / iod(t)``

where ``p`` are the face-mesh mouth points (the 40 lip points, outer + inner contour) of the
dubbed frame, ``q`` those of the real frame at the same time, ``c`` and ``d`` their centroids
and ``iod`` the distance between the outer eye corners (points 33 and 263) of the REAL frame.
Removing the centroids leaves the shape of the mouth (how far it is open, how wide), not where
the head is; dividing by the eye distance makes the number independent of the video size.
0.01 is 1 % of the eye distance (about 1 mm on an adult face).

Both videos are read at 25 fps and tracked with the same mediapipe face mesh as preparation.
Frames where either face is not found are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from minerf.prepare.expression_space import LIP_POINTS, eye_distance, mouth_opening
from minerf_base.rows import collect_rows

MOUTH_LANDMARKS = LIP_POINTS
"""Face-mesh indices of the lips: outer and inner contour (40 points)."""


@dataclass(frozen=True)
class LMDResult:
    lmd: float
    """Mean mouth landmark distance, in units of the real frame's eye distance."""
    frames: int
    """Frames compared (both faces found)."""
    missing: int
    """Frames left out because a face was not found in one of the videos."""
    per_frame: np.ndarray
    """(frames,) LMD of each compared frame."""

    def to_dict(self) -> dict[str, float | int]:
        return {"lmd": round(self.lmd, 5), "frames": self.frames, "missing": self.missing}


def centred_mouth(points: np.ndarray) -> np.ndarray:
    """(..., 468, >=2) face-mesh points -> (..., 40, 2) lip points minus their centroid."""
    mouth = np.asarray(points, np.float64)[..., MOUTH_LANDMARKS, :2]
    return mouth - mouth.mean(axis=-2, keepdims=True)


def frame_lmd(output: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Per-frame LMD: (..., 468, >=2) output and real points -> (...,)."""
    dist = np.linalg.norm(centred_mouth(output) - centred_mouth(real), axis=-1).mean(axis=-1)
    return dist / eye_distance(real)


def paired_openings(output: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mouth openings of two frame-aligned (T, 468, >=2) landmark sequences on the frames
    where both show a face (the shorter sequence sets T)."""
    count = min(len(output), len(real))
    a, b = mouth_opening(output[:count]), mouth_opening(real[:count])
    found = np.isfinite(a) & np.isfinite(b)
    return a[found], b[found]


def _varies(values: np.ndarray) -> bool:
    """Whether an opening varies more than rounding (the mean of equal floats can differ
    from them in the last bit, so a still mouth's standard deviation is not exactly 0)."""
    return len(values) >= 2 and float(values.std()) > 1e-9


def opening_correlation(output: np.ndarray, real: np.ndarray) -> float:
    """Pearson correlation over time of the mouth opening of two frame-aligned (T, 468, >=2)
    landmark sequences (frames without a face left out): does the mouth move when the real
    one does? NaN when either opening does not vary."""
    a, b = paired_openings(output, real)
    if not (_varies(a) and _varies(b)):
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def opening_spread(output: np.ndarray, real: np.ndarray) -> float:
    """How much the output's mouth opening varies against the real one's: the ratio of their
    standard deviations over the frames where both show a face (1: as much; NaN: the real
    opening does not vary)."""
    a, b = paired_openings(output, real)
    if not _varies(b):
        return float("nan")
    return float(a.std() / b.std())


def pooled_opening(videos: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """:func:`opening_correlation` and :func:`opening_spread` over several videos'
    ``(output, real)`` landmark sequences together: each video's two openings minus their own
    means (so that one face opening wider than another adds nothing), then the correlation and
    the ratio of standard deviations over all frames. With one video they equal that video's
    values; NaN when nothing varies."""
    pairs = [paired_openings(output, real) for output, real in videos]
    pairs = [(a - a.mean(), b - b.mean()) for a, b in pairs if len(a) >= 2]
    if not pairs:
        return float("nan"), float("nan")
    a, b = (np.concatenate(side) for side in zip(*pairs))
    spread = float(a.std() / b.std()) if _varies(b) else float("nan")
    corr = float(np.corrcoef(a, b)[0, 1]) if _varies(a) and _varies(b) else float("nan")
    return corr, spread


def landmark_distance(output: np.ndarray, real: np.ndarray) -> LMDResult:
    """LMD of two (T, 468, >=2) landmark sequences (NaN rows = face not found), frame-aligned;
    the shorter sequence sets T."""
    count = min(len(output), len(real))
    output, real = np.asarray(output[:count], np.float64), np.asarray(real[:count], np.float64)
    found = np.isfinite(output).all(axis=(1, 2)) & np.isfinite(real).all(axis=(1, 2))
    per_frame = frame_lmd(output[found], real[found])
    lmd = float(per_frame.mean()) if len(per_frame) else float("nan")
    return LMDResult(lmd=lmd, frames=int(found.sum()), missing=int(count - found.sum()), per_frame=per_frame)


def paired_lmd_difference(own: np.ndarray, control: np.ndarray, real: np.ndarray, block: int = 10, resamples: int = 2000, seed: int = 0) -> dict[str, float | int]:
    """Is ``own`` closer to ``real`` than ``control`` is? Three frame-aligned (T, 468, >=2)
    landmark sequences (NaN rows = no face) -> ``frames`` compared (faces in all three),
    ``own_closer_fraction`` (share of frames where own's LMD is lower), ``mean_difference``
    (mean of control LMD - own LMD) and its 95 % interval from a moving-block bootstrap
    (``block`` frames per block, since neighbouring frames are correlated)."""
    return pooled_paired_lmd_difference([(own, control, real)], block, resamples, seed)


def pooled_paired_lmd_difference(videos: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], block: int = 10, resamples: int = 2000, seed: int = 0) -> dict[str, float | int]:
    """:func:`paired_lmd_difference` over several videos' ``(own, control, real)`` together:
    the mean over all their frames, its interval from a moving-block bootstrap that draws the
    blocks of each video from that video (no block spans two videos)."""
    diffs = []
    for own, control, real in videos:
        count = min(len(own), len(control), len(real))
        seqs = [np.asarray(x[:count], np.float64) for x in (own, control, real)]
        found = np.logical_and.reduce([np.isfinite(x).all(axis=(1, 2)) for x in seqs])
        diff = frame_lmd(seqs[1][found], seqs[2][found]) - frame_lmd(seqs[0][found], seqs[2][found])
        if len(diff):
            diffs.append(diff)
    n = sum(len(d) for d in diffs)
    if n == 0:
        return {"frames": 0, "own_closer_fraction": float("nan"), "mean_difference": float("nan"), "ci95": [float("nan"), float("nan")]}
    rng = np.random.default_rng(seed)
    sums = np.zeros(resamples)
    for diff in diffs:
        size = max(1, min(block, len(diff)))
        picks = rng.choice(np.arange(len(diff) - size + 1), size=(resamples, -(-len(diff) // size)))
        idx = (picks[..., None] + np.arange(size)).reshape(resamples, -1)[:, : len(diff)]
        sums += diff[idx].sum(axis=1)
    low, high = np.quantile(sums / n, [0.025, 0.975])
    every = np.concatenate(diffs)
    return {"frames": int(n), "own_closer_fraction": round(float((every > 0).mean()), 3), "mean_difference": round(float(every.mean()), 6), "ci95": [round(float(low), 6), round(float(high), 6)]}


def iter_video_landmarks(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """(468, 2) face-mesh points of the largest face in each 25 fps frame of ``path`` (the
    first ``max_frames``), one frame at a time; NaN where there is none."""
    from minerf.prepare.face_tracker import NUM_POINTS, FaceMeshTracker
    from minerf_base.video_in import iter_frames

    with FaceMeshTracker(video=True) as tracker:
        for k, frame in enumerate(iter_frames(path)):
            if max_frames is not None and k >= max_frames:
                break
            faces = tracker.detect(frame)
            yield faces[0][:, :2] if faces else np.full((NUM_POINTS, 2), np.nan, np.float32)


def video_landmarks(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """(T, 468, 2) face-mesh points of the largest face in each 25 fps frame; NaN where none
    (collected in blocks, :func:`minerf_base.rows.collect_rows`)."""
    from minerf.prepare.face_tracker import NUM_POINTS

    return collect_rows(iter_video_landmarks(path, max_frames), (NUM_POINTS, 2), np.float32)


def video_lmd(output: str | Path, real: str | Path) -> LMDResult:
    """LMD of a dubbed video against the real video, frame by frame from the start."""
    out_points = video_landmarks(output)
    return landmark_distance(out_points, video_landmarks(real, max_frames=len(out_points)))
