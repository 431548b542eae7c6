"""Reading speech for audio2exp: any file soundfile or librosa reads, any rate, mono or stereo.

Audio is turned into 16 kHz mono float32 and handed on in blocks, so that a 30-minute file
never has to sit in memory at once. Video frame ``t`` at 25 fps covers the 16 kHz samples
``[640 t, 640 (t + 1))``; a file of ``n`` samples has ``ceil(n / 640)`` frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from minerf_base.clip import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from minerf_base.errors import InputError

BLOCK_SECONDS = 10.0
# Frames quieter than this (dBFS of the raw signal) count as silence whatever the file's level.
SILENCE_DBFS = -70.0
# The level every file is normalised to (95th percentile of frame RMS, dBFS) ...
TARGET_LEVEL_DBFS = -20.0
# ... with at most this much gain either way (quiet noise is not blown up into "speech").
MAX_GAIN_DB = 30.0

__all__ = [
    "AudioSource",
    "SAMPLE_RATE",
    "SAMPLES_PER_FRAME",
    "FPS",
    "frame_count",
    "frame_db",
    "open_audio",
    "array_source",
    "measure_level",
]


def frame_count(num_samples: int) -> int:
    """Number of 25 fps frames that ``num_samples`` 16 kHz samples span (last one partial)."""
    return math.ceil(num_samples / SAMPLES_PER_FRAME)


def frame_db(samples: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each whole 640-sample frame: (n,) -> (n // 640,)."""
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
    """Wrap an in-memory waveform, (n,) or (n, channels), of any rate."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.ndim != 1:
        raise InputError(None, f"waveform must be 1-D (samples) or 2-D (samples, channels), got shape {data.shape}", "pass mono or interleaved stereo samples")
    if sample_rate != SAMPLE_RATE:
        import soxr

        data = soxr.resample(data, sample_rate, SAMPLE_RATE).astype(np.float32)
    data = np.ascontiguousarray(data)
    block = int(BLOCK_SECONDS * SAMPLE_RATE)

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, data.size, block):
            yield data[start : start + block]

    return AudioSource(name=name, num_samples=int(data.size), _blocks=blocks)


def open_audio(path: str | Path) -> AudioSource:
    """Open an audio (or video) file for streaming as 16 kHz mono.

    Files libsndfile reads (wav, flac, ogg, mp3...) are streamed block by block and resampled
    on the fly; video files and other containers (mp4, m4a, mkv...) are decoded whole with
    PyAV; anything else goes through ``librosa.load`` (whole file in memory).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "audio file does not exist", "pass the path of a speech recording (wav, flac, mp3, ogg...)")
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return _container_source(path)
    if info.frames <= 0:
        raise InputError(path, "the audio file holds no samples", "pass a recording with speech")
    rate = int(info.samplerate)
    num_samples = _resampled_length(int(info.frames), rate)

    def blocks() -> Iterator[np.ndarray]:
        import soxr

        stream = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        emitted = 0
        block = max(1, int(BLOCK_SECONDS * rate))
        for chunk in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            mono = np.ascontiguousarray(chunk.mean(axis=1), dtype=np.float32)
            out = mono if stream is None else stream.resample_chunk(mono)
            if out.size:
                out = out[: max(0, num_samples - emitted)]
                emitted += out.size
                yield out
        if stream is not None:
            tail = stream.resample_chunk(np.zeros(0, np.float32), last=True)[: max(0, num_samples - emitted)]
            emitted += tail.size
            if tail.size:
                yield tail
        if emitted < num_samples:  # resampler rounding: pad the last few samples with silence
            yield np.zeros(num_samples - emitted, np.float32)

    return AudioSource(name=str(path), num_samples=num_samples, _blocks=blocks)


def _resampled_length(frames: int, rate: int) -> int:
    return frames if rate == SAMPLE_RATE else int(round(frames * SAMPLE_RATE / rate))


def _container_source(path: Path) -> AudioSource:
    """Video files and containers soundfile cannot read (mp4, m4a, mkv, webm...): decoded
    whole with PyAV (~115 MB per 30 minutes), falling back to librosa."""
    from minerf_base.video_in import read_audio

    try:
        samples = read_audio(path, SAMPLE_RATE)
    except Exception:  # not a container PyAV can decode: let librosa try its backends
        return _librosa_source(path)
    if samples is None or samples.size == 0:
        raise InputError(path, "the file has no audio stream", "pass a file with speech, or extract its audio first")
    return array_source(samples, SAMPLE_RATE, name=str(path))


def _librosa_source(path: Path) -> AudioSource:
    import warnings

    import librosa

    try:
        with warnings.catch_warnings():  # librosa warns before its audioread fallback
            warnings.simplefilter("ignore")
            data, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True)
    except Exception as exc:  # librosa raises many types for unreadable input
        raise InputError(path, f"cannot read audio from this file ({type(exc).__name__}: {exc})", "convert it to WAV or FLAC (e.g. `ffmpeg -i IN -ac 1 -ar 16000 out.wav`)") from None
    if data.size == 0:
        raise InputError(path, "the audio file holds no samples", "pass a recording with speech")
    return array_source(data, SAMPLE_RATE, name=str(path))


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
