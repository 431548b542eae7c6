"""Compositing: which pixels to render, and blending a rendered crop back into a frame."""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int, UInt8

from minerf.prepare.expression_space import LOWER_FACE_JAW_ROOM, LOWER_FACE_OUTLINE


def render_region(head_mask: UInt8[np.ndarray, "size size"], grow: float = 0.12) -> Bool[np.ndarray, "size size"]:
    """Pixels worth rendering: the original head mask (255 inside) grown by ``grow`` x size (room
    for a different expression, e.g. an open jaw); elsewhere the render is the background anyway."""
    import cv2

    k = max(3, int(round(grow * head_mask.shape[0])) * 2 + 1)
    return cv2.dilate((head_mask > 127).astype(np.uint8), np.ones((k, k), np.uint8)) > 0


def ping_pong(count: int, length: int) -> Int[np.ndarray, " frames"]:
    """``count`` indices walking 0..length-1 forth and back (no jump when a clip is too short)."""
    if length == 1:
        return np.zeros(count, dtype=np.int64)
    period = 2 * length - 2
    p = np.arange(count) % period
    return np.where(p < length, p, period - p)


def crop_in_frame(crop_box: tuple[int, int, int], shape: tuple[int, ...]) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where a crop at ``crop_box`` = (x0, y0, side), resized to side x side, overlaps an (H, W)
    frame: (frame slices, resized-crop slices), or None when it lies outside the frame."""
    x0, y0, side = crop_box
    H, W = shape[:2]
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + side), min(H, y0 + side)
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    return (slice(fy0, fy1), slice(fx0, fx1)), (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))


def paste_into_frame(
    frame: UInt8[np.ndarray, "frame_h frame_w 3"], crop: UInt8[np.ndarray, "size size 3"], alpha: Float[np.ndarray, "size size"], crop_box: tuple[int, int, int]
) -> UInt8[np.ndarray, "frame_h frame_w 3"]:
    """Blend ``crop`` into ``frame`` where ``crop_box`` = (x0, y0, side) says where the crop came
    from; ``alpha`` in [0, 1] weights the crop."""
    import cv2

    overlap = crop_in_frame(crop_box, frame.shape)
    if overlap is None:
        return frame
    dst, sub = overlap
    side = crop_box[2]
    big = cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    a = cv2.resize(alpha.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)[..., None]
    out = frame.copy()
    region = out[dst].astype(np.float32)
    out[dst] = np.clip(region * (1 - a[sub]) + big[sub] * a[sub], 0, 255).round().astype(np.uint8)
    return out


def blend_mask(head_mask: UInt8[np.ndarray, "size size"], acc: Float[np.ndarray, "size size"], grow: int = 3) -> Float[np.ndarray, "size size"]:
    """Where the rendered crop replaces the original: the original head (so it disappears) or
    the rendered head, grown by ``grow`` px and feathered; float in [0, 1]."""
    import cv2

    m = np.maximum(head_mask.astype(np.float32) / 255.0, np.clip(acc * 2, 0, 1))
    k = 2 * grow + 1
    m = cv2.dilate(m, np.ones((k, k), np.uint8))
    return np.clip(cv2.GaussianBlur(m, (k, k), 0), 0, 1)


def lower_face_masks(
    landmarks2d: Float[np.ndarray, "points 2"], size: int, jaw_room: float = LOWER_FACE_JAW_ROOM, feather: float = 0.03
) -> tuple[Bool[np.ndarray, "size size"], Float[np.ndarray, "size size"]]:
    """What a dub renders and where it replaces the source: (pixels to render, blend weight in
    [0, 1]) of an S x S crop. The region is the lower face (cheeks, mouth, jaw, chin; outlined
    by :data:`LOWER_FACE_OUTLINE`) extended down by ``jaw_room`` x size, so a jaw that opens
    wider than the source's replaces the source's chin; the blend is 1 inside that area and
    fades to 0 over ``feather`` x size, so the upper face, hair and background stay the
    source's own pixels. The rendered pixels reach ``feather`` x size beyond the blend."""
    import cv2

    outline = np.round(landmarks2d[LOWER_FACE_OUTLINE]).astype(np.int32)
    hull = cv2.convexHull(outline)
    inside = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(inside, hull, 1)
    drop = max(1, int(round(jaw_room * size)))
    room = inside.copy()
    for shift in range(1, drop + 1):  # the outline slid down: where an open jaw can reach
        room[shift:] |= inside[:-shift]
    grow = max(1, int(round(feather * size)))
    k = 2 * grow + 1
    region = cv2.dilate(room, np.ones((k, k), np.uint8)) > 0
    alpha = np.clip(cv2.GaussianBlur(room.astype(np.float32), (k, k), 0), 0.0, 1.0) * region
    return region, alpha
