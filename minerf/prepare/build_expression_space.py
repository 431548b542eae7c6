"""Build the expression space from face-mesh tracks of talking-face videos.

    python -m minerf.prepare.build_expression_space VIDEO... -o minerf/assets/expression_mp468_v1.npz

Steps: face mesh on every frame (25 fps); generalised Procrustes alignment on the stable
points to a common mean shape, scaled to decimetres; per video, the median frame is removed
(identity); PCA of the remaining motion; the first ``d`` components, scaled so that the
coefficients have unit variance on the build data, are the basis. Components whose motion
is concentrated on the lips and jaw are listed as mouth components.

The shipped file was built from the eight GRID clips (Cooke et al. 2006, CC BY 4.0) listed
in docs/prepared-clip.md with ``--dim 24``.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from minerf.prepare.expression_space import (
    EYE_DISTANCE_DM,
    EYE_OUTER_LEFT,
    EYE_OUTER_RIGHT,
    MOUTH_POINTS,
    RIGID_POINTS,
    ExpressionSpace,
)
from minerf.prepare.face_tracker import FaceMeshTracker
from minerf.prepare.geometry import similarity_align
from minerf_base.atomic import atomic_path
from minerf_base.video_in import iter_frames


def track_video(path: Path) -> np.ndarray:
    """Face-mesh points (N, 468, 3) of every frame where a face was found."""
    frames = []
    with FaceMeshTracker(max_faces=1, video=True) as tracker:
        for rgb in iter_frames(path):
            faces = tracker.detect(rgb)
            if faces:
                frames.append(faces[0])
    return np.stack(frames).astype(np.float64)


def generalised_procrustes(tracks: list[np.ndarray], iterations: int = 3) -> np.ndarray:
    """Mean shape (468, 3) in decimetres, centred, from all frames of all tracks."""
    ref = tracks[0][0].copy()
    for _ in range(iterations):
        acc = np.zeros_like(ref)
        count = 0
        for track in tracks:
            for frame in track:
                s, r, t = similarity_align(frame[RIGID_POINTS], ref[RIGID_POINTS])
                acc += s * frame @ r.T + t
                count += 1
        ref = acc / count
        ref -= ref.mean(0)
        ref *= EYE_DISTANCE_DM / np.linalg.norm(ref[EYE_OUTER_LEFT] - ref[EYE_OUTER_RIGHT])
    return ref


def build(tracks: list[np.ndarray], dim: int, space_id: str, source: str) -> ExpressionSpace:
    mean = generalised_procrustes(tracks)
    probe = ExpressionSpace(space_id, mean, np.zeros((0, 468, 3)), (), source)
    residuals = []
    for track in tracks:
        canonical, _ = probe.align(track)
        residuals.append((canonical - np.median(canonical, axis=0)).reshape(len(track), -1))
    data = np.concatenate(residuals)
    data -= data.mean(0)
    _, sing, vt = np.linalg.svd(data, full_matrices=False)
    std = sing[:dim] / np.sqrt(len(data) - 1)
    basis = (vt[:dim] * std[:, None]).reshape(dim, 468, 3)
    # Sign convention: each component's largest point motion points along +x, +y or +z.
    for k in range(dim):
        flat = basis[k].reshape(-1)
        if flat[np.argmax(np.abs(flat))] < 0:
            basis[k] *= -1
    energy = (basis**2).sum(-1)
    mouth_share = energy[:, MOUTH_POINTS].sum(1) / energy.sum(1)
    # a mouth component moves the lip and jaw points at least twice as much as the average point
    enrichment = mouth_share / (len(MOUTH_POINTS) / energy.shape[1])
    mouth = tuple(int(k) for k in np.nonzero(enrichment >= 2.0)[0])
    return ExpressionSpace(space_id, mean, basis, mouth, source)


@click.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .npz file.")
@click.option("--dim", default=24, show_default=True, type=click.IntRange(2, 200), help="Number of expression components d.")
@click.option("--id", "space_id", default="mp468-pca-v1", show_default=True, help="Id stored in every clip of this space.")
def main(videos: tuple[Path, ...], output: Path, dim: int, space_id: str) -> None:
    """Build an expression space from talking-face VIDEOS."""
    tracks = [track_video(v) for v in videos]
    source = "face-mesh tracks of: " + ", ".join(v.name for v in videos)
    space = build(tracks, dim, space_id, source)
    total = sum(len(t) for t in tracks)
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                id=np.array(space.id),
                mean_shape=space.mean_shape.astype(np.float32),
                basis=space.basis.astype(np.float32),
                mouth_components=np.array(space.mouth_components, dtype=np.int64),
                source=np.array(space.source),
            )
    click.echo(f"{output}: {space.id}, d={space.dim}, mouth components {list(space.mouth_components)}, {total} frames")


if __name__ == "__main__":
    main()
