"""Speech for audio2exp as a stream: any audio or video file, any rate, mono or stereo.

Audio is turned into 16 kHz mono float32 (decoded and resampled by
:mod:`minerf_base.video_in`, exactly as ``minerf prepare`` reads a clip's audio) and handed on
in blocks, so that a 30-minute file never has to sit in memory at once. Video frame ``t`` at
``FPS`` covers the samples ``[SAMPLES_PER_FRAME t, SAMPLES_PER_FRAME (t + 1))``; a file of
``n`` samples has ``ceil(n / SAMPLES_PER_FRAME)`` frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from minerf_base import video_in
from minerf_base.errors import InputError, MediaError
from minerf_base.timebase import SAMPLE_RATE, SAMPLES_PER_FRAME

BLOCK_SECONDS = 10.0
# Frames quieter than this (dBFS of the raw signal) count as silence whatever the file's level.
SILENCE_DBFS = -70.0
# The level every file is normalised to (95th percentile of frame RMS, dBFS) ...
TARGET_LEVEL_DBFS = -20.0
# ... with at most this much gain either way (quiet noise is not blown up into "speech").
MAX_GAIN_DB = 30.0

__all__ = [
    "AudioSource",
    "frame_count",
    "frame_db",
    "open_audio",
    "array_source",
    "measure_level",
]


def frame_count(num_samples: int) -> int:
    """Number of video frames that ``num_samples`` 16 kHz samples span (last one partial)."""
    return math.ceil(num_samples / SAMPLES_PER_FRAME)


def frame_db(samples: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each whole frame of samples: (n,) -> (n // SAMPLES_PER_FRAME,)."""
    n = samples.size // SAMPLES_PER_FRAME
    frames = samples[: n * SAMPLES_PER_FRAME].reshape(n, SAMPLES_PER_FRAME).astype(np.float64)
    return (10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)).astype(np.float32)


@dataclass
class AudioSource:
    """16 kHz mono audio that can be read (several times) as a stream of float32 blocks."""

    name: str
    num_samples: int
    _blocks: Callable[[], Iterator[np.ndarray]]

    @property
    def num_frames(self) -> int:
        return frame_count(self.num_samples)

    @property
    def seconds(self) -> float:
        return self.num_samples / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield consecutive 1-D float32 blocks whose concatenation is the whole signal."""
        return self._blocks()

    def read_all(self) -> np.ndarray:
        """The whole signal (short files and tests only)."""
        parts = list(self.blocks())
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def array_source(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, name: str = "<array>") -> AudioSource:
    """Wrap an in-memory waveform, (n,) or (n, channels) (channels averaged), of any rate."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.ndim != 1:
        raise InputError(None, f"waveform must be 1-D (samples) or 2-D (samples, channels), got shape {data.shape}", "pass mono or interleaved stereo samples")
    data = np.ascontiguousarray(video_in.resample_audio(data, sample_rate, SAMPLE_RATE))
    block = int(BLOCK_SECONDS * SAMPLE_RATE)

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, data.size, block):
            yield data[start : start + block]

    return AudioSource(name=name, num_samples=int(data.size), _blocks=blocks)


def open_audio(path: str | Path) -> AudioSource:
    """Open an audio or video file (wav, flac, mp3, ogg, m4a, mp4, mkv...) for streaming as
    16 kHz mono: its first audio stream, sample 0 at time 0. Opening decodes the file once to
    count its samples; every :meth:`AudioSource.blocks` pass decodes it again, block by block.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "audio file does not exist", "pass the path of a speech recording (wav, flac, mp3, ogg...)")

    def blocks() -> Iterator[np.ndarray]:
        return video_in.iter_audio(path, SAMPLE_RATE, block=int(BLOCK_SECONDS * SAMPLE_RATE))

    num_samples = sum(block.size for block in blocks())
    if num_samples == 0:
        raise MediaError(path, "the file holds no samples of audio (no audio stream, or an empty one)", "pass a recording with speech, or extract its audio first")
    return AudioSource(name=str(path), num_samples=num_samples, _blocks=blocks)


def measure_level(source: AudioSource) -> tuple[float, np.ndarray]:
    """(level in dBFS, per-frame dBFS of the raw signal (num_frames,)) in one streaming pass.

    The level is the 95th percentile of frame RMS over frames louder than ``SILENCE_DBFS``;
    a file with no such frame has level ``-inf``.
    """
    levels = []
    carry = np.zeros(0, np.float32)
    for block in source.blocks():
        data = np.concatenate([carry, block])
        whole = (data.size // SAMPLES_PER_FRAME) * SAMPLES_PER_FRAME
        levels.append(frame_db(data[:whole]))
        carry = data[whole:]
    if carry.size:
        levels.append(frame_db(np.pad(carry, (0, SAMPLES_PER_FRAME - carry.size))))
    per_frame = np.concatenate(levels) if levels else np.zeros(0, np.float32)
    loud = per_frame[per_frame > SILENCE_DBFS]
    level = float(np.percentile(loud, 95)) if loud.size else float("-inf")
    return level, per_frame


def normalising_gain(level_dbfs: float) -> float:
    """Linear gain that brings a file of ``level_dbfs`` to ``TARGET_LEVEL_DBFS`` (bounded)."""
    if not math.isfinite(level_dbfs):
        return 1.0
    gain_db = float(np.clip(TARGET_LEVEL_DBFS - level_dbfs, -MAX_GAIN_DB, MAX_GAIN_DB))
    return 10.0 ** (gain_db / 20.0)


def iter_windows(source: AudioSource, chunk_frames: int, left: int, right: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Stream ``source`` as overlapping windows, one per chunk of frames.

    Yields ``(first_frame, num_frames, samples)`` where ``samples`` holds the 16 kHz signal over
    ``[640 first_frame - left, 640 (first_frame + num_frames) + right)``, zeros outside the file.
    Memory stays bounded by one chunk plus one source block, whatever the file's length.
    """
    if chunk_frames <= 0:
        raise ValueError("chunk_frames must be positive")
    total = source.num_frames
    blocks = source.blocks()
    buf = np.zeros(left, np.float32)
    buf_start = -left  # absolute sample index of buf[0]
    exhausted = False
    for first in range(0, total, chunk_frames):
        count = min(chunk_frames, total - first)
        start = first * SAMPLES_PER_FRAME - left
        stop = (first + count) * SAMPLES_PER_FRAME + right
        pieces = [buf]
        have = buf_start + buf.size
        while have < stop and not exhausted:
            block = next(blocks, None)
            if block is None:
                exhausted = True
                break
            pieces.append(block)
            have += block.size
        buf = np.concatenate(pieces) if len(pieces) > 1 else buf
        if have < stop:
            buf = np.concatenate([buf, np.zeros(stop - have, np.float32)])
        window = buf[start - buf_start : stop - buf_start]
        yield first, count, window
        keep_from = (first + count) * SAMPLES_PER_FRAME - left  # the next window's start
        buf = buf[keep_from - buf_start :].copy()
        buf_start = keep_from
