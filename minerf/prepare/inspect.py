"""``minerf inspect``: a picture of a prepared clip a person can check at a glance.

The PNG holds a contact sheet (rows: frame with landmarks and crop-relative face box, head
mask overlay, background) for a few frames spread over the clip, and plots of head rotation
(degrees), translation and the first mouth expression coefficients over time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minerf_base.atomic import atomic_path
from minerf_base.clip import PreparedClip


def rotation_degrees(pose: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees from head->camera rotations."""
    import cv2

    out = []
    for p in pose:
        rvec = cv2.Rodrigues(p[:3, :3].astype(np.float64))[0].reshape(3)
        out.append(np.degrees(rvec))
    return np.array(out)


def summary(clip: PreparedClip) -> dict:
    rot = rotation_degrees(clip.pose)
    jumps = np.linalg.norm(np.diff(rot, axis=0), axis=1) if len(rot) > 1 else np.zeros(1)
    stats = clip.meta.get("stats", {})
    return {
        "clip": str(clip.path),
        "name": clip.name,
        "frames": clip.num_frames,
        "seconds": clip.num_frames / 25,
        "resolution": clip.resolution,
        "expression_space": clip.expression_space,
        "expression_dim": clip.expression_dim,
        "has_audio": clip.has_audio,
        "audio_status": clip.meta.get("audio", {}).get("status"),
        "crop_box": list(clip.crop_box),
        "source": clip.meta.get("source", {}).get("path"),
        "invalid_frames": int((~clip.valid).sum()),
        "reprojection_error_px_median": stats.get("reprojection_error_px_median"),
        "max_rotation_step_deg": float(jumps.max()),
        "warnings": clip.meta.get("warnings", []),
    }


def contact_sheet(clip: PreparedClip, output: Path, columns: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.unique(np.linspace(0, clip.num_frames - 1, min(columns, clip.num_frames)).round().astype(int))
    fig = plt.figure(figsize=(2.4 * len(picks), 2.4 * 3 + 5.0), dpi=100)
    grid = fig.add_gridspec(5, len(picks), height_ratios=[1, 1, 1, 0.9, 0.9])
    for col, i in enumerate(picks):
        frame = clip.frame(i)
        mask = clip.mask(i)
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(frame)
        lm = clip.landmarks2d[i]
        ax.scatter(lm[:, 0], lm[:, 1], s=0.6, c="lime" if clip.valid[i] else "red")
        x0, y0, x1, y1 = clip.face_box[i]
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], c="yellow", lw=0.8)
        ax.set_title(f"frame {i}" + ("" if clip.valid[i] else " (lost)"), fontsize=8)
        ax = fig.add_subplot(grid[1, col])
        overlay = frame.copy()
        overlay[mask > 127] = (0.5 * overlay[mask > 127] + [0, 0, 127]).astype(np.uint8)
        ax.imshow(overlay)
        ax.set_title("head mask", fontsize=8)
        ax = fig.add_subplot(grid[2, col])
        ax.imshow(clip.background(i))
        ax.set_title("background", fontsize=8)
    for ax in fig.axes:
        ax.axis("off")
    t = np.arange(clip.num_frames) / 25
    ax = fig.add_subplot(grid[3, :])
    rot = rotation_degrees(clip.pose)
    for k, name in enumerate(("rx", "ry", "rz")):
        ax.plot(t, rot[:, k] - np.median(rot[:, k]), label=f"{name} (deg, centred)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_ylabel("head rotation")
    ax = fig.add_subplot(grid[4, :])
    mouth = clip.meta["expression_space"].get("mouth_components", [])[:4] or list(range(min(4, clip.expression_dim)))
    for k in mouth:
        ax.plot(t, clip.expression[:, k], label=f"e[{k}]")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("seconds")
    ax.set_ylabel("mouth expression")
    fig.suptitle(f"{clip.name}: {clip.num_frames} frames, {clip.resolution}px, {clip.expression_space}", fontsize=10)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return output
