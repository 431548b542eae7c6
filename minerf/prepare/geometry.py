"""Small rigid-geometry helpers: similarity alignment, rotations, projection."""

from __future__ import annotations

import numpy as np


def similarity_align(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: ``s, R, t`` minimising ``sum w |s R src + t - dst|^2`` (points are rows)."""
    w = np.ones(len(src)) if weights is None else weights
    w = w / w.sum()
    mu_s = (w[:, None] * src).sum(0)
    mu_d = (w[:, None] * dst).sum(0)
    a = src - mu_s
    b = dst - mu_d
    cov = (w[:, None] * b).T @ a
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    var = (w * (a**2).sum(1)).sum()
    scale = float((sig * np.diag(fix)).sum() / var)
    t = mu_d - scale * rot @ mu_s
    return scale, rot, t


def project(points: np.ndarray, pose: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project head-space points ``(..., P, 3)`` with ``pose`` (4x4, head->camera) and ``K``."""
    cam = points @ pose[:3, :3].T + pose[:3, 3]
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:3]


def rotation_angle_deg(r1: np.ndarray, r2: np.ndarray) -> float:
    """Angle of the relative rotation ``r1^T r2`` in degrees."""
    cos = (np.trace(r1.T @ r2) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
