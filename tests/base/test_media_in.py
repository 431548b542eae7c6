"""The one media reader (minerf_base.video_in): typed errors that name the file, the two frame
rules, audio alignment and dtypes, streaming equal to whole-file reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from minerf_base import video_in
from minerf_base.errors import InputError, MediaError
from minerf_base.timebase import SAMPLE_RATE
from minerf_base.video_out import Encoding, write_video


def _counting_video(path: Path, fps: int, num_frames: int) -> Path:
    """Grey frames whose level is 4 x their index, lossless-ish H.264."""
    frames = [np.full((32, 32, 3), 4 * i, np.uint8) for i in range(num_frames)]
    return write_video(path, frames, fps=fps, encoding=Encoding(crf=0))


def _indices(frames) -> list[int]:
    return [int(round(f[0, 0, 0] / 4)) for f in frames]


def _bad_file(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n" * 20)
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize(
    "kind, problem",
    [("missing", "file does not exist"), ("empty", "file is empty"), ("text", "not a readable video or audio file"), ("folder", "is a folder")],
)
def test_unreadable_media_is_a_media_error_naming_the_file(tmp_path, kind, problem):
    path = _bad_file(tmp_path, kind)
    for read in (video_in.probe, lambda p: list(video_in.iter_frames(p)), video_in.read_audio):
        with pytest.raises(MediaError) as info:
            read(path)
        assert isinstance(info.value, InputError)  # the CLI prints it and exits with status 2
        assert info.value.path == path and str(path) in str(info.value) and problem in str(info.value)
        assert info.value.fix


def test_audio_file_has_no_video_stream_and_video_without_audio_reads_none(tmp_path):
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.zeros(1600, np.float32), SAMPLE_RATE)
    with pytest.raises(MediaError, match="no video stream"):
        list(video_in.iter_frames(wav))
    mute = _counting_video(tmp_path / "mute.mp4", 25, 5)
    assert video_in.read_audio(mute) is None and list(video_in.iter_audio(mute)) == []


def test_thirty_fps_by_the_hold_and_the_nearest_rule(tmp_path):
    video = _counting_video(tmp_path / "v30.mp4", 30, 30)  # 1 s
    held = _indices(video_in.iter_frames(video))
    nearest = _indices(video_in.iter_frames(video, rule="nearest"))
    # hold: slot k shows the source frame on screen at k / 25 s
    assert held == [int(np.floor(k * 30 / 25 + 1e-9)) for k in range(25)]
    # nearest (ffmpeg -r 25): each source frame goes to the slot nearest its time
    slots = np.floor(np.arange(30) * 25 / 30 + 0.5)
    assert nearest == [int(np.nonzero(slots <= k)[0][-1]) for k in range(25)]
    assert held != nearest


def _video_with_late_audio(path: Path, delay: float) -> np.ndarray:
    """A 25 fps mkv whose PCM audio track (a ramp, 16 kHz) starts ``delay`` s after frame 0."""
    import av

    ramp = (np.arange(8000) % 1000 / 1000.0 * 0.5).astype(np.float32)
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=25)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("pcm_f32le", rate=SAMPLE_RATE, layout="mono")
        for i in range(15):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        chunk = av.AudioFrame.from_ndarray(ramp[None], format="flt", layout="mono")
        chunk.sample_rate = SAMPLE_RATE
        chunk.pts = int(round(delay * SAMPLE_RATE))
        for packet in audio.encode(chunk):
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return ramp


def test_audio_is_aligned_to_the_first_frame_or_read_as_decoded(tmp_path):
    path = tmp_path / "late.mkv"
    ramp = _video_with_late_audio(path, delay=0.2)
    start = video_in.first_frame_time(path)
    aligned = video_in.read_audio(path, start=start)
    shift = int(round(0.2 * SAMPLE_RATE))
    np.testing.assert_array_equal(aligned[:shift], 0.0)
    np.testing.assert_allclose(aligned[shift : shift + ramp.size], ramp, atol=1e-6)
    as_decoded = video_in.read_audio(path, start=None)
    np.testing.assert_allclose(as_decoded[: ramp.size], ramp, atol=1e-6)
    pcm16 = video_in.read_audio(path, start=None, dtype=np.int16)
    assert pcm16.dtype == np.int16 and np.abs(pcm16.astype(np.float64) / 32768 - as_decoded).max() <= 1 / 32768


def test_streamed_blocks_make_up_the_whole_file(tmp_path):
    path = tmp_path / "noise.flac"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 44100 * 2).astype(np.float32), 44100)
    blocks = list(video_in.iter_audio(path, block=5000))
    assert all(b.size == 5000 for b in blocks[:-1]) and 0 < blocks[-1].size <= 5000
    whole = video_in.read_audio(path)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    assert abs(whole.size - 2 * SAMPLE_RATE) <= 1


@pytest.mark.parametrize("rule", ["hold", "nearest"])
def test_avi_frames_are_timed_by_their_index_by_either_rule(tmp_path, rule):
    # decoders report AVI frames with shifted times (codec delay): read by those, a 25 fps AVI
    # of 36 frames came out as 38, its first frame repeated
    frames = [np.full((32, 32, 3), 4 * i, np.uint8) for i in range(36)]
    video = write_video(tmp_path / "v.avi", frames, fps=25, encoding=Encoding(codec="mpeg4"))
    decoded = list(video_in.iter_frames(video, rule=rule))
    assert len(decoded) == 36
    assert _indices(decoded[:3]) != [0, 0, 0]
