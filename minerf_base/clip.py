"""The prepared clip: the one contract between preprocessing and every model.

A prepared clip is a folder::

    CLIP_DIR/
      clip.json              written LAST; a folder without it (or with status != complete)
                             is not a clip
      tracks.npz             per-frame arrays (see TRACK_ARRAYS)
      frames/000000.jpg      RGB head crop, S x S, 25 fps (JPEG quality 95)
      masks/000000.png       head mask (uint8, 255 = head: face, hair, ears, neck)
      backgrounds/000000.jpg the frame with the head region replaced by a clean background
      audio.wav              16 kHz mono PCM16, exactly num_frames * 640 samples (if has_audio)

Geometry (all float32):

* ``pose[t]`` (4x4) maps canonical head space to camera space: ``X_cam = R X_head + t``.
  Cameras follow OpenCV: x right, y down, z forward (into the scene).
* ``intrinsics`` (3x3) is a pinhole K for the S x S crop, the same for every frame.
* Canonical head space is measured in decimetres (1 unit = 10 cm); origin near the centre
  of the face landmarks; x to the image right, y down, z away from the camera for a
  frontal face. The head (hair, ears, neck) fits in ``HEAD_BOX``.
* ``expression[t]`` lives in the expression space named by ``clip.json["expression_space"]``
  (id + dimension); models refuse clips of another space.
* ``landmarks2d[t]`` are the detected 468 face-mesh points in crop pixels;
  ``landmarks3d[t]`` are the fitted model points (identity + expression) in head space;
  projecting them with ``pose`` and ``intrinsics`` reproduces ``landmarks2d``.
* ``face_box[t]`` is ``x0, y0, x1, y1`` in crop pixels (for ray sampling).
* ``crop_box`` (in clip.json) is ``[x0, y0, side]`` in original-frame pixels: the crop is
  the square ``[x0, x0 + side) x [y0, y0 + side)`` of the original frame (it may extend past
  the frame edge, where the crop is padded by edge replication), resized to S x S.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minerf_base.errors import InputError
from minerf_base.timebase import FPS, SAMPLE_RATE

FORMAT_NAME = "minerf-prepared-clip"
FORMAT_VERSION = 1
NUM_LANDMARKS = 468
# Axis-aligned box (head space, decimetres) that holds head, hair, ears and neck.
HEAD_BOX = np.array([[-1.5, -2.0, -1.0], [1.5, 1.6, 2.2]], dtype=np.float32)

TRACK_ARRAYS: dict[str, tuple[str, ...]] = {
    # name: shape with symbolic dims (N frames, D expression dim, L landmarks)
    "pose": ("N", 4, 4),
    "intrinsics": (3, 3),
    "expression": ("N", "D"),
    "landmarks2d": ("N", "L", 2),
    "landmarks3d": ("N", "L", 3),
    "identity_shape": ("L", 3),
    "face_box": ("N", 4),
    "valid": ("N",),
}


class ClipError(InputError):
    """A folder that is not a valid prepared clip."""


@dataclass
class PreparedClip:
    """A validated prepared clip. Arrays are loaded eagerly (they are small); images lazily."""

    path: Path
    meta: dict[str, Any]
    pose: np.ndarray
    intrinsics: np.ndarray
    expression: np.ndarray
    landmarks2d: np.ndarray
    landmarks3d: np.ndarray
    identity_shape: np.ndarray
    face_box: np.ndarray
    valid: np.ndarray
    name: str = field(default="")

    # ---------------------------------------------------------------- properties
    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def resolution(self) -> int:
        return int(self.meta["resolution"])

    @property
    def expression_space(self) -> str:
        return str(self.meta["expression_space"]["id"])

    @property
    def expression_dim(self) -> int:
        return int(self.meta["expression_space"]["dim"])

    @property
    def tracked_expression(self) -> np.ndarray:
        """(M, d) the expressions of the frames where the face was tracked (``valid``)."""
        return self.expression[self.valid.astype(bool)]

    @property
    def has_audio(self) -> bool:
        return bool(self.meta["has_audio"])

    @property
    def source_sha256(self) -> str | None:
        """SHA-256 of the source video file (None for clips written without one)."""
        return (self.meta.get("source") or {}).get("sha256")

    @property
    def crop_box(self) -> tuple[int, int, int]:
        x0, y0, side = self.meta["crop_box"]
        return int(x0), int(y0), int(side)

    # ---------------------------------------------------------------- images
    def frame_path(self, index: int) -> Path:
        return self.path / "frames" / f"{index:06d}.jpg"

    def frame(self, index: int) -> np.ndarray:
        """RGB uint8 (S, S, 3)."""
        return read_image(self.frame_path(index), color=True)

    def mask(self, index: int) -> np.ndarray:
        """uint8 (S, S), 255 inside the head."""
        return read_image(self.path / "masks" / f"{index:06d}.png", color=False)

    def background(self, index: int) -> np.ndarray:
        """RGB uint8 (S, S, 3): the frame with the head replaced by background."""
        return read_image(self.path / "backgrounds" / f"{index:06d}.jpg", color=True)

    def audio(self) -> np.ndarray:
        """float32 mono samples at 16 kHz, ``num_frames * 640`` long."""
        if not self.has_audio:
            raise ClipError(self.path, "this clip has no audio track (its source video had none)", "prepare a video with speech, or pass audio separately")
        import soundfile as sf

        data, rate = sf.read(self.path / "audio.wav", dtype="float32", always_2d=False)
        if rate != SAMPLE_RATE:
            raise ClipError(self.path / "audio.wav", f"sample rate {rate}, expected {SAMPLE_RATE}", "re-run minerf prepare")
        return data

    def split(self, holdout: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) frame indices: the last ``holdout`` fraction is the test set (paper)."""
        n_test = max(1, int(round(self.num_frames * holdout)))
        idx = np.arange(self.num_frames)
        return idx[:-n_test], idx[-n_test:]


