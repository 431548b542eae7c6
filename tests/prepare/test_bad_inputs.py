"""Every bad input gives a clear error (file, problem, fix), exit code 2, nothing half-written."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from click.testing import CliRunner

from minerf.demo_media import DemoSpec, iter_frames, speech
from minerf.prepare.pipeline import PrepareOptions, prepare
from minerf_base.clip import is_complete
from minerf_base.errors import InputError
from minerf_base.video_out import write_video
from minerf_dub.cli import minerf


def _frames(seconds: float, size: int = 256) -> list[np.ndarray]:
    spec = DemoSpec(seconds=seconds, size=size)
    return list(iter_frames(spec, speech(seconds)[1]))


def _prepare_error(video, tmp_path, **kw) -> InputError:
    out = tmp_path / "clip"
    with pytest.raises(InputError) as info:
        prepare(video, out, PrepareOptions(resolution=64, **kw), progress=False)
    assert not is_complete(out)
    assert str(video) in str(info.value)
    assert "fix:" in str(info.value)
    return info.value


def test_missing_file(tmp_path):
    err = _prepare_error(tmp_path / "nope.mp4", tmp_path)
    assert "does not exist" in str(err)


def test_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    assert "not a readable video" in str(_prepare_error(fake, tmp_path))


def test_truncated_file(tmp_path):
    good = write_video(tmp_path / "good.mp4", _frames(1.0))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    err = _prepare_error(broken, tmp_path)
    assert "not a readable video" in str(err) or "corrupt" in str(err)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    sf.write(wav, speech(1.0)[0], 16000)
    assert "no video stream" in str(_prepare_error(wav, tmp_path))


def test_zero_frames(tmp_path):
    import av

    path = tmp_path / "empty.mkv"  # a video stream is declared, but only audio was written
    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("libx264", rate=25)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for out in av.AudioResampler(format=audio.codec_context.format.name, layout="mono", rate=16000).resample(frame):
            for packet in audio.encode(out):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    assert "zero decodable frames" in str(_prepare_error(path, tmp_path))


def test_no_face(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (256, 1, 3))
    path = write_video(tmp_path / "wall.mp4", [ramp] * 20)
    assert "no face found in frames 0-19" in str(_prepare_error(path, tmp_path))


def test_face_too_small(tmp_path):
    import cv2

    frames = []
    for f in _frames(0.8):
        canvas = np.full((360, 480, 3), 200, np.uint8)
        canvas[50:170, 100:220] = cv2.resize(f, (120, 120))
        frames.append(canvas)
    path = write_video(tmp_path / "far.mp4", frames)
    err = _prepare_error(path, tmp_path)
    assert "face too small" in str(err) and "480x360" in str(err)


def test_too_short(tmp_path):
    path = write_video(tmp_path / "blink.mp4", _frames(0.2))
    assert "too short: 5 frames" in str(_prepare_error(path, tmp_path))


def test_face_lost_for_part_of_the_clip_names_the_frames(tmp_path):
    frames = _frames(3.0)
    for i in range(30, 65):
        frames[i] = np.full_like(frames[i], 90)
    path = write_video(tmp_path / "gap.mp4", frames)
    err = _prepare_error(path, tmp_path)
    assert "lost in 35 of 75 frames (frames 30-64)" in str(err)


def test_short_face_loss_is_interpolated_and_marked(tmp_path, caplog):
    frames = _frames(2.0)
    for i in range(20, 23):
        frames[i] = np.full_like(frames[i], 90)
    path = write_video(tmp_path / "blip.mp4", frames)
    with caplog.at_level(logging.WARNING):
        clip = prepare(path, tmp_path / "clip", PrepareOptions(resolution=64), progress=False)
    assert list(np.nonzero(~clip.valid)[0]) == [20, 21, 22]
    assert np.isfinite(clip.expression).all()
    assert any("frames 20-22" in w for w in clip.meta["warnings"])


def test_several_faces_warns_and_face_option_picks_one(tmp_path):
    import cv2

    frames = []
    for f in _frames(1.2):
        canvas = np.full((300, 600, 3), 128, np.uint8)
        canvas[0:300, 0:300] = cv2.resize(f, (300, 300))
        canvas[60:280, 350:570] = cv2.resize(f, (220, 220))
        frames.append(canvas)
    path = write_video(tmp_path / "two.mp4", frames)
    clip = prepare(path, tmp_path / "a", PrepareOptions(resolution=64), progress=False)
    assert any("2 faces seen" in w and "--face" in w for w in clip.meta["warnings"])
    assert clip.crop_box[0] < 150  # the larger face, on the left
    other = prepare(path, tmp_path / "b", PrepareOptions(resolution=64, face_index=1), progress=False)
    assert other.crop_box[0] + other.crop_box[2] / 2 > 350  # the smaller face, on the right
    err = _prepare_error(path, tmp_path, face_index=5)
    assert "--face 5" in str(err)


def test_cli_reports_errors_without_traceback(tmp_path):
    result = CliRunner().invoke(minerf, ["prepare", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2
    assert "missing.mp4: file does not exist" in result.output
    assert "Traceback" not in result.output


def test_cli_prepare_and_inspect(tmp_path, demo_clip):
    import json

    result = CliRunner().invoke(minerf, ["inspect", str(demo_clip), "-o", str(tmp_path / "sheet.png"), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["frames"] == 100 and info["has_audio"] is True
    import cv2

    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[0] > 500 and sheet.shape[1] > 800
    result = CliRunner().invoke(minerf, ["inspect", str(tmp_path)])
    assert result.exit_code == 2 and "no clip.json" in result.output
