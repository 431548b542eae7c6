"""First pass over a video: find the face track and choose one stable crop box.

Face mesh runs on a downscaled copy of every frame (long side <= 960 px). The face to follow
is chosen in the first frame that has faces (``face_index``: 0 = largest) and followed by
nearest centre. The crop is one square for the whole clip (no per-frame jitter): centred on
the median face centre (a little below, to include the neck), with a side of
``CROP_SCALE`` x the 90th-percentile face size plus the range the face moves over, shifted
to stay inside the frame and never larger than the frame's short side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minerf.prepare.face_tracker import FaceMeshTracker, face_bbox
from minerf_base.errors import InputError
from minerf_base.video_in import VideoInfo, iter_frames

log = logging.getLogger(__name__)

SCAN_LONG_SIDE = 960
CROP_SCALE = 2.1
MIN_FACE_PX = 64
MIN_FRAMES = 10
MAX_LOST_FRACTION = 0.2
MAX_LOST_RUN = 25  # frames (1 s)


@dataclass
class ScanResult:
    num_frames: int
    crop_box: tuple[int, int, int]  # x0, y0, side in original pixels
    boxes: np.ndarray  # (N, 4) face boxes in original pixels, NaN where lost
    faces_seen: int  # most faces in one frame
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"num_frames": self.num_frames, "crop_box": list(self.crop_box), "faces_seen": self.faces_seen, "warnings": self.warnings}


def frame_ranges(indices: np.ndarray) -> str:
    """'3-7, 12' style listing of frame indices."""
    if len(indices) == 0:
        return ""
    parts = []
    start = prev = int(indices[0])
    for i in list(indices[1:]) + [None]:
        if i is not None and int(i) == prev + 1:
            prev = int(i)
            continue
        parts.append(f"{start}-{prev}" if prev > start else f"{start}")
        if i is not None:
            start = prev = int(i)
    return ", ".join(parts)


def lost_frames_check(path: Path, lost: np.ndarray, total: int, what: str) -> list[str]:
    """Raise when the face is lost too often; otherwise return a warning (or nothing)."""
    idx = np.nonzero(lost)[0]
    if len(idx) == 0:
        return []
    runs = np.split(idx, np.nonzero(np.diff(idx) > 1)[0] + 1)
    longest = max(len(r) for r in runs)
    listing = frame_ranges(idx)
    if len(idx) > MAX_LOST_FRACTION * total or longest > MAX_LOST_RUN:
        raise InputError(
            path,
            f"{what} lost in {len(idx)} of {total} frames (frames {listing})",
            "cut the video to the part where the face stays in view and prepare that",
        )
    return [f"{what} lost in frames {listing}: those frames are interpolated and marked invalid"]


def scan_video(path: Path, info: VideoInfo, face_index: int | None, progress) -> ScanResult:
    import cv2

    scale = min(1.0, SCAN_LONG_SIDE / max(info.width, info.height))
    boxes: list[np.ndarray | None] = []
    faces_seen = 0
    multi_frames = 0
    target_centre = None
    target_size = None
    with FaceMeshTracker(max_faces=4, video=True) as tracker:
        for rgb in iter_frames(path):
            small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
            faces = [f / scale for f in tracker.detect(small)]
            faces_seen = max(faces_seen, len(faces))
            multi_frames += len(faces) > 1
            chosen = None
            if faces:
                if target_centre is None:
                    k = face_index or 0
                    if k >= len(faces):
                        raise InputError(path, f"--face {k} asked for, but the first frame with faces has only {len(faces)} (0 = largest)", f"pass --face between 0 and {len(faces) - 1}")
                    chosen = faces[k]
                else:
                    dists = [np.linalg.norm(face_bbox(f)[:2] / 2 + face_bbox(f)[2:] / 2 - target_centre) for f in faces]
                    j = int(np.argmin(dists))
                    if dists[j] < 0.6 * target_size:
                        chosen = faces[j]
            if chosen is not None:
                box = face_bbox(chosen)
                target_centre = (box[:2] + box[2:]) / 2
                target_size = float((box[2:] - box[:2]).max())
            boxes.append(None if chosen is None else face_bbox(chosen))
            progress.update(1)
    n = len(boxes)
    if n < MIN_FRAMES:
        raise InputError(path, f"too short: {n} frames at 25 fps ({n / 25:.2f} s)", f"use a video of at least {MIN_FRAMES / 25:.1f} s")
    arr = np.full((n, 4), np.nan, np.float32)
    for i, b in enumerate(boxes):
        if b is not None:
            arr[i] = b
    found = ~np.isnan(arr[:, 0])
    if not found.any():
        raise InputError(path, f"no face found in frames 0-{n - 1}", f"is the face visible, frontal-ish and larger than {MIN_FACE_PX} px?")
    warnings = lost_frames_check(path, ~found, n, "face")
    sizes = (arr[found, 2:] - arr[found, :2]).max(1)
    if np.median(sizes) < MIN_FACE_PX:
        raise InputError(path, f"face too small: {np.median(sizes):.0f} px (landmark box) in a {info.width}x{info.height} video", f"use a video where the face is at least {MIN_FACE_PX} px tall (zoom in or crop the video around the face)")
    if faces_seen > 1:
        msg = f"{faces_seen} faces seen (in {multi_frames} frames); following face {face_index or 0} (0 = largest in the first frame); pass --face K to pick another"
        warnings.append(msg)
    return ScanResult(n, crop_square(arr[found], info.width, info.height), arr, faces_seen, warnings)


def crop_square(boxes: np.ndarray, width: int, height: int) -> tuple[int, int, int]:
    """One square crop (x0, y0, side) holding the head over all frames."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = (boxes[:, 2:] - boxes[:, :2]).max(1)
    face = float(np.percentile(sizes, 90))
    motion = float((np.percentile(centres, 95, axis=0) - np.percentile(centres, 5, axis=0)).max())
    side = CROP_SCALE * face + motion
    side = int(round(min(side, min(width, height))))
    cx, cy = np.median(centres, axis=0)
    cy += 0.05 * face
    x0 = int(round(np.clip(cx - side / 2, 0, width - side)))
    y0 = int(round(np.clip(cy - side / 2, 0, height - side)))
    return x0, y0, side
