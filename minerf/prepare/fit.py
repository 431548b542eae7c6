"""Head pose, camera intrinsics and expressions from face-mesh landmarks of a whole clip.

1. Each frame's 3D face-mesh points are aligned to the space's mean shape on stable points
   (similarity), giving canonical shapes in decimetres.
2. The clip's identity shape is its median canonical shape with the expression subspace
   removed; expressions are the coordinates of each frame's canonical shape relative to it.
3. The model points ``identity + B e`` are fitted to the detected 2D landmarks with a
   perspective camera (``cv2.solvePnP``, initialised from the similarity); the rotation
   track is smoothed over time (Gaussian, sigma 2 frames = 80 ms) to remove jitter, and each
   frame's translation is then re-solved for that smoothed rotation, so the smoothing does
   not pull the model away from the landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minerf.prepare.expression_space import ExpressionSpace
from minerf.prepare.geometry import project

FOCAL_FACTOR = 2.5  # focal length = 2.5 x crop size (a ~23 degree field of view)


@dataclass
class ClipFit:
    pose: np.ndarray  # (N, 4, 4) head -> camera
    intrinsics: np.ndarray  # (3, 3)
    expression: np.ndarray  # (N, d)
    identity_shape: np.ndarray  # (468, 3)
    landmarks3d: np.ndarray  # (N, 468, 3) model points in head space
    reprojection_error: np.ndarray  # (N,) median landmark error in pixels


def intrinsics_for(size: int) -> np.ndarray:
    f = FOCAL_FACTOR * size
    return np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64)


def fit_clip(points: np.ndarray, space: ExpressionSpace, size: int, smooth_sigma: float = 2.0) -> ClipFit:
    """Fit pose + expression to face-mesh points (N, 468, 3) detected in S x S crops."""
    import cv2

    canonical, sims = space.align(points)
    identity = space.identity_of(canonical)
    expression = space.encode(canonical, identity)
    model = space.decode(identity, expression)
    K = intrinsics_for(size)
    rvecs = np.zeros((len(points), 3))
    tvecs = np.zeros((len(points), 3))
    for i in range(len(points)):
        rot = sims[i, :3, :3]
        scale = np.cbrt(np.linalg.det(rot))  # pixels per decimetre
        rot = rot / scale
        rvec, _ = cv2.Rodrigues(rot)
        centre2d = sims[i, :2, 3]
        depth = K[0, 0] / scale
        tvec = np.array([(centre2d[0] - K[0, 2]) * depth / K[0, 0], (centre2d[1] - K[1, 2]) * depth / K[1, 1], depth])
        ok, rvec, tvec = cv2.solvePnP(
            model[i].astype(np.float64), points[i, :, :2].astype(np.float64), K, None,
            rvec=rvec.copy(), tvec=tvec.reshape(3, 1).copy(), useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
        )
        rvecs[i] = rvec.reshape(3)
        tvecs[i] = tvec.reshape(3)
    rvecs, tvecs = _smooth_track(rvecs, tvecs, smooth_sigma)
    pose = np.tile(np.eye(4), (len(points), 1, 1))
    for i in range(len(points)):
        pose[i, :3, :3] = cv2.Rodrigues(rvecs[i])[0]
        pose[i, :3, 3] = _solve_translation(model[i], points[i, :, :2], pose[i, :3, :3], tvecs[i], K)
    err = np.array([np.median(np.linalg.norm(project(model[i], pose[i], K) - points[i, :, :2], axis=1)) for i in range(len(points))])
    return ClipFit(pose, K, expression, identity, model, err)


def _solve_translation(model: np.ndarray, target: np.ndarray, rot: np.ndarray, t: np.ndarray, K: np.ndarray, steps: int = 6) -> np.ndarray:
    """Gauss-Newton on the translation alone: project ``model`` with ``rot`` onto ``target``."""
    rotated = model @ rot.T
    f = np.array([K[0, 0], K[1, 1]])
    c = K[:2, 2]
    for _ in range(steps):
        cam = rotated + t
        z = cam[:, 2:3]
        uv = f * cam[:, :2] / z + c
        resid = (uv - target).reshape(-1)
        jac = np.zeros((len(model), 2, 3))
        jac[:, 0, 0] = f[0] / z[:, 0]
        jac[:, 1, 1] = f[1] / z[:, 0]
        jac[:, :, 2] = -f * cam[:, :2] / z**2
        jac = jac.reshape(-1, 3)
        t = t - np.linalg.lstsq(jac, resid, rcond=None)[0]
    return t


def _smooth_track(rvecs: np.ndarray, tvecs: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian smoothing of rotation vectors (unwrapped to be continuous) and translations."""
    if sigma <= 0 or len(rvecs) < 3:
        return rvecs, tvecs
    from scipy.ndimage import gaussian_filter1d

    # keep consecutive rotation vectors on the same branch before averaging
    for i in range(1, len(rvecs)):
        angle = np.linalg.norm(rvecs[i])
        if angle > 1e-6:
            alt = rvecs[i] * (1 - 2 * np.pi / angle)
            if np.linalg.norm(alt - rvecs[i - 1]) < np.linalg.norm(rvecs[i] - rvecs[i - 1]):
                rvecs[i] = alt
    return gaussian_filter1d(rvecs, sigma, axis=0, mode="nearest"), gaussian_filter1d(tvecs, sigma, axis=0, mode="nearest")
