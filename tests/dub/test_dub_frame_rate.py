"""minerf-dub writes at the source's frame rate (or --fps): the timing of every output frame,
the interpolation of expressions and poses, and a 30 fps source dubbed end to end."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from scipy.spatial.transform import Rotation

from minerf.demo_media import DemoSpec, make_demo_video, speech
from minerf.render.composite import ping_pong
from minerf_base.video_in import first_frame_time, iter_frames, open_media, probe, read_audio
from minerf_dub.pipeline import DubOptions, dub
from minerf_dub.timing import OutputTiming, interpolate_poses, interpolate_rows, output_rate


def test_timing_at_25_fps_is_the_clip_timeline_and_at_30_fps_interpolates():
    same = OutputTiming.plan(130, 100, 100, Fraction(25))
    assert same.source_index.tolist() == ping_pong(130, 100).tolist() == same.clip_frame.tolist()
    assert np.array_equal(same.expression_position, np.arange(130)) and np.array_equal(same.clip_position, same.source_index)

    t = OutputTiming.plan(50, 60, 50, Fraction(30))  # 2 s of expressions, a 2 s source at 30 fps
    assert len(t) == 60 and t.seconds() == 2.0
    assert t.expression_position[6] == pytest.approx(5.0) and t.expression_position[1] == pytest.approx(25 / 30)
    assert t.source_index[:60].tolist() == list(range(60))
    assert t.clip_position[12] == pytest.approx(10.0) and t.clip_frame[1] == 1  # 0.833 -> nearest clip frame 1
    assert t.span_of(25, 25) == slice(30, 60)  # the second 25 fps second is output frames 30..59
    assert t.sample(30, 48000) == 48000
    # read back at 25 fps, slot m shows output frame floor(m * 30 / 25)
    assert t.at_analysis_rate().tolist() == [t.clip_frame[int(m * 30 // 25)] for m in range(50)]
    # a video of output frames 30..59 (a preview) read back at 25 fps starts at its own frame 30
    assert t.at_analysis_rate(30, 30).tolist() == [t.clip_frame[30 + int(m * 30 // 25)] for m in range(25)]
    assert t.at_analysis_rate(None, 30).tolist() == t.at_analysis_rate(30, 30).tolist()
    assert output_rate(29.97002997, None) == Fraction(30000, 1001) and output_rate(30.0, 25) == 25


def test_interpolation_of_rows_and_poses():
    values = np.array([[0.0, 10.0], [1.0, 20.0], [3.0, 40.0]], np.float32)
    assert interpolate_rows(values, np.array([0.0, 0.5, 1.25, 2.0])).tolist() == [[0, 10], [0.5, 15], [1.5, 25], [3, 40]]

    poses = np.tile(np.eye(4, dtype=np.float32), (2, 1, 1))
    poses[1, :3, :3] = Rotation.from_euler("y", 20, degrees=True).as_matrix()
    poses[1, :3, 3] = [1.0, 2.0, 3.0]
    out = interpolate_poses(poses, np.array([0.0, 0.25, 1.0]))
    np.testing.assert_array_equal(out[0], poses[0])
    np.testing.assert_array_equal(out[2], poses[1])
    assert Rotation.from_matrix(out[1, :3, :3]).as_euler("xyz", degrees=True)[1] == pytest.approx(5.0, abs=1e-4)
    np.testing.assert_allclose(out[1, :3, 3], [0.25, 0.5, 0.75], atol=1e-6)


def _audio_start(path) -> float:
    with open_media(path) as container:
        stream = container.streams.audio[0]
        return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def test_30_fps_source_gives_30_fps_output_with_audio_in_sync(tmp_path, models):
    source = make_demo_video(tmp_path / "talk30.mp4", DemoSpec(seconds=2.0, fps=30.0, size=256, seed=4))
    assert probe(source).fps == pytest.approx(30)
    wave = speech(1.6, seed=9)[0]
    sf.write(tmp_path / "speech.wav", wave, 16000)
    options = DubOptions(run=models[0], audio2exp=models[1], score=False, report=False, personalize_steps=4)

    result = dub(source, tmp_path / "speech.wav", tmp_path / "dub30.mp4", options, progress=False)
    info = probe(tmp_path / "dub30.mp4")
    assert result.fps == pytest.approx(30) and info.fps == pytest.approx(30)
    assert result.frames == 48 and len(list(iter_frames(tmp_path / "dub30.mp4", fps=30))) == 48  # 1.6 s at 30 fps
    assert first_frame_time(tmp_path / "dub30.mp4") == pytest.approx(0.0, abs=1e-6)
    assert abs(_audio_start(tmp_path / "dub30.mp4")) < 0.001
    muxed = read_audio(tmp_path / "dub30.mp4")
    assert abs(len(muxed) / 16000 - 1.6) <= 1 / 30  # the audio lasts as long as the frames
    # the muxed speech starts where the input speech starts: cross-correlation peaks at lag 0
    a, b = muxed[:16000], wave[:16000]
    lags = np.arange(-160, 161)
    corr = [np.dot(a[max(0, l) : len(a) + min(0, l)], b[max(0, -l) : len(b) - max(0, l)]) for l in lags]
    assert abs(int(lags[int(np.argmax(corr))])) <= 16  # within 1 ms
    # outside the head, each output frame is the source frame shown at its own time
    frames = list(iter_frames(tmp_path / "dub30.mp4", fps=30))
    real = list(iter_frames(source, fps=30))
    corner = (slice(0, 20), slice(0, 20))
    diffs = [np.abs(frames[k][corner].astype(int) - real[k][corner].astype(int)).mean() for k in (5, 20, 40)]
    assert max(diffs) < 3.0

    chosen = dub(source, tmp_path / "speech.wav", tmp_path / "dub25.mp4", DubOptions(**{**vars(options), "fps": 25.0}), progress=False)
    assert chosen.fps == 25 and probe(tmp_path / "dub25.mp4").fps == pytest.approx(25) and chosen.frames == 40
