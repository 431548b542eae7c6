"""Video and audio decoding with PyAV (bundled FFmpeg; no system ffmpeg needed).

Frames are streamed and resampled to a fixed frame rate by timestamp: output frame k shows
the source frame on screen at time ``t0 + k / fps`` (the last source frame whose timestamp
is <= that time), where ``t0`` is the first video frame's timestamp. Audio is decoded,
down-mixed to mono and resampled to 16 kHz, with sample 0 at the same ``t0``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from minerf_base.errors import InputError

SUPPORTED_HINT = "use a common video file (mp4/H.264, avi, mpg/MPEG-1, mov, mkv, webm)"


@dataclass(frozen=True)
class VideoInfo:
    """What the source video says about itself."""

    path: Path
    width: int
    height: int
    fps: float
    duration: float
    codec: str
    container: str
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 4),
            "duration": round(self.duration, 4),
            "codec": self.codec,
            "container": self.container,
            "has_audio": self.has_audio,
            "audio_codec": self.audio_codec,
            "audio_rate": self.audio_rate,
        }


def _open(path: Path):
    import av

    if not path.exists():
        raise InputError(path, "file does not exist", "check the path")
    if path.is_dir():
        raise InputError(path, "is a folder, not a video file", "pass a video file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty (0 bytes)", "the download or copy failed; get the video again")
    try:
        return av.open(str(path))
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable video ({exc.__class__.__name__}: {exc})", SUPPORTED_HINT) from None


def probe(path: str | Path) -> VideoInfo:
    """Read the container header; raise :class:`InputError` if there is no video stream."""
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.video:
            raise InputError(path, "contains no video stream", SUPPORTED_HINT)
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(path, "video stream has no frame size (corrupt header)", SUPPORTED_HINT)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1e6
        else:
            duration = 0.0
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=path,
            width=int(ctx.width),
            height=int(ctx.height),
            fps=float(rate),
            duration=duration,
            codec=ctx.name,
            container=container.format.name,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_rate=int(audio.rate) if audio is not None and audio.rate else None,
        )
    finally:
        container.close()


def iter_frames(path: str | Path, fps: int = 25) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames resampled to ``fps`` by timestamp (streamed, O(1) memory).

    Raises :class:`InputError` on a corrupt stream (a decode error before the end).
    """
    import av

    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0 = None
        next_k = 0
        held: np.ndarray | None = None
        frame_no = 0
        # AVI stores no presentation times (decoders report shifted ones with codec delay):
        # time its frames by their index, as players do.
        by_index = container.format.name == "avi"
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, frame_no, stream, by_index)
                frame_no += 1
                if t0 is None:
                    t0 = t
                rel = t - t0
                # emit every output slot whose time has passed before this frame starts
                while held is not None and next_k / fps < rel - 1e-6:
                    yield held
                    next_k += 1
                held = frame.to_ndarray(format="rgb24")
        except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
            if frame_no == 0:
                raise InputError(path, f"video stream cannot be decoded ({exc})", "the file is corrupt or truncated; re-encode or re-download it") from None
            raise InputError(path, f"video stream is corrupt after {frame_no} frames ({exc})", "re-encode the video (or cut the broken tail) and try again") from None
        if held is None:
            raise InputError(path, "video has zero decodable frames", "the file is empty or corrupt; check it plays in a video player")
        # the last source frame stays on screen for one source frame period
        end = (rel + 1.0 / max(float(stream.average_rate or fps), 1e-6)) if t0 is not None else 0.0
        while next_k / fps < end - 1e-6:
            yield held
            next_k += 1
    finally:
        container.close()


def _frame_time(frame, index: int, stream, by_index: bool = False) -> float:
    if not by_index and frame.pts is not None and stream.time_base is not None:
        return float(frame.pts * stream.time_base)
    rate = float(stream.average_rate or 25)
    return index / rate


def first_frame_time(path: str | Path) -> float:
    """Timestamp (seconds) of the first decoded video frame."""
    container = _open(Path(path))
    try:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            return _frame_time(frame, 0, stream)
        return 0.0
    finally:
        container.close()


def read_audio(path: str | Path, sample_rate: int = 16000, start: float = 0.0) -> np.ndarray | None:
    """Decode the first audio stream to mono float32 at ``sample_rate``; ``None`` if there is none.

    ``start`` is the time (seconds) that sample 0 must correspond to (the first video frame):
    audio that starts later is zero-padded in front, earlier audio is trimmed.
    """
    import av

    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        audio_t0 = None
        try:
            for frame in container.decode(stream):
                if audio_t0 is None:
                    audio_t0 = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
            if not chunks:
                raise InputError(path, f"audio stream cannot be decoded ({exc})", "re-encode the audio track or remove it") from None
        if not chunks:
            return None
        samples = np.concatenate(chunks).astype(np.float32)
        shift = int(round(((audio_t0 or 0.0) - start) * sample_rate))
        if shift > 0:
            samples = np.concatenate([np.zeros(shift, np.float32), samples])
        elif shift < 0:
            samples = samples[-shift:]
        return samples
    finally:
        container.close()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
