"""Media in: every video and audio file the toolkit reads goes through here (PyAV, bundled
FFmpeg; no system ffmpeg needed).

* :func:`open_media` is the one opener: a missing, empty or unreadable file is a
  :class:`~minerf_base.errors.MediaError` that names it and says how to fix it.
* :func:`probe` reads the container header (:class:`VideoInfo`).
* :func:`iter_frames` streams RGB frames resampled to a constant frame rate by timestamp,
  by one of two rules (``rule``):

  ``"hold"`` (prepared clips): output frame k shows the source frame on screen at time
  ``t0 + k / fps`` (the last source frame whose timestamp is <= that time), where ``t0`` is
  the first video frame's timestamp.

  ``"nearest"`` (SyncNet scoring, as the reference's ``ffmpeg -r 25``): FFmpeg's ``fps``
  filter; each source frame goes to the output slot nearest its timestamp and fills the slots
  up to the next source frame's.
* :func:`iter_audio` / :func:`read_audio` decode the first audio stream, down-mixed to mono and
  resampled (``libswresample``) to 16 kHz as float32 or int16, optionally aligned so that
  sample 0 is at a given time (the first video frame). :func:`resample_audio` converts
  in-memory samples with the same resampler.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Literal, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from minerf_base.errors import MediaError
from minerf_base.timebase import FPS, SAMPLE_RATE

log = logging.getLogger(__name__)

SUPPORTED_HINT = "use a common video or audio file that plays in a media player (mp4/H.264, avi, mpg/MPEG-1, mov, mkv, webm; wav, flac, mp3, m4a, ogg)"
AUDIO_BLOCK = 10 * SAMPLE_RATE
"""Samples per block that :func:`iter_audio` yields (the last block may be shorter)."""

FrameRule = Literal["hold", "nearest"]
_AUDIO_FORMATS = {np.dtype(np.float32): "flt", np.dtype(np.int16): "s16"}


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


def open_media(path: str | Path):
    """An open PyAV container of ``path``; :class:`MediaError` when it cannot be read."""
    import av

    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file does not exist", "check the path")
    if path.is_dir():
        raise MediaError(path, "is a folder, not a media file", "pass a video or audio file")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)", "the download or copy failed; get the file again")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(path, f"not a readable video or audio file ({exc.__class__.__name__}: {exc})", SUPPORTED_HINT) from None


def probe(path: str | Path) -> VideoInfo:
    """Read the container header; :class:`MediaError` if there is no video stream."""
    path = Path(path)
    container = open_media(path)
    try:
        stream = _video_stream(container, path)
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise MediaError(path, "video stream has no frame size (corrupt header)", SUPPORTED_HINT)
        rate = stream.average_rate or stream.guessed_rate or Fraction(FPS)
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


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise MediaError(path, "contains no video stream", SUPPORTED_HINT)
    return container.streams.video[0]


class _Rule(NamedTuple):
    """How source frames at times ``t`` (seconds from the first) fill output slots ``k``."""

    before: Callable[[int, float, float], bool]
    """``before(k, t, fps)``: slot k is filled by the frames preceding one at time t."""
    shows_last: bool
    """The last source frame fills at least one slot."""


_RULES: dict[str, _Rule] = {
    "hold": _Rule(lambda k, t, fps: k / fps < t - 1e-6, shows_last=False),
    "nearest": _Rule(lambda k, t, fps: k < math.floor(t * fps + 0.5), shows_last=True),
}


def iter_frames(path: str | Path, fps: int = FPS, rule: FrameRule = "hold") -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) resampled to ``fps`` by timestamp (streamed, O(1)
    memory) by ``rule`` (see the module doc).

    Raises :class:`MediaError` on a file without video, or a corrupt stream (a decode error
    before the end).
    """
    import av

    path = Path(path)
    before, shows_last = _RULES[rule]
    container = open_media(path)
    try:
        stream = _video_stream(container, path)
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
                # emit every output slot that the frames before this one fill
                while held is not None and before(next_k, rel, fps):
                    yield held
                    next_k += 1
                held = frame.to_ndarray(format="rgb24")
        except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
            if frame_no == 0:
                raise MediaError(path, f"video stream cannot be decoded ({exc})", "the file is corrupt or truncated; re-encode or re-download it") from None
            raise MediaError(path, f"video stream is corrupt after {frame_no} frames ({exc})", "re-encode the video (or cut the broken tail) and try again") from None
        if held is None:
            raise MediaError(path, "video has zero decodable frames", "the file is empty or corrupt; check it plays in a video player")
        # the last source frame stays on screen for one source frame period
        end = rel + 1.0 / max(float(stream.average_rate or fps), 1e-6)
        last = next_k + 1 if shows_last else 0
        while before(next_k, end, fps) or next_k < last:
            yield held
            next_k += 1
    finally:
        container.close()


