"""The expression space shipped with the toolkit: a linear 3D landmark model.

A face-mesh frame (468 points) is explained as::

    X = identity_shape + sum_k e_k * B_k           (head space, decimetres)

``B`` (d x 468 x 3) holds the expression basis, ``identity_shape`` is estimated per clip
(the clip's median canonical shape) and ``e`` (d,) is
the expression vector of the frame. The space is identity-independent because every
identity is removed before the basis is learned and before a frame is encoded: ``e`` says
how far the face is from that person's own neutral, in units of the typical variation.

The basis is learned from face-mesh tracks by :mod:`minerf.prepare.build_expression_space`
(rigid alignment on stable points, per-video median removed, PCA, components scaled to unit
variance). Its file carries an id, e.g. ``mp468-pca-v1``; that id is stored in every clip
and checkpoint, and clips of another space are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from minerf.prepare.geometry import similarity_align

DEFAULT_SPACE_FILE = "expression_mp468_v1.npz"

# Face-mesh points that hardly move with expression: forehead, nose bridge and tip, temples,
# cheekbones, eye corners. Pose is estimated from these.
RIGID_POINTS = np.array(
    [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 109, 338, 67, 297, 108, 337, 127, 356, 234, 454,
     33, 133, 263, 362, 98, 327, 129, 358, 116, 345, 123, 352],
    dtype=np.int64,
)
# Lips (outer + inner contour) and chin / jaw line: what moves when speaking.
LIP_POINTS = np.array(
    [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
     78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415],
    dtype=np.int64,
)
JAW_POINTS = np.array(
    [152, 148, 176, 149, 150, 136, 172, 58, 377, 400, 378, 379, 365, 397, 288, 175, 199, 200, 18, 83, 313, 171, 396, 208, 428],
    dtype=np.int64,
)
MOUTH_POINTS = np.concatenate([LIP_POINTS, JAW_POINTS])
# Face-mesh points that outline the part of the face a new audio track changes: the cheeks
# from below the eyes, round the jaw line to the chin (with the nose's base and the lips inside).
LOWER_FACE_OUTLINE = np.array(
    [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454,
     447, 345, 346, 347, 348, 349, 329, 355, 437, 399, 419, 197, 196, 174, 217, 126, 100, 120, 119, 118, 117, 116, 227],
    dtype=np.int64,
)
LOWER_FACE_JAW_ROOM = 0.06
"""How far (x the crop side) below the outline an opening jaw can reach."""
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
EYE_OUTER_LEFT, EYE_OUTER_RIGHT = 33, 263
EYE_DISTANCE_DM = 0.95  # outer eye corners ~9.5 cm apart: sets the metric scale


def eye_distance(points: np.ndarray) -> np.ndarray:
    """(..., 468, >=2) face-mesh points -> (...,) distance between the outer eye corners."""
    points = np.asarray(points, np.float64)
    return np.linalg.norm(points[..., EYE_OUTER_LEFT, :2] - points[..., EYE_OUTER_RIGHT, :2], axis=-1)


def lower_face_box(landmarks2d: np.ndarray, size: int, jaw_room: float = LOWER_FACE_JAW_ROOM) -> np.ndarray:
    """(x0, y0, x1, y1) float64: the box of the lower-face outline (:data:`LOWER_FACE_OUTLINE`)
    of (468, >=2) face-mesh pixel points, extended down by ``jaw_room`` x ``size`` (where an
    opening jaw can reach): the part of an S x S crop that a dub re-renders."""
    pts = np.asarray(landmarks2d, np.float64)[LOWER_FACE_OUTLINE, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return np.array([x0, y0, x1, y1 + jaw_room * size])


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """(..., 468, >=2) -> (...,) gap between the inner lips (points 13, 14) over the eye distance."""
    points = np.asarray(points, np.float64)
    gap = np.linalg.norm(points[..., UPPER_INNER_LIP, :2] - points[..., LOWER_INNER_LIP, :2], axis=-1)
    return gap / np.maximum(eye_distance(points), 1e-6)


@dataclass(frozen=True)
class ExpressionSpace:
    """A linear landmark expression model. ``basis`` is (d, 468, 3), unit-variance scaled."""

    id: str
    mean_shape: np.ndarray  # (468, 3) decimetres, centred
    basis: np.ndarray  # (d, 468, 3)
    mouth_components: tuple[int, ...]
    source: str

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])

    def to_json(self) -> dict:
        return {"id": self.id, "dim": self.dim, "mouth_components": list(self.mouth_components), "source": self.source}

    # ------------------------------------------------------------------ encoding
    def align(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rigidly align face-mesh frames (N, 468, 3) to the mean shape on the stable points.

        Returns ``(canonical (N, 468, 3) in decimetres, similarity (N, 4, 4))`` where the
        similarity maps canonical points back to the input's coordinates.
        """
        canonical = np.empty_like(points, dtype=np.float64)
        sims = np.zeros((len(points), 4, 4))
        for i, frame in enumerate(points.astype(np.float64)):
            s, r, t = similarity_align(frame[RIGID_POINTS], self.mean_shape[RIGID_POINTS])
            canonical[i] = s * frame @ r.T + t
            sims[i, :3, :3] = r.T / s
            sims[i, :3, 3] = -(r.T @ t) / s
            sims[i, 3, 3] = 1.0
        return canonical, sims

    def _flat_basis(self) -> tuple[np.ndarray, np.ndarray]:
        flat = self.basis.reshape(self.dim, -1)  # rows: scaled orthogonal directions
        norms = np.linalg.norm(flat, axis=1)
        return flat / norms[:, None], norms

    def encode(self, canonical: np.ndarray, identity_shape: np.ndarray) -> np.ndarray:
        """Expression vectors (N, d) of canonical frames relative to ``identity_shape``."""
        unit, norms = self._flat_basis()
        resid = (canonical - identity_shape).reshape(len(canonical), -1)
        return (resid @ unit.T) / norms

    def decode(self, identity_shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """Model points (N, 468, 3) for expressions (N, d)."""
        return identity_shape + np.einsum("nd,dpk->npk", expression, self.basis)

    def identity_of(self, canonical: np.ndarray) -> np.ndarray:
        """A clip's identity shape: its median canonical frame.

        Expressions are therefore measured from each person's own typical face, so a neutral
        face is ``e ~ 0`` for every identity (a face held in one expression for the whole
        clip is absorbed into the identity).
        """
        return np.median(canonical, axis=0)


@lru_cache(maxsize=4)
def load_expression_space(path: str | None = None) -> ExpressionSpace:
    """Load the shipped space (default) or one from ``path`` (an .npz built by the builder)."""
    if path is None:
        with resources.as_file(resources.files("minerf") / "assets" / DEFAULT_SPACE_FILE) as p:
            return _read(Path(p))
    return _read(Path(path))


def _read(path: Path) -> ExpressionSpace:
    from minerf_base.errors import InputError

    if not path.is_file():
        raise InputError(path, "expression space file is missing", "reinstall minerf-dub or build it with `python -m minerf.prepare.build_expression_space`")
    with np.load(path, allow_pickle=False) as npz:
        return ExpressionSpace(
            id=str(npz["id"]),
            mean_shape=npz["mean_shape"].astype(np.float64),
            basis=npz["basis"].astype(np.float64),
            mouth_components=tuple(int(i) for i in npz["mouth_components"]),
            source=str(npz["source"]),
        )
