"""Reading videos at 25 fps and audio as 16 kHz mono int16, as the reference's ffmpeg calls do.

The reference converts every video with ``ffmpeg -r 25`` (frames are repeated or dropped to
reach a constant 25 fps) and every audio track with ``ffmpeg -ac 1 -ar 16000`` to PCM16.
Here PyAV (which bundles the same FFmpeg libraries) decodes, the 25 fps frame selection
follows FFmpeg's ``fps`` rule (each source frame goes to the output slot nearest its
timestamp; it fills the slots up to the next source frame), and ``libswresample`` resamples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from minerf_base.errors import InputError

FPS = 25
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640


def _open(path: Path):
    import av

    if not path.is_file():
        raise InputError(path, "file does not exist", "check the path")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(path, f"cannot read this file as video or audio ({exc})", "pass a video (mp4, mov, mpg, avi...) or audio (wav, mp3, flac...) file that plays in a media player") from None


def iter_video_frames(path: Path) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of ``path`` resampled to 25 fps."""
    import av

    container = _open(path)
    try:
        if not container.streams.video:
            raise InputError(path, "no video stream in this file", "pass a video file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        src_fps = float(stream.average_rate or FPS)
        start = None
        emitted = 0
        pending = None
        last_time = 0.0
        try:
            for frame in container.decode(stream):
                time = float(frame.pts * frame.time_base) if frame.pts is not None else emitted / FPS
                start = time if start is None else start
                slot = int(np.floor((time - start) * FPS + 0.5))
                last_time = time - start
                image = frame.to_ndarray(format="rgb24")
                if pending is not None:
                    while emitted < slot:
                        yield pending
                        emitted += 1
                pending = image
        except av.error.FFmpegError as exc:
            raise InputError(path, f"video stream is corrupt after {emitted} frames ({exc})", "re-encode the file, e.g. with ffmpeg -i IN -c:v libx264 OUT.mp4") from None
        if pending is not None:
            total = max(emitted + 1, int(np.floor((last_time + 1.0 / src_fps) * FPS + 0.5)))
            while emitted < total:
                yield pending
                emitted += 1
    finally:
        container.close()


def read_audio(path: Path) -> np.ndarray:
    """The first audio stream of ``path`` as int16 mono samples at 16 kHz, shape (S,)."""
    import av

    container = _open(path)
    try:
        if not container.streams.audio:
            raise InputError(path, "no audio track in this file", "pass the speech separately with --audio FILE (Python: audio=...)")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise InputError(path, f"audio stream is corrupt ({exc})", "re-encode the audio, e.g. to a 16 kHz WAV file") from None
    finally:
        container.close()
    samples = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    if samples.size == 0:
        raise InputError(path, "the audio track is empty", "pass a file with speech, or the speech separately with --audio")
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