def read_image(path: Path, *, color: bool) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ClipError(path, "image is missing or unreadable", "re-run minerf prepare on the source video")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


def is_complete(path: str | Path) -> bool:
    """True when ``path`` holds a finished clip (its clip.json says complete)."""
    meta_path = Path(path) / "clip.json"
    if not meta_path.is_file():
        return False
    try:
        return json.loads(meta_path.read_text()).get("status") == "complete"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def load_clip(path: str | Path, *, expression_space: str | None = None, check_files: bool = True) -> PreparedClip:
    """Load and validate a prepared clip; raise :class:`ClipError` saying what is wrong.

    ``expression_space``: when given, the clip must use that space (models pass theirs).
    ``check_files``: also check that every frame, mask and background file exists.
    """
    path = Path(path)
    fix = f"run `minerf prepare VIDEO -o {path}`"
    if not path.is_dir():
        raise ClipError(path, "prepared clip folder does not exist", fix)
    meta_path = path / "clip.json"
    if not meta_path.is_file():
        raise ClipError(path, "not a prepared clip (no clip.json): preparation never ran here or did not finish", fix + " (it resumes unfinished work)")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClipError(meta_path, f"corrupt clip.json ({exc})", fix) from None
    if meta.get("format") != FORMAT_NAME:
        raise ClipError(meta_path, f"not a prepared clip (format {meta.get('format')!r})", fix)
    if meta.get("version") != FORMAT_VERSION:
        raise ClipError(meta_path, f"clip format version {meta.get('version')} is not supported (this toolkit reads {FORMAT_VERSION})", "re-run minerf prepare with this version")
    if meta.get("status") != "complete":
        raise ClipError(path, "preparation did not finish", fix + " again to resume")
    for key in ("num_frames", "resolution", "expression_space", "has_audio", "crop_box", "fps"):
        if key not in meta:
            raise ClipError(meta_path, f"clip.json lacks '{key}'", fix)
    if meta["fps"] != FPS:
        raise ClipError(meta_path, f"clip is at {meta['fps']} fps, expected {FPS}", fix)
    if expression_space is not None and meta["expression_space"]["id"] != expression_space:
        raise ClipError(
            path,
            f"clip uses expression space '{meta['expression_space']['id']}' but the model uses '{expression_space}'",
            "prepare the clip with the tracker the model was trained with, or use a model of this space",
        )
    tracks_path = path / "tracks.npz"
    try:
        with np.load(tracks_path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in TRACK_ARRAYS if name in npz.files}
    except (OSError, ValueError) as exc:
        raise ClipError(tracks_path, f"tracks are missing or corrupt ({exc})", fix) from None
    dims = {"N": int(meta["num_frames"]), "D": int(meta["expression_space"]["dim"]), "L": NUM_LANDMARKS}
    for name, shape in TRACK_ARRAYS.items():
        if name not in arrays:
            raise ClipError(tracks_path, f"array '{name}' is missing", fix)
        want = tuple(dims[s] if isinstance(s, str) else s for s in shape)
        if arrays[name].shape != want:
            raise ClipError(tracks_path, f"array '{name}' has shape {arrays[name].shape}, expected {want}", fix)
        if name != "valid" and not np.all(np.isfinite(arrays[name])):
            raise ClipError(tracks_path, f"array '{name}' holds NaN or inf values", fix)
    if check_files:
        n = dims["N"]
        for sub, ext in (("frames", "jpg"), ("masks", "png"), ("backgrounds", "jpg")):
            folder = path / sub
            count = len(list(folder.glob(f"*.{ext}"))) if folder.is_dir() else 0
            if count < n:
                raise ClipError(folder, f"{count} of {n} {sub} present", fix)
        if meta["has_audio"]:
            if not (path / "audio.wav").is_file():
                raise ClipError(path / "audio.wav", "audio file is missing although clip.json says the clip has audio", fix)
    return PreparedClip(path=path, meta=meta, name=str(meta.get("name", path.name)), **{k: arrays[k] for k in TRACK_ARRAYS})
