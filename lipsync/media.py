"""Media as SyncNet's reference pipeline sees it, read through :mod:`minerf_base.video_in`.

The reference converts every video with ``ffmpeg -r 25`` (frames are repeated or dropped to
reach a constant 25 fps: the ``"nearest"`` frame rule of :func:`minerf_base.video_in.iter_frames`)
and every audio track with ``ffmpeg -ac 1 -ar 16000`` to PCM16 (int16 samples, sample 0 the
first decoded sample). What is lipsync's own here: speech is required (a file without it is an
error that says to pass ``--audio``), and audio is shifted by whole frames to test offsets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from minerf_base import video_in
from minerf_base.errors import MediaError
from minerf_base.timebase import SAMPLES_PER_FRAME


def iter_video_frames(path: str | Path) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of ``path`` at 25 fps, selected as ``ffmpeg -r 25`` does."""
    return video_in.iter_frames(path, rule="nearest")


def read_audio(path: str | Path) -> np.ndarray:
    """The first audio stream of ``path`` as int16 mono samples at 16 kHz, shape (S,);
    :class:`MediaError` when the file holds no audio."""
    samples = video_in.read_audio(path, start=None, dtype=np.int16)
    if samples is None:
        raise MediaError(path, "no audio track in this file (or one that decodes to no samples)", "pass the speech separately with --audio FILE (Python: audio=...)")
    return samples


def shift_audio(samples: np.ndarray, frames: int) -> np.ndarray:
    """Delay (frames > 0) or advance (frames < 0) audio (S,) by whole 25 fps frames, padding
    with silence to the same length; delaying by ``s`` frames moves the scored offset by ``-s``."""
    n = min(abs(frames) * SAMPLES_PER_FRAME, len(samples))
    pad = np.zeros(n, samples.dtype)
    if frames > 0:
        return np.concatenate([pad, samples[: len(samples) - n]])
    if frames < 0:
        return np.concatenate([samples[n:], pad])
    return samples
