"""Synthetic talking heads with known poses and expressions, written as prepared clips.

Each identity is an ellipsoid "head" with its own size, skin colour and stripe pattern; the
expression opens a dark mouth (``e[0]``) and tints the cheeks (``e[1]``). Frames are ray-cast
exactly with the clip's own camera model (pose head -> camera, OpenCV intrinsics), so a field
that learns the scene must get the geometry conventions right. Used by tests and benchmarks
(:func:`synthetic_clips`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minerf_base.clip import NUM_LANDMARKS
from minerf_base.clip_writer import write_clip
from minerf_base.timebase import FPS

EXPRESSION_DIM = 4
SPACE_ID = f"synthetic-{EXPRESSION_DIM}"


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def synthetic_camera(size: int) -> np.ndarray:
    f = 2.2 * size
    return np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=np.float32)


def identity_look(identity: int) -> dict[str, np.ndarray | float]:
    """Deterministic appearance of synthetic identity ``identity``."""
    rng = np.random.default_rng(1000 + identity)
    hue = (identity * 0.31) % 1.0
    base = 0.35 + 0.5 * np.abs(np.array([np.cos(2 * np.pi * hue), np.cos(2 * np.pi * (hue + 1 / 3)), np.cos(2 * np.pi * (hue + 2 / 3))]))
    return {
        "axes": np.array([0.75, 1.0, 0.8]) * rng.uniform(0.9, 1.1, 3),
        "base": base,
        "stripe": rng.uniform(2.0, 6.0),
        "stripe_color": rng.uniform(0.1, 0.9, 3),
    }


def render_head(identity: int, expression: np.ndarray, pose: np.ndarray, K: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast one frame -> (RGB uint8 (S, S, 3), mask uint8 (S, S))."""
    size = background.shape[0]
    look = identity_look(identity)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    cam = np.stack([xs, ys, np.ones_like(xs)], -1) @ np.linalg.inv(K).T
    R, t = pose[:3, :3].astype(np.float64), pose[:3, 3].astype(np.float64)
    d = cam @ R
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = -R.T @ t
    axes = look["axes"]
    od, dd = o / axes, d / axes
    a = (dd * dd).sum(-1)
    b = 2 * (dd * od).sum(-1)
    c = (od * od).sum() - 1.0
    disc = b * b - 4 * a * c
    hit = disc > 0
    s = (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a)
    p = o + d * s[..., None]  # surface point in head space
    n = p / axes**2
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    shade = 0.55 + 0.45 * np.clip(-n[..., 2] * 0.8 - n[..., 1] * 0.3, 0, 1)
    color = look["base"] * (0.75 + 0.25 * np.sin(look["stripe"] * p[..., 1:2] * np.pi))
    stripe = (np.sin(look["stripe"] * 2.0 * p[..., 0:1]) > 0.85)
    color = np.where(stripe, look["stripe_color"], color)
    cheek = np.exp(-(((np.abs(p[..., 0]) - 0.45) ** 2) + (p[..., 1] - 0.2) ** 2) / 0.02)[..., None]
    color = color + cheek * np.array([0.3, -0.1, -0.1]) * expression[1]
    mouth_h = 0.05 + 0.2 * np.clip(expression[0], 0, 1)
    mouth = ((p[..., 0] / 0.3) ** 2 + ((p[..., 1] - 0.5) / mouth_h) ** 2 < 1) & (p[..., 2] < 0)
    color = np.where(mouth[..., None], np.array([0.15, 0.02, 0.05]), color)
    color = np.clip(color * shade[..., None], 0, 1)
    image = np.where(hit[..., None], color, background / 255.0)
    return (image * 255).round().astype(np.uint8), (hit * 255).astype(np.uint8)


