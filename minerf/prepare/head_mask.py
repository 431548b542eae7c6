"""Head masks: face, hair, ears and neck down to the collar; not torso, not background.

mediapipe's selfie segmentation separates the person from the background; the face-mesh
landmarks then bound the head: everything of the person above the chin within a margin of
the face width (hair, ears), plus a neck band below the chin, narrower than the face and
about 0.55 face heights long (down to a typical collar). The face-mesh hull is always head.
Limits: long hair over the shoulders is cut at the neck band; a collar higher or lower than
typical is not detected.
"""

from __future__ import annotations

import numpy as np

CHIN = 152
SIDE_MARGIN = 0.45  # of face width, each side above the chin (hair, ears)
NECK_LENGTH = 0.55  # of face height below the chin
NECK_HALF_WIDTH = 0.42  # of face width


def head_mask(person_prob: np.ndarray, landmarks2d: np.ndarray) -> np.ndarray:
    """uint8 mask (S, S), 255 = head, from a person probability map and 468 2D landmarks."""
    import cv2

    size = person_prob.shape[0]
    x0, y0 = landmarks2d.min(0)
    x1, y1 = landmarks2d.max(0)
    w, h = x1 - x0, y1 - y0
    chin_x, chin_y = landmarks2d[CHIN]
    allowed = np.zeros(person_prob.shape, np.uint8)
    top_left = (int(max(0, x0 - SIDE_MARGIN * w)), 0)
    bottom_right = (int(min(size - 1, x1 + SIDE_MARGIN * w)), int(min(size - 1, chin_y)))
    cv2.rectangle(allowed, top_left, bottom_right, 1, thickness=-1)
    neck = np.array(
        [
            [chin_x - NECK_HALF_WIDTH * w * 1.2, chin_y - 0.15 * h],
            [chin_x + NECK_HALF_WIDTH * w * 1.2, chin_y - 0.15 * h],
            [chin_x + NECK_HALF_WIDTH * w, chin_y + NECK_LENGTH * h],
            [chin_x - NECK_HALF_WIDTH * w, chin_y + NECK_LENGTH * h],
        ],
        dtype=np.int32,
    )
    cv2.fillConvexPoly(allowed, neck, 1)
    mask = ((person_prob > 0.5) & (allowed > 0)).astype(np.uint8)
    hull = cv2.convexHull(landmarks2d.astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    # keep the connected part that holds the face
    count, labels = cv2.connectedComponents(mask)
    if count > 2:
        face_label = labels[int(np.clip(landmarks2d[4, 1], 0, size - 1)), int(np.clip(landmarks2d[4, 0], 0, size - 1))]
        if face_label > 0:
            mask = (labels == face_label).astype(np.uint8)
    return mask * 255
