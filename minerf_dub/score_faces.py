"""Lip-sync scoring of a dub at the face boxes the dub already knows.

SyncNet's face detector may find no face track in a rendered head (a small or undertrained
model's output). The dub knows where the face is anyway: output frame ``k`` shows source frame
``timeline[k]``, whose face box the prepared clip holds in crop pixels, and the crop sits at
``crop_box`` in the source frame. :func:`known_face_boxes` maps those boxes to output-frame
pixels; :func:`score_at_boxes` crops the output there exactly as the scorer crops a detected
track (median-smoothed square box enlarged by ``crop_scale``, :func:`lipsync.faces.iter_track_crops`)
and scores them with ``lipsync.score(..., tracks=[that track])``. The dub does so when
the scorer raises :class:`~minerf_base.errors.NoFaceTrackError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KNOWN_BOXES_MARK = "known boxes (detector found no track)"
"""``score["faces"]`` of a score taken at the dub's known face boxes."""
DETECTED_MARK = "detected"
"""``score["faces"]`` of a score on SyncNet's own face track (the normal case)."""


def known_face_boxes(face_box: np.ndarray, crop_box: tuple[int, int, int], resolution: int, timeline: np.ndarray) -> np.ndarray:
    """Face boxes (T, 4) x0, y0, x1, y1 in source-frame pixels of the output frames.

    ``face_box`` (N, 4) per clip frame in crop pixels of the S x S crop (S = ``resolution``),
    ``crop_box`` (x0, y0, side) where that crop sits in the source frame, ``timeline`` (T,) the
    clip frame shown in each output frame.
    """
    x0, y0, side = crop_box
    scale = side / float(resolution)
    boxes = np.asarray(face_box, np.float64)[np.asarray(timeline, np.int64)] * scale
    return boxes + np.array([x0, y0, x0, y0], np.float64)


def score_at_boxes(video: str | Path, boxes: np.ndarray, weights: str | Path | None = None, device: str | None = None):
    """:class:`lipsync.scoring.ScoreResult` of ``video`` (with its own audio) on face crops
    at ``boxes`` (T, 4) frame pixels, one per video frame at 25 fps (one track, cropped as
    the scorer crops a detected one, frame by frame)."""
    import lipsync
    from lipsync.faces import FaceTrack

    track = FaceTrack(frames=np.arange(len(boxes)), boxes=np.asarray(boxes, np.float64))
    return lipsync.score(Path(video), weights=weights, device=device, tracks=[track])
