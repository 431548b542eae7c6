"""Face tracks for SyncNet: detection, shot cuts, tracking, box smoothing and 224 x 224 crops.

This follows the reference pipeline (``syncnet_python``'s ``run_pipeline.py`` /
``SyncNetPipeline``) step by step, with one substitution: faces are found by MediaPipe's
BlazeFace detector (its model ships inside the ``mediapipe`` wheel) instead of S3FD, whose
weights are not installable from a package index. See ``docs/lipsync.md`` for what that changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

CROP_SIZE = 224
PAD_VALUE = 110  # grey border of the reference crop


@dataclass
class FaceTrackConfig:
    """Face detection, tracking and cropping. Defaults are the reference's where it has one."""

    crop_scale: float = 0.40
    """Crop margin around the face box, relative to half the box size (reference: 0.40)."""
    min_track: int = 50
    """A track must be longer than this many frames (reference package: 50); lowered to the
    video length minus one for shorter videos, which the reference cannot score at all."""
    num_failed_det: int = 25
    """Frames without a matching detection after which a track ends (reference: 25)."""
    min_face_size: float = 100.0
    """Mean face box width or height (pixels) a track needs (reference: 100)."""
    min_confidence: float = 0.5
    """MediaPipe face detection score threshold."""
    scene_threshold: float = 27.0
    """Shot-cut threshold on the mean HSV change between frames (scenedetect ContentDetector)."""
    min_scene_len: int = 15
    """Minimum shot length in frames (scenedetect ContentDetector)."""
    smooth_kernel: int = 13
    """Median filter length for box centre and size (reference: 13)."""


@dataclass
class FaceTrack:
    """One face followed through consecutive frames ``frames[0]..frames[-1]``."""

    frames: np.ndarray  # (N,) int frame indices, consecutive
    boxes: np.ndarray  # (N, 4) float x0, y0, x1, y1 in frame pixels (interpolated)
    notes: list[str] = field(default_factory=list)

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        """One past the last frame."""
        return int(self.frames[-1]) + 1


class FaceDetector:
    """MediaPipe BlazeFace (full-range model). ``detect(rgb)`` -> (K, 4) boxes in pixels."""

    def __init__(self, min_confidence: float = 0.5):
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """rgb (H, W, 3) uint8 -> (K, 4) float x0, y0, x1, y1, most confident first."""
        import warnings

        height, width = rgb.shape[:2]
        with warnings.catch_warnings():  # protobuf deprecation noise from inside mediapipe
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
            result = self._detector.process(np.ascontiguousarray(rgb))
        boxes = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            x0, y0 = rel.xmin * width, rel.ymin * height
            boxes.append((det.score[0], x0, y0, x0 + rel.width * width, y0 + rel.height * height))
        boxes.sort(key=lambda b: -b[0])
        return np.array([b[1:] for b in boxes], dtype=np.float64).reshape(-1, 4)

    def close(self) -> None:
        self._detector.close()


def hsv_change(previous: np.ndarray | None, rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(hsv of ``rgb``, mean absolute H, S, V change from ``previous`` averaged over channels).

    Frames are first downscaled by ``width // 256`` as scenedetect does automatically.
    """
    import cv2

    step = max(1, rgb.shape[1] // 256)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[::step, ::step]), cv2.COLOR_RGB2HSV).astype(np.int32)
    if previous is None:
        return hsv, 0.0
    return hsv, float(np.abs(hsv - previous).reshape(-1, 3).mean(axis=0).mean())


def scene_bounds(changes: np.ndarray, config: FaceTrackConfig) -> list[tuple[int, int]]:
    """Shots as [start, end) frame ranges from per-frame HSV changes (N,); frame 0's is 0."""
    n = len(changes)
    cuts = []
    last = 0
    for i in range(1, n):
        if changes[i] >= config.scene_threshold and i - last >= config.min_scene_len:
            cuts.append(i)
            last = i
    edges = [0, *cuts, n]
    return [(edges[k], edges[k + 1]) for k in range(len(edges) - 1)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / (union + 1e-8)


def track_faces(detections: list[np.ndarray], start: int, config: FaceTrackConfig, min_track: int) -> list[FaceTrack]:
    """Greedy IoU tracking within one shot, as the reference does.

    ``detections[i]`` (K_i, 4) are the boxes of frame ``start + i``. A track grows by the first
    box of a later frame that overlaps its last box by IoU > 0.5 within ``num_failed_det``
    frames; it is kept when longer than ``min_track`` frames and its mean box is larger than
    ``min_face_size``; gaps are filled by linear interpolation.
    """
    remaining = [list(boxes) for boxes in detections]
    tracks = []
    while True:
        frames: list[int] = []
        boxes: list[np.ndarray] = []
        for i, faces in enumerate(remaining):
            for k, box in enumerate(faces):
                if not frames or (i - frames[-1] <= config.num_failed_det and _iou(box, boxes[-1]) > 0.5):
                    frames.append(i)
                    boxes.append(box)
                    del faces[k]
                    break
        if not frames:
            return tracks
        if len(frames) > min_track:
            fr = np.asarray(frames)
            bb = np.asarray(boxes)
            full = np.arange(fr[0], fr[-1] + 1)
            interp = np.stack([np.interp(full, fr, bb[:, j]) for j in range(4)], axis=1)
            size = max(np.mean(interp[:, 2] - interp[:, 0]), np.mean(interp[:, 3] - interp[:, 1]))
            if size > config.min_face_size:
                tracks.append(FaceTrack(frames=full + start, boxes=interp))


def crop_geometry(boxes: np.ndarray, smooth_kernel: int) -> np.ndarray:
    """Median-smoothed (N, 3) half size, centre x, centre y of boxes (N, 4), as the reference.

    The reference's ``scipy.signal.medfilt`` pads with zeros, so the first and last
    ``kernel // 2`` values are pulled towards smaller boxes; :func:`medfilt` does the same.
    """
    n = len(boxes)
    if n < smooth_kernel:  # only short videos the reference cannot score (see min_track)
        smooth_kernel = max(1, n - 1 + n % 2)
    size = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([medfilt(v, smooth_kernel) for v in (size, cx, cy)], axis=1)


def medfilt(values: np.ndarray, kernel: int) -> np.ndarray:
    """Zero-padded running median of odd length ``kernel`` (``scipy.signal.medfilt``), (N,)."""
    half = kernel // 2
    padded = np.concatenate([np.zeros(half), np.asarray(values, np.float64), np.zeros(half)])
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, kernel), axis=1)


