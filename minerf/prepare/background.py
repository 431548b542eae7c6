"""Clean background per frame: the head region replaced by a static background estimate.

The static background is the per-pixel median over up to ``max_samples`` frames of the
pixels outside the (dilated) head mask; pixels that the head covers in every sampled frame
are filled by inpainting. Each frame's background is the frame itself outside its dilated
head mask and the static estimate inside, so a re-rendered head never shows the original
head behind it, while the rest (torso, moving background) stays as in the frame.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DILATE_FRACTION = 0.03  # of the crop size: margin around the head that is replaced too


def dilated(mask: np.ndarray) -> np.ndarray:
    import cv2

    r = max(2, int(round(DILATE_FRACTION * mask.shape[0])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate((mask > 127).astype(np.uint8), kernel) > 0


def static_background(
    num_frames: int,
    read_frame: Callable[[int], np.ndarray],
    read_mask: Callable[[int], np.ndarray],
    max_samples: int = 60,
) -> np.ndarray:
    """Median background (S, S, 3) uint8 from sampled frames, inpainted where never seen."""
    import cv2

    picks = np.unique(np.linspace(0, num_frames - 1, min(num_frames, max_samples)).round().astype(int))
    stack = []
    for i in picks:
        frame = read_frame(i).astype(np.float32)
        frame[dilated(read_mask(i))] = np.nan
        stack.append(frame)
    data = np.stack(stack)
    seen = ~np.isnan(data[..., 0])
    median = np.zeros(data.shape[1:], np.float32)
    any_seen = seen.any(0)
    if any_seen.any():
        median[any_seen] = np.nanmedian(data[:, any_seen], axis=0)
    out = np.clip(median, 0, 255).astype(np.uint8)
    holes = (~any_seen).astype(np.uint8)
    if holes.any():
        radius = max(3, out.shape[0] // 40)
        out = cv2.inpaint(out, holes, radius, cv2.INPAINT_TELEA)
    return out


def frame_background(frame: np.ndarray, mask: np.ndarray, static: np.ndarray) -> np.ndarray:
    """The frame with its (dilated, feathered) head region replaced by ``static``."""
    import cv2

    region = dilated(mask).astype(np.float32)
    k = max(3, (mask.shape[0] // 64) | 1)
    alpha = np.maximum(cv2.GaussianBlur(region, (k, k), 0), region)[..., None]
    return (frame * (1 - alpha) + static * alpha).round().astype(np.uint8)
