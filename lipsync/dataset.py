"""Training samples for an own SyncNet expert, cut from prepared clips.

A sample is one 5-frame lip window of a clip and the MFCC windows of the same clip at offsets
``-max_offset..+max_offset`` frames: offset 0 is the in-sync pair, and ``negatives`` random
offsets at least ``min_gap`` frames away give off-sync pairs (as Wav2Lip trains its expert, with several negatives per
window). Lip
windows are cropped like the scorer crops its face tracks (:func:`lipsync.faces.crop_face`
around the clip's smoothed ``face_box``), with a random shift and zoom per window so that the
expert tolerates the difference between face-mesh boxes and detector boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lipsync.faces import CROP_SIZE, crop_face, crop_geometry
from lipsync.mfcc import MFCC_PER_VIDEO_FRAME, NUM_CEPSTRA, mfcc, to_int16_scale
from lipsync.model import WINDOW_FRAMES, WINDOW_MFCC
from minerf_base.clip import ClipError, load_clip


@dataclass
class ClipData:
    """One clip in memory: frames (N, S, S, 3) RGB, crop geometry (N, 3), MFCC (13, M)."""

    name: str
    frames: np.ndarray
    geometry: np.ndarray
    cepstra: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def load_training_clip(path: str | Path, smooth_kernel: int = 13) -> ClipData:
    """Load a prepared clip with audio for expert training (raises :class:`ClipError`)."""
    clip = load_clip(path)
    if not clip.has_audio:
        raise ClipError(clip.path, "clip has no audio; the expert learns from speech", "leave this clip out or prepare a video with speech")
    frames = np.stack([clip.frame(i) for i in range(clip.num_frames)])
    geometry = crop_geometry(clip.face_box.astype(np.float64), smooth_kernel)
    return ClipData(name=clip.name, frames=frames, geometry=geometry, cepstra=mfcc(to_int16_scale(clip.audio())).T.astype(np.float32))


SAMPLE_BY = ("window", "clip")
"""How :class:`SyncPairs` draws lip windows: in proportion to each clip's windows, or each clip
equally often."""


class SyncPairs:
    """Random (lip window, audio windows at every offset) samples from clips."""

    def __init__(self, clips: Sequence[ClipData], max_offset: int, negatives: int, jitter: float, min_gap: int = 1, crop_scale: float = 0.40, by: str = "window"):
        choices = 2 * (max_offset - min_gap + 1)
        if not 1 <= min_gap <= max_offset or not 1 <= negatives <= choices:
            raise ValueError(f"negatives must be between 1 and {choices} for offsets {min_gap}..{max_offset} frames")
        if by not in SAMPLE_BY:
            raise ValueError(f"windows are drawn by one of {SAMPLE_BY}, not '{by}'")
        self.max_offset = max_offset
        self.negatives = negatives
        self.min_gap = min_gap
        self.jitter = jitter
        self.crop_scale = crop_scale
        # lip window v needs audio windows v - K .. v + K, each ending inside the MFCC
        self.clips = []
        for clip in clips:
            last_audio = (clip.cepstra.shape[1] - WINDOW_MFCC) // MFCC_PER_VIDEO_FRAME
            hi = min(clip.num_frames - WINDOW_FRAMES, last_audio - max_offset)
            if hi >= max_offset:
                self.clips.append((clip, max_offset, hi))
        if not self.clips:
            raise ValueError(f"no clip is long enough for lip windows with offsets up to {max_offset} frames (need {2 * max_offset + 6} frames)")
        weights = np.array([hi - lo + 1 if by == "window" else 1 for _, lo, hi in self.clips], dtype=np.float64)
        self.clip_probabilities = weights / weights.sum()
        """(clips,) how often each usable clip is drawn (see ``by``)."""

    @property
    def num_windows(self) -> int:
        return sum(hi - lo + 1 for _, lo, hi in self.clips)

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(lip (B, 5, 224, 224, 3) uint8 RGB, audio (B, 1 + negatives, 13, 20) float32); the
        in-sync audio window comes first, then windows at distinct random offsets in +-K."""
        picks = rng.choice(len(self.clips), size=batch_size, p=self.clip_probabilities)
        others = np.concatenate([np.arange(-self.max_offset, 1 - self.min_gap), np.arange(self.min_gap, self.max_offset + 1)])
        lips = np.empty((batch_size, WINDOW_FRAMES, CROP_SIZE, CROP_SIZE, 3), np.uint8)
        auds = np.empty((batch_size, 1 + self.negatives, NUM_CEPSTRA, WINDOW_MFCC), np.float32)
        for b, c in enumerate(picks):
            clip, lo, hi = self.clips[c]
            v = int(rng.integers(lo, hi + 1))
            zoom = 1.0 + rng.uniform(-self.jitter, self.jitter)
            shift = rng.uniform(-self.jitter, self.jitter, size=2)
            for t in range(WINDOW_FRAMES):
                size, cx, cy = clip.geometry[v + t]
                lips[b, t] = crop_face(clip.frames[v + t], size * zoom, cx + shift[0] * size, cy + shift[1] * size, self.crop_scale)
            offsets = np.concatenate([[0], rng.choice(others, size=self.negatives, replace=False)])
            starts = (v + offsets) * MFCC_PER_VIDEO_FRAME
            auds[b] = np.stack([clip.cepstra[:, s : s + WINDOW_MFCC] for s in starts])
        return lips, auds