def crop_face(image: np.ndarray, half_size: float, cx: float, cy: float, crop_scale: float) -> np.ndarray:
    """(224, 224, C) crop of ``image`` (H, W, C) around a face, grey-padded, as the reference."""
    import cv2

    bs = float(half_size)
    pad = int(bs * (1 + 2 * crop_scale))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    my, mx = cy + pad, cx + pad
    y1, y2 = int(my - bs), int(my + bs * (1 + 2 * crop_scale))
    x1, x2 = int(mx - bs * (1 + crop_scale)), int(mx + bs * (1 + crop_scale))
    return cv2.resize(padded[y1:y2, x1:x2], (CROP_SIZE, CROP_SIZE))


def find_tracks(frames: Iterable[np.ndarray], config: FaceTrackConfig) -> tuple[list[FaceTrack], int, int]:
    """Detect and track faces in RGB frames (H, W, 3) -> (tracks, num_frames, frames with a face)."""
    detector = FaceDetector(config.min_confidence)
    detections: list[np.ndarray] = []
    changes: list[float] = []
    previous = None
    try:
        for rgb in frames:
            detections.append(detector.detect(rgb))
            previous, change = hsv_change(previous, rgb)
            changes.append(change)
    finally:
        detector.close()
    n = len(detections)
    with_face = sum(len(d) > 0 for d in detections)
    min_track = min(config.min_track, max(n - 1, 0))
    tracks: list[FaceTrack] = []
    for s, e in scene_bounds(np.asarray(changes), config):
        if e - s >= min_track:
            tracks.extend(track_faces(detections[s:e], s, config, min_track))
    if min_track < config.min_track:
        for track in tracks:
            track.notes.append(f"short video ({n} frames): tracks of more than {min_track} frames accepted instead of {config.min_track}")
    return tracks, n, with_face


def iter_track_crops(frames: Iterable[np.ndarray], tracks: list[FaceTrack], config: FaceTrackConfig) -> Iterator[tuple[int, np.ndarray]]:
    """(track number, 224 x 224 uint8 crop) of every track's frames, in one pass over the
    frames (each track's crops in order); stops after the last track's last frame."""
    geometry = [crop_geometry(t.boxes, config.smooth_kernel) for t in tracks]
    last = max((t.end for t in tracks), default=0)
    for index, image in enumerate(frames):
        if index >= last:
            break
        for k, (t, geo) in enumerate(zip(tracks, geometry)):
            if t.start <= index < t.end:
                yield k, crop_face(image, *geo[index - t.start], config.crop_scale)


def crop_tracks(frames: Iterable[np.ndarray], tracks: list[FaceTrack], config: FaceTrackConfig) -> list[np.ndarray]:
    """(N_k, 224, 224, 3) uint8 crops of every track, in one pass over the frames."""
    crops = [np.zeros((len(t.frames), CROP_SIZE, CROP_SIZE, 3), np.uint8) for t in tracks]
    filled = [0] * len(tracks)
    for k, crop in iter_track_crops(frames, tracks, config):
        crops[k][filled[k]] = crop
        filled[k] += 1
    return crops
