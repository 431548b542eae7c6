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
    first = read_frame(int(picks[0]))
    frames = np.empty((len(picks),) + first.shape, np.uint8)
    hidden = np.empty((len(picks),) + first.shape[:2], bool)
    for j, i in enumerate(picks):
        frames[j] = first if j == 0 else read_frame(int(i))
        hidden[j] = dilated(read_mask(int(i)))
    out = np.zeros(first.shape, np.uint8)
    rows = 32  # median over frames in bands of rows: bounded memory at any resolution
    for y in range(0, first.shape[0], rows):
        band = frames[:, y : y + rows].astype(np.float32)
        band[hidden[:, y : y + rows]] = np.nan
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: filled below
                med = np.nanmedian(band, axis=0)
        out[y : y + rows] = np.nan_to_num(med, nan=0.0).clip(0, 255).astype(np.uint8)
    holes = hidden.all(0).astype(np.uint8)
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