def _frame_time(frame, index: int, stream, by_index: bool = False) -> float:
    if not by_index and frame.pts is not None and stream.time_base is not None:
        return float(frame.pts * stream.time_base)
    rate = float(stream.average_rate or FPS)
    return index / rate


def first_frame_time(path: str | Path) -> float:
    """Timestamp (seconds) of the first decoded video frame."""
    path = Path(path)
    container = open_media(path)
    try:
        stream = _video_stream(container, path)
        for frame in container.decode(stream):
            return _frame_time(frame, 0, stream)
        return 0.0
    finally:
        container.close()


def iter_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    *,
    start: float | None = 0.0,
    dtype: DTypeLike = np.float32,
    block: int = AUDIO_BLOCK,
) -> Iterator[np.ndarray]:
    """Stream the first audio stream of ``path`` as mono blocks of ``block`` samples at
    ``sample_rate``, float32 in [-1, 1] or int16 (``dtype``); FFmpeg's down-mix and resampler.

    ``start``: the time (seconds) that sample 0 must correspond to (e.g. the first video
    frame): audio that starts later is zero-padded in front, earlier audio is trimmed;
    ``None``: sample 0 is the first decoded sample. Yields nothing for a file without audio. A decode error before any sample is a :class:`MediaError`; one
    later ends the stream there (with a warning).
    """
    path = Path(path)
    container = open_media(path)
    try:
        if not container.streams.audio:
            return
        chunks = _decoded_audio(container, path, sample_rate, np.dtype(dtype))
        yield from _reblock(_aligned(chunks, start, sample_rate), block)
    finally:
        container.close()


def _decoded_audio(container, path: Path, sample_rate: int, dtype: np.dtype) -> Iterator[tuple[float | None, np.ndarray]]:
    """(timestamp of the stream's first frame, mono chunk) pairs, resampled, flush included."""
    import av

    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format=_AUDIO_FORMATS[dtype], layout="mono", rate=sample_rate)
    t0 = None
    seconds = 0.0
    try:
        for frame in container.decode(stream):
            if t0 is None:
                t0 = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            for out in resampler.resample(frame):
                seconds += out.samples / sample_rate
                yield t0, out.to_ndarray().reshape(-1)
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        if seconds == 0.0:
            raise MediaError(path, f"audio stream cannot be decoded ({exc})", "re-encode the audio track or remove it") from None
        log.warning("%s: audio stream is corrupt after %.2f s (%s); the rest is left out", path, seconds, exc)
        return
    for out in resampler.resample(None):
        yield t0, out.to_ndarray().reshape(-1)


def _aligned(chunks: Iterator[tuple[float | None, np.ndarray]], start: float | None, sample_rate: int) -> Iterator[np.ndarray]:
    """The chunks shifted so that sample 0 is at time ``start`` (unshifted for ``None``)."""
    skip = 0
    first = True
    for t0, chunk in chunks:
        if first and start is not None:
            shift = int(round(((t0 or 0.0) - start) * sample_rate))
            if shift > 0:
                yield np.zeros(shift, chunk.dtype)
            skip = max(0, -shift)
        first = False
        if skip:
            dropped = min(skip, chunk.size)
            chunk, skip = chunk[dropped:], skip - dropped
        if chunk.size:
            yield chunk


def _reblock(chunks: Iterator[np.ndarray], block: int) -> Iterator[np.ndarray]:
    pending: list[np.ndarray] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += chunk.size
        if size >= block:
            data = np.concatenate(pending)
            whole = (data.size // block) * block
            for lo in range(0, whole, block):
                yield data[lo : lo + block]
            pending, size = [data[whole:]], data.size - whole
    if size:
        yield np.concatenate(pending)


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, start: float | None = 0.0, dtype: DTypeLike = np.float32) -> np.ndarray | None:
    """The whole first audio stream as :func:`iter_audio` streams it, shape (S,); ``None`` if
    the file has no audio stream or it decodes to no samples."""
    blocks = list(iter_audio(path, sample_rate, start=start, dtype=dtype))
    return np.concatenate(blocks) if blocks else None


def resample_audio(samples: np.ndarray, sample_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 ``samples`` (n,) at ``sample_rate`` -> float32 at ``target_rate``, with the
    resampler that :func:`iter_audio` uses (so a file and its samples in memory agree)."""
    import av

    data = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    if sample_rate == target_rate or data.size == 0:
        return data
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    frame = av.AudioFrame.from_ndarray(data[None], format="flt", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = 0
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
