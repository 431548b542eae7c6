"""Writing videos with PyAV: H.264 (yuv420p) + AAC in mp4, or other codecs for tests.

Frames are encoded as they come (streamed); the file is written under a temporary name and
renamed into place at the end, so an interrupted write never leaves a complete-looking file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from minerf_base.atomic import atomic_path
from minerf_base.timebase import FPS, SAMPLE_RATE


@dataclass(frozen=True)
class Encoding:
    """How :func:`write_video` encodes."""

    codec: str = "libx264"
    """Video codec (libx264: H.264 yuv420p; mpeg4, mpeg1video... for other containers)."""
    crf: int = 18
    """libx264 quality (lower: better and larger)."""
    audio_codec: str = "aac"
    """Audio codec (mp2 is written at 44.1 kHz, the others at the audio's rate)."""
    audio_rate: int = SAMPLE_RATE
    """Sample rate of the ``audio`` samples passed in."""


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = FPS,
    audio: np.ndarray | None = None,
    *,
    metadata: Mapping[str, str] | None = None,
    encoding: Encoding = Encoding(),
) -> Path:
    """Encode RGB uint8 ``frames`` (H, W, 3) at ``fps`` (and mono float ``audio`` (S,)) into
    ``path`` (format from its suffix) with container ``metadata``; returns ``path``."""
    from fractions import Fraction

    import av

    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    fmt = _format_of(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format=fmt, options=_container_options(fmt)) as container:
            for key, value in (metadata or {}).items():
                container.metadata[key] = value
            astream = None
            if audio is not None:
                out_rate = encoding.audio_rate if encoding.audio_codec != "mp2" else 44100
                astream = container.add_stream(encoding.audio_codec, rate=out_rate, layout="mono")
            _write_frames(container, frames, rate, encoding)
            if astream is not None:
                _write_audio(container, astream, np.asarray(audio, np.float32), encoding.audio_rate)
    return path


def _write_frames(container, frames: Iterable[np.ndarray], rate, encoding: Encoding) -> None:
    """Encode and mux ``frames`` into a video stream created at the first frame."""
    import av

    stream = None
    for index, frame in enumerate(frames):
        if stream is None:
            h, w = frame.shape[:2]
            stream = container.add_stream(encoding.codec, rate=rate)
            stream.width, stream.height = w - w % 2, h - h % 2
            stream.pix_fmt = "yuv420p"
            if encoding.codec == "libx264":
                stream.options = {"crf": str(encoding.crf), "preset": "veryfast"}
        image = np.ascontiguousarray(frame[: stream.height, : stream.width])
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts = index
        video_frame.time_base = 1 / rate
        for packet in stream.encode(video_frame):
            container.mux(packet)
    if stream is None:
        raise ValueError("no frames to write")
    for packet in stream.encode():
        container.mux(packet)


def _container_options(fmt: str) -> dict[str, str]:
    # keep custom metadata keys (e.g. synthetic_media) in mp4 / mov
    return {"movflags": "use_metadata_tags"} if fmt in ("mp4", "mov") else {}


def _format_of(path: Path) -> str:
    return {".mpg": "mpeg", ".mpeg": "mpeg", ".avi": "avi", ".mov": "mov", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")


def mux_audio(video_only: str | Path, audio: np.ndarray, sample_rate: int, path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Copy the video stream of ``video_only`` (no re-encoding) and add ``audio`` (mono float)
    as AAC into ``path`` (atomic)."""
    import av

    path = Path(path)
    fmt = _format_of(path)
    with av.open(str(video_only)) as source, atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format=fmt, options=_container_options(fmt)) as container:
            for key, value in (metadata or {}).items():
                container.metadata[key] = value
            vin = source.streams.video[0]
            vout = container.add_stream_from_template(vin)
            aout = container.add_stream("aac", rate=sample_rate, layout="mono")
            for packet in source.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                container.mux(packet)
            _write_audio(container, aout, np.asarray(audio, np.float32), sample_rate)
    return path


def _write_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    import av

    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=stream.rate)
    block = 1024
    pts = 0
    for start in range(0, len(audio), block * 16):
        chunk = np.clip(audio[start : start + block * 16], -1, 1).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = pts
        pts += chunk.shape[1]
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for out in resampler.resample(None):
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
