"""Face tracking, shot cuts and crops (reference rules), and 25 fps video reading."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from lipsync.faces import (
    FaceTrackConfig,
    crop_face,
    crop_geometry,
    scene_bounds,
    track_faces,
)
from lipsync.media import iter_video_frames, read_audio
from minerf_base.errors import InputError


def _box(x: float, y: float, size: float = 120.0) -> np.ndarray:
    return np.array([[x, y, x + size, y + size]])


def test_track_interpolates_gaps_and_offsets_frames():
    none = np.zeros((0, 4))
    detections = [_box(10 + i, 20) if i % 3 else none for i in range(60)]
    detections[0] = _box(10, 20)
    tracks = track_faces(detections, start=100, config=FaceTrackConfig(), min_track=30)
    assert len(tracks) == 1
    track = tracks[0]
    np.testing.assert_array_equal(track.frames, np.arange(100, 160))  # first to last detection
    np.testing.assert_allclose(track.boxes[3], [13, 20, 133, 140])  # frame 3 had no detection
    assert track.start == 100 and track.end == 160


def test_two_faces_give_two_tracks_and_small_or_short_ones_are_dropped():
    config = FaceTrackConfig()
    detections = [np.concatenate([_box(0, 0), _box(300, 0), _box(600, 0, size=40)]) for _ in range(60)]
    tracks = track_faces(detections, start=0, config=config, min_track=50)
    assert sorted(t.boxes[0, 0] for t in tracks) == [0, 300]  # the 40 px face is below min_face_size
    assert track_faces(detections[:50], start=0, config=config, min_track=50) == []  # needs > 50 frames


def test_track_ends_after_too_many_missed_frames():
    none = np.zeros((0, 4))
    detections = [_box(0, 0)] * 55 + [none] * 26 + [_box(0, 0)] * 55
    tracks = track_faces(detections, start=0, config=FaceTrackConfig(), min_track=50)
    assert [(t.start, t.end) for t in tracks] == [(0, 55), (81, 136)]


def test_scene_bounds_follow_threshold_and_min_length():
    changes = np.zeros(100)
    changes[[10, 40, 45, 80]] = 50.0  # 10: too early (< 15 frames), 45: 5 frames after 40
    assert scene_bounds(changes, FaceTrackConfig()) == [(0, 40), (40, 80), (80, 100)]


def test_crop_geometry_and_crop_place_the_face_like_the_reference():
    boxes = np.tile([100.0, 50.0, 200.0, 170.0], (20, 1))
    geo = crop_geometry(boxes, 13)
    # zero-padded median filter: the ends shrink exactly as scipy's medfilt does in the reference
    np.testing.assert_allclose(geo[6:14], np.tile([60.0, 150.0, 110.0], (8, 1)))
    image = np.zeros((300, 400, 3), np.uint8)
    image[50:170, 100:200] = 255
    crop = crop_face(image, *geo[10], crop_scale=0.4)
    assert crop.shape == (224, 224, 3)
    # crop: y in [110 - 60, 110 + 60 * 1.8) = [50, 218), x in [150 - 84, 150 + 84) = [66, 234),
    # 168 px each way -> 224 px; the face (x 100..200, y 50..170) lands at rows 0..160, cols 45..179
    rows = np.where(crop[:, 112, 0] > 127)[0]
    cols = np.where(crop[80, :, 0] > 127)[0]
    assert rows.min() == 0 and 158 <= rows.max() <= 161
    assert 44 <= cols.min() <= 46 and 178 <= cols.max() <= 180


def test_short_tracks_are_smoothed_without_collapsing():
    boxes = np.tile([0.0, 0.0, 100.0, 100.0], (6, 1))
    assert crop_geometry(boxes, 13)[:, 0].min() > 0


def _write_video(path: Path, fps: int, num_frames: int, with_audio: bool) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.options = {"qp": "0"}
        if with_audio:
            audio = out.add_stream("pcm_s16le", rate=48000, layout="stereo")
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 4, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if with_audio:
            tone = (np.sin(np.arange(48000 * num_frames // fps) * 0.05) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate = 48000
            for packet in audio.encode(frame):
                out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)


def test_30_fps_video_is_resampled_to_25_fps_by_nearest_timestamp(tmp_path):
    video = tmp_path / "v30.mp4"
    _write_video(video, fps=30, num_frames=30, with_audio=True)
    frames = list(iter_video_frames(video))
    assert len(frames) == 25
    source = [int(round(f[0, 0, 0] / 4)) for f in frames]
    assert source == [_nearest(k) for k in range(25)]
    audio = read_audio(video)
    assert abs(len(audio) - 16000) <= 640 and audio.dtype == np.int16


def _nearest(k: int) -> int:
    """Source frame that FFmpeg's fps rule shows at 25 fps slot k for a 30 fps input."""
    slots = np.floor(np.arange(30) * 25 / 30 + 0.5)
    return int(np.nonzero(slots <= k)[0][-1])


def test_video_without_audio_track_is_a_clear_error(tmp_path):
    video = tmp_path / "mute.mp4"
    _write_video(video, fps=25, num_frames=5, with_audio=False)
    with pytest.raises(InputError, match="no audio track"):
        read_audio(video)


@pytest.mark.parametrize("n", [1, 6, 13, 40])
def test_median_filter_is_scipys_zero_padded_medfilt(n):
    from scipy.signal import medfilt as scipy_medfilt

    from lipsync.faces import medfilt

    values = np.random.default_rng(n).uniform(50, 150, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when the kernel is longer than the input
        for kernel in (1, 3, 13):
            np.testing.assert_array_equal(medfilt(values, kernel), scipy_medfilt(values, kernel))