def synthetic_tracks(num_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random poses (N, 4, 4) and expressions (N, d) in [0, 1]."""
    rng = np.random.default_rng(seed)
    tt = np.arange(num_frames) / float(FPS)
    ph = rng.uniform(0, 2 * np.pi, 6)
    yaw = 0.25 * np.sin(2.1 * tt + ph[0])
    pitch = 0.12 * np.sin(1.3 * tt + ph[1])
    poses = np.zeros((num_frames, 4, 4), dtype=np.float32)
    for k in range(num_frames):
        poses[k, :3, :3] = _rotation(yaw[k], pitch[k])
        poses[k, :3, 3] = [0.05 * np.sin(tt[k] + ph[2]), 0.0, 7.0]
        poses[k, 3, 3] = 1
    expr = np.stack([0.5 + 0.5 * np.sin((3.0 + j) * tt + ph[2 + j]) for j in range(EXPRESSION_DIM)], axis=-1)
    return poses, expr.astype(np.float32)


def write_synthetic_clip(
    path: str | Path,
    identity: int,
    num_frames: int = 20,
    size: int = 32,
    seed: int | None = None,
    expressions: np.ndarray | None = None,
    source_frame: tuple[int, int, int, int] | None = None,
) -> Path:
    """Write a prepared clip of synthetic identity ``identity``; returns its folder.

    ``source_frame`` = (width, height, x0, y0): also write ``<path>.source.mp4``, a larger
    "original video" holding the crop at (x0, y0), and record it as the clip's source."""
    poses, expr = synthetic_tracks(num_frames, identity if seed is None else seed)
    if expressions is not None:
        expr = np.asarray(expressions, dtype=np.float32)[:num_frames]
    K = synthetic_camera(size)
    bg = _background(identity, size)
    frames, masks, boxes = _render_frames(identity, expr, poses, K, bg)
    crop = [0, 0, size]
    source = None
    if source_frame is not None:
        crop = [source_frame[2], source_frame[3], size]
        source = _write_source_video(Path(f"{path}.source.mp4"), frames, source_frame)
    meta = {
        "name": Path(path).name,
        "resolution": size,
        "expression_space": {"id": SPACE_ID, "dim": EXPRESSION_DIM},
        "crop_box": crop,
        "source": {"path": None if source is None else str(source), "sha256": None if source is None else _sha256(source), "synthetic_identity": identity},
    }
    return write_clip(path, frames=frames, masks=masks, backgrounds=[bg] * num_frames, tracks=_tracks(poses, K, expr, boxes, identity), meta=meta)


def synthetic_clips(root: str | Path, size: int, count: int = 2, frames: int = 6) -> list[Path]:
    """``count`` synthetic clips of ``frames`` frames at ``size`` px, identities 0..count-1,
    written as ``root/s{size}_{i}`` (the clips the speed benchmarks time on)."""
    return [write_synthetic_clip(Path(root) / f"s{size}_{i}", i, frames, size) for i in range(count)]


def _background(identity: int, size: int) -> np.ndarray:
    """The clip's static background (S, S, 3) uint8: a tinted gradient."""
    gy, gx = np.mgrid[0:size, 0:size] / size
    tone = identity_look(identity + 50)["base"]
    bg = ((0.3 + 0.4 * gx[..., None]) * tone + 0.2 * gy[..., None]) * 255
    return np.clip(bg, 0, 255).astype(np.uint8)


def _render_frames(identity: int, expr: np.ndarray, poses: np.ndarray, K: np.ndarray, bg: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[list[int]]]:
    """Frames, masks and head boxes (x0, y0, x1, y1; the whole image when the head is off it)."""
    size = bg.shape[0]
    frames, masks, boxes = [], [], []
    for k in range(len(poses)):
        img, mask = render_head(identity, expr[k], poses[k], K, bg)
        frames.append(img)
        masks.append(mask)
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, size, size])
    return frames, masks, boxes


def face_points(identity: int) -> np.ndarray:
    """(468, 3) head-space face-mesh points laid on the synthetic head: the shipped expression
    space's mean face, its nose tip on the front of the head's ellipsoid (lips near the drawn
    mouth). What a tracker would report, roughly: enough for masks and boxes built from landmarks."""
    from minerf.prepare.expression_space import load_expression_space

    mean = load_expression_space().mean_shape
    front = identity_look(identity)["axes"][2]
    return (mean + np.array([0.0, 0.1, -(front + mean[1, 2])])).astype(np.float32)


def _tracks(poses: np.ndarray, K: np.ndarray, expr: np.ndarray, boxes: list[list[int]], identity: int) -> dict[str, np.ndarray]:
    """``tracks.npz`` of the clip: the exact poses and expressions, landmarks of :func:`face_points`."""
    num_frames = len(poses)
    points = face_points(identity)
    cam = np.einsum("nij,pj->npi", poses[:, :3, :3], points) + poses[:, None, :3, 3]
    pix = cam @ K.T
    return {
        "pose": poses,
        "intrinsics": K,
        "expression": expr,
        "landmarks2d": (pix[..., :2] / pix[..., 2:3]).astype(np.float32),
        "landmarks3d": np.repeat(points[None], num_frames, axis=0),
        "identity_shape": np.zeros((NUM_LANDMARKS, 3)),
        "face_box": np.array(boxes, dtype=np.float32),
        "valid": np.ones(num_frames, dtype=bool),
    }


def _write_source_video(path: Path, frames: list[np.ndarray], source_frame: tuple[int, int, int, int]) -> Path:
    """The "original video": each frame pasted at (x0, y0) on a grey width x height canvas."""
    from minerf_base.video_out import write_video

    width, height, x0, y0 = source_frame
    size = frames[0].shape[0]
    canvas = np.full((height, width, 3), 90, np.uint8)

    def full_frames():
        for img in frames:
            out = canvas.copy()
            out[y0 : y0 + size, x0 : x0 + size] = img
            yield out

    return write_video(path, full_frames(), fps=FPS)


def _sha256(path: Path) -> str:
    from minerf_base.video_in import file_sha256

    return file_sha256(path)
