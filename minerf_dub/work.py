"""The work folder of a dub: rendered head crops kept beside the output until it is complete,
so that a killed dub, run again with the same command, continues where it stopped.

The folder is ``.NAME.dub-work-<key>`` next to the output ``NAME.mp4``, where ``key`` hashes
everything the crops depend on (the run's weights, the identity, the expressions and the
timing of every output frame, the clip). Each rendered output frame ``k`` is one PNG,
``crop_<k>.png``: the RGB crop and the rendered opacity (8 bits) as alpha, written atomically
as soon as it is rendered. The final video is always composed from these stored crops, so a
resumed dub writes the same frames as an uninterrupted one. The folder (and any older one of
the same output name) is removed once the output is written.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np

WORK_TAG = ".dub-work-"


def request_key(parts: Iterable[Any]) -> str:
    """A 16-hex-digit key of ``parts`` (arrays by dtype, shape and bytes; tensors likewise;
    anything else by its ``repr``)."""
    digest = hashlib.sha256()
    for part in parts:
        if hasattr(part, "detach"):
            part = part.detach().cpu().numpy()
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()[:16]


def model_key(model: Any) -> str:
    """Key of a torch module's weights (every tensor of its state dict)."""
    return request_key(item for name, tensor in sorted(model.state_dict().items()) for item in (name, tensor))


class CropStore:
    """Rendered (crop, opacity) pairs of one dub request, by output frame."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def beside(cls, output: Path, key: str) -> "CropStore":
        output = Path(output)
        return cls(output.parent / f".{output.name}{WORK_TAG}{key}")

    def path(self, k: int) -> Path:
        return self.folder / f"crop_{int(k):07d}.png"

    def has(self, k: int) -> bool:
        return self.path(k).is_file()

    def stored(self, frames: Iterable[int]) -> int:
        """How many of ``frames`` are stored."""
        return sum(self.has(k) for k in frames)

    def save(self, k: int, crop: np.ndarray, opacity: np.ndarray) -> None:
        """Store output frame ``k``'s RGB uint8 crop (S, S, 3) and opacity (S, S) in [0, 1]."""
        import cv2

        self.folder.mkdir(parents=True, exist_ok=True)
        alpha = np.clip(np.round(opacity * 255.0), 0, 255).astype(np.uint8)
        bgra = np.concatenate([crop[..., ::-1], alpha[..., None]], axis=-1)
        ok, data = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:  # pragma: no cover - PNG encoding of a valid array does not fail
            raise RuntimeError(f"could not encode crop {k}")
        tmp = self.path(k).with_suffix(".tmp")
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, self.path(k))

    def load(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 crop, opacity float32) of output frame ``k``; a stored file that cannot
        be read counts as not stored (:class:`FileNotFoundError`)."""
        import cv2

        bgra = cv2.imread(str(self.path(k)), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
            raise FileNotFoundError(self.path(k))
        return np.ascontiguousarray(bgra[..., 2::-1]), bgra[..., 3].astype(np.float32) / 255.0

    def quantized(self, crop: np.ndarray, opacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`load` gives back for a pair just rendered (the opacity at 8 bits)."""
        return crop, np.clip(np.round(opacity * 255.0), 0, 255).astype(np.uint8).astype(np.float32) / 255.0

    def remove_all_for(self, output: Path) -> None:
        """Remove this folder and every other work folder of the same output name."""
        output = Path(output)
        for folder in output.parent.glob(glob.escape(f".{output.name}{WORK_TAG}") + "*"):
            shutil.rmtree(folder, ignore_errors=True)
