"""Face landmarks with mediapipe's face mesh (468 points; model bundled in the wheel, CPU).

Landmarks are returned in pixels of the image they were detected in: ``x * W``, ``y * H``
and mediapipe's relative depth ``z * W`` (same scale as x; smaller = closer to the camera).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import numpy as np

NUM_POINTS = 468
warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


@dataclass
class FaceMeshTracker:
    """Stateful face-mesh detector. ``video=True`` tracks between consecutive frames."""

    max_faces: int = 1
    video: bool = True
    min_detection_confidence: float = 0.5

    def __post_init__(self) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        with _quiet_stderr():
            import mediapipe as mp

            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=not self.video,
                max_num_faces=self.max_faces,
                refine_landmarks=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=0.5,
            )
            _warm_up(self._mesh)

    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Return one ``(468, 3)`` float32 array per detected face, largest face first."""
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        faces = []
        for face in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in face.landmark[:NUM_POINTS]], dtype=np.float32)
            faces.append(pts)
        faces.sort(key=lambda p: -face_size(p))
        return faces

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "FaceMeshTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def face_size(points: np.ndarray) -> float:
    """Larger side of the landmarks' 2D bounding box, in pixels."""
    span = points[:, :2].max(0) - points[:, :2].min(0)
    return float(span.max())


def face_bbox(points: np.ndarray) -> np.ndarray:
    """``x0, y0, x1, y1`` of the landmarks' 2D bounding box."""
    return np.concatenate([points[:, :2].min(0), points[:, :2].max(0)]).astype(np.float32)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ log lines mediapipe prints while building its graph."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)
        os.close(devnull)


def segmenter():
    """mediapipe selfie segmentation (person vs background), general model."""
    with _quiet_stderr():
        import mediapipe as mp

        solution = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        _warm_up(solution)
        return solution


def _warm_up(solution) -> None:
    """Run the graph once on a blank image while stderr is silenced: the TFLite runtime prints
    set-up notes from its threads when a graph first runs, which say nothing to a user."""
    solution.process(np.zeros((64, 64, 3), np.uint8))
