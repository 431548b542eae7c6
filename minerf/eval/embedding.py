"""Face-recognition embeddings and ACD, the identity-preservation metric of the paper.

The embedding is dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``,
128-d, trained for face verification) aligned by dlib's 5-point shape predictor. Both weight
files come with the PyPI package ``face-recognition-models``; dlib itself comes from the
prebuilt ``dlib-bin`` wheel. Nothing is downloaded at run time.

ACD (average content distance, as the paper uses it for identity preservation):

    ACD = mean_k [ 1 - cos(f(rendered_k), mean_j f(reference_j)) ]

where ``f`` is the unit-length 128-d embedding and the mean of the reference embeddings is
normalised to unit length again. 0 means the rendered faces carry exactly the identity of the
reference frames; dlib's own verification threshold (Euclidean 0.6 between unit vectors)
corresponds to a cosine distance of 0.18. The range is [0, 2].
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from minerf_base.errors import InputError

RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
INSTALL_FIX = "install the face-recognition weights: pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0 (bash install.sh does)"
MODEL_NAME = "dlib face-recognition ResNet v1 (128-d), 5-point alignment (face-recognition-models 0.3.0)"


def default_weights_dir() -> Path:
    """The ``models`` folder of the installed ``face_recognition_models`` package.

    Found through ``importlib`` (the package's own ``pkg_resources`` lookup fails on current
    setuptools).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(None, "the package face-recognition-models (identity-embedding weights) is not installed", INSTALL_FIX)
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@dataclass
class EmbedderConfig:
    """How face crops become identity embeddings."""

    weights_dir: Path | None = None
    """Folder holding the two dlib ``.dat`` files (default: the installed face-recognition-models)."""
    min_side: int = 200
    """Crops are upsampled (bicubic) until their longer side has this many pixels: dlib's
    frontal detector finds faces from ~80 px, and our renders are 60-130 px."""
    jitter: int = 0
    """dlib's ``num_jitters`` (random re-crops averaged; 0 = one pass, deterministic)."""


class FaceEmbedder:
    """dlib's face-recognition ResNet: an RGB face crop -> a 128-d unit vector."""

    def __init__(self, cfg: EmbedderConfig | None = None) -> None:
        self.cfg = cfg or EmbedderConfig()
        try:
            import dlib
        except ImportError as exc:
            raise InputError(None, f"dlib is not importable ({exc})", INSTALL_FIX) from exc
        folder = Path(self.cfg.weights_dir) if self.cfg.weights_dir is not None else default_weights_dir()
        for name in (RECOGNITION_FILE, LANDMARKS_FILE):
            if not (folder / name).is_file():
                raise InputError(folder / name, "face-recognition weight file not found", f"pass a folder holding {RECOGNITION_FILE} and {LANDMARKS_FILE}, or {INSTALL_FIX}")
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(folder / LANDMARKS_FILE))
        self._net = dlib.face_recognition_model_v1(str(folder / RECOGNITION_FILE))
        self.detected = 0
        """How many embedded crops had a face found by the detector (the rest used the whole crop)."""
        self.embedded = 0

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        import cv2

        image = np.asarray(crop)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB crop (H, W, 3), got shape {image.shape}")
        if image.dtype != np.uint8:
            image = (np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
        h, w = image.shape[:2]
        scale = self.cfg.min_side / max(h, w)
        if scale > 1.0:
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(image)

    def embed(self, crop: np.ndarray) -> np.ndarray:
        """Embedding (128,) float64 of unit length of an RGB face crop (H, W, 3), uint8 or float in [0, 1].

        The largest face dlib's frontal detector finds is aligned; when it finds none (a blurry
        render, an unusual face) the whole crop is taken as the face rectangle, since our crops
        are face crops already.
        """
        image = self._prepare(crop)
        faces = self._detector(image, 0)
        h, w = image.shape[:2]
        rect = max(faces, key=lambda r: r.area()) if len(faces) else self._dlib.rectangle(0, 0, w - 1, h - 1)
        shape = self._landmarks(image, rect)
        vec = np.asarray(self._net.compute_face_descriptor(image, shape, self.cfg.jitter), dtype=np.float64)
        self.detected += int(len(faces) > 0)
        self.embedded += 1
        return vec / max(np.linalg.norm(vec), 1e-12)

    def embed_many(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings (N, 128) of N crops."""
        return np.stack([self.embed(c) for c in crops]) if len(crops) else np.zeros((0, 128))


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    """Unit-length mean (128,) of embeddings (N, 128): the identity's reference embedding."""
    mean = np.asarray(embeddings, np.float64).mean(axis=0)
    return mean / max(np.linalg.norm(mean), 1e-12)


def embedding_acd(rendered: np.ndarray, reference: np.ndarray) -> float:
    """ACD of embeddings: mean over ``rendered`` (N, 128) of the cosine distance to the unit
    mean of ``reference`` (M, 128). Both sets hold unit vectors."""
    rendered = np.asarray(rendered, np.float64)
    if len(rendered) == 0 or len(reference) == 0:
        raise ValueError("ACD needs at least one rendered and one reference embedding")
    return float(np.mean(1.0 - rendered @ mean_embedding(reference)))


def acd(rendered_crops: Sequence[np.ndarray], reference_crops: Sequence[np.ndarray], embedder: FaceEmbedder | None = None) -> float:
    """ACD of RGB face crops: mean cosine distance between each rendered crop's embedding and
    the mean embedding of the reference crops (the target identity's real frames)."""
    embedder = embedder or FaceEmbedder()
    return embedding_acd(embedder.embed_many(rendered_crops), embedder.embed_many(reference_crops))
