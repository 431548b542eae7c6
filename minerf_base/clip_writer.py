"""Writing prepared clips: streaming per-frame images, then tracks, audio and clip.json last."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from minerf_base.atomic import atomic_path, atomic_write_json
from minerf_base.clip import (
    FORMAT_NAME,
    FORMAT_VERSION,
    TRACK_ARRAYS,
    read_image,
)
from minerf_base.timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

SUBDIRS = ("frames", "masks", "backgrounds")


class ClipWriter:
    """Writes a clip folder piece by piece. Nothing is a valid clip until :meth:`finish`.

    Images are written atomically, so an existing image file is always complete; this is what
    makes preparation resumable (``has_image`` tells which frames are already done).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "clip.json"
        if meta.exists():  # an old clip is being rewritten: it stops being valid right now
            meta.unlink()
        for sub in SUBDIRS:
            (self.path / sub).mkdir(exist_ok=True)

    def image_path(self, kind: str, index: int) -> Path:
        ext = "png" if kind == "masks" else "jpg"
        return self.path / kind / f"{index:06d}.{ext}"

    def has_image(self, kind: str, index: int) -> bool:
        return self.image_path(kind, index).is_file()

    def read_image(self, kind: str, index: int) -> np.ndarray:
        """A written image back (RGB for frames / backgrounds, grayscale for masks)."""
        return read_image(self.image_path(kind, index), color=kind != "masks")

    def write_image(self, kind: str, index: int, image: np.ndarray) -> None:
        """Write an RGB (or grayscale mask) uint8 image atomically."""
        import cv2

        target = self.image_path(kind, index)
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if target.suffix == ".jpg" else []
        ok, buf = cv2.imencode(target.suffix, image, params)
        if not ok:
            raise RuntimeError(f"could not encode {target}")
        with atomic_path(target) as tmp:
            tmp.write_bytes(buf.tobytes())

    def write_tracks(self, arrays: Mapping[str, np.ndarray]) -> None:
        missing = set(TRACK_ARRAYS) - set(arrays)
        if missing:
            raise ValueError(f"tracks lack {sorted(missing)}")
        clean = {k: np.asarray(v, dtype=bool if k == "valid" else np.float32) for k, v in arrays.items()}
        with atomic_path(self.path / "tracks.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **clean)

    def write_audio(self, samples: np.ndarray, num_frames: int) -> None:
        """Write 16 kHz mono audio cut or zero-padded to exactly ``num_frames`` frames."""
        import soundfile as sf

        want = num_frames * SAMPLES_PER_FRAME
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)[:want]
        if samples.size < want:
            samples = np.pad(samples, (0, want - samples.size))
        with atomic_path(self.path / "audio.wav") as tmp:
            sf.write(tmp, np.clip(samples, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")

    def prune(self, num_frames: int) -> None:
        """Remove image files at or beyond ``num_frames`` (left over from an older run)."""
        for sub in SUBDIRS:
            for file in (self.path / sub).iterdir():
                if file.stem.isdigit() and int(file.stem) >= num_frames:
                    file.unlink()

    def finish(self, meta: Mapping[str, Any]) -> None:
        """Write clip.json last: from now on the folder loads as a clip."""
        record = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": FPS, "status": "complete", **dict(meta)}
        for key in ("num_frames", "resolution", "expression_space", "has_audio", "crop_box"):
            if key not in record:
                raise ValueError(f"clip meta lacks {key}")
        atomic_write_json(self.path / "clip.json", record)


def write_clip(
    path: str | Path,
    *,
    frames: Iterable[np.ndarray],
    masks: Iterable[np.ndarray],
    backgrounds: Iterable[np.ndarray],
    tracks: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    audio: np.ndarray | None = None,
) -> Path:
    """Write a whole clip from in-memory data (synthetic scenes, tests, conversions)."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    writer = ClipWriter(path)
    n = 0
    for kind, images in (("frames", frames), ("masks", masks), ("backgrounds", backgrounds)):
        count = 0
        for i, image in enumerate(images):
            writer.write_image(kind, i, image)
            count += 1
        n = n or count
    if audio is not None:
        writer.write_audio(audio, n)
    writer.write_tracks(tracks)
    writer.finish({"num_frames": n, "has_audio": audio is not None, **dict(meta)})
    return path
