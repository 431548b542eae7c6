"""What a dub reads from the source video: its prepared clip (cached by content) and its
full-resolution frames at 25 fps (random access, for timelines that run backwards)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from checkpoints.cache import cache_dir
from minerf.prepare.pipeline import PrepareOptions, prepare
from minerf_base import video_in
from minerf_base.atomic import atomic_write_text
from minerf_base.clip import PreparedClip
from minerf_base.errors import MediaError
from minerf_base.timebase import FPS


def cached_clip(video: Path, resolution: int, progress: bool, face_index: int | None = None) -> PreparedClip:
    """Prepare ``video`` once per content: ``$MINERF_CACHE/clips/<sha256[:16]>-<S>[-f<K>]``.

    A second dub of the same video (even renamed or moved) reuses the prepared clip.
    """
    sha = video_in.file_sha256(video)
    name = f"{sha[:16]}-{resolution}" + ("" if face_index is None else f"-f{face_index}")
    return prepare(video, cache_dir() / "clips" / name, PrepareOptions(resolution=resolution, face_index=face_index), progress=progress)


@dataclass
class SourceFrames:
    """Full-resolution frames of a video at one frame rate (25 fps unless told), stored once
    as JPEG (quality 98) so a timeline can visit them in any order with bounded memory."""

    folder: Path
    count: int

    @classmethod
    def extract(cls, video: Path, folder: Path, expected: int | None, progress: bool = False, fps: float = FPS) -> "SourceFrames":
        """The first ``expected`` frames (None: all) of ``video`` at ``fps`` in ``folder``
        (extracted once; a complete folder is reused)."""
        import cv2
        from tqdm import tqdm

        done = folder / "COMPLETE"
        if done.is_file() and (expected is None or int(done.read_text() or 0) == expected):
            return cls(folder, int(done.read_text()))
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        count = 0
        with tqdm(total=expected, desc="source frames", unit="frames", disable=not progress) as bar:
            for i, rgb in enumerate(video_in.iter_frames(video, fps=fps)):
                if expected is not None and i >= expected:
                    break
                cv2.imwrite(str(folder / f"{i:06d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
                count += 1
                bar.update(1)
        atomic_write_text(done, str(count))
        return cls(folder, count)

    def __getitem__(self, index: int) -> np.ndarray:
        """RGB uint8 frame ``index`` (H, W, 3); :class:`MediaError` when the stored frame is
        missing or unreadable (the frame store was changed under the dub)."""
        import cv2

        path = self.folder / f"{int(index):06d}.jpg"
        image = cv2.imread(str(path))
        if image is None:
            raise MediaError(path, f"stored source frame {int(index)} is missing or unreadable", f"delete {self.folder} and run the dub again (the frames are extracted anew)")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class AtClipRate:
    """Frames stored at ``rate`` (:class:`SourceFrames`) indexed by 25 fps clip frame: clip
    frame ``j`` is the stored frame on screen at ``j / 25`` s."""

    frames: SourceFrames
    rate: Fraction

    def __getitem__(self, index: int) -> np.ndarray:
        k = int(np.floor(int(index) * self.rate / FPS + 1e-9))
        return self.frames[min(k, self.frames.count - 1)]
