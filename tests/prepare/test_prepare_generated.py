"""minerf prepare on media the project generates itself (always runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minerf.demo_media import DemoSpec, make_demo_video, speech
from minerf.prepare.geometry import project, rotation_angle_deg
from minerf.prepare.pipeline import PrepareOptions, prepare
from minerf_base.clip import ClipError, is_complete, load_clip
from minerf_base.video_in import first_frame_time, iter_frames, probe, read_audio
from minerf_base.video_out import Encoding


def test_demo_clip_loads_with_consistent_geometry(demo_clip):
    clip = load_clip(demo_clip, expression_space="mp468-pca-v1")
    assert clip.num_frames == 100 and clip.resolution == 128 and clip.has_audio
    assert clip.expression.shape == (100, clip.expression_dim) and clip.expression_dim == 24
    assert len(clip.audio()) == 100 * 640
    x0, y0, side = clip.crop_box
    assert 0 <= x0 and 0 <= y0 and x0 + side <= 384 and y0 + side <= 384
    for i in range(0, 100, 7):
        err = np.linalg.norm(project(clip.landmarks3d[i], clip.pose[i], clip.intrinsics) - clip.landmarks2d[i], axis=1)
        assert np.median(err) < 0.02 * 128
        box = clip.face_box[i]
        assert (box[:2] >= -2).all() and (box[2:] <= 130).all() and (box[2:] - box[:2] > 20).all()
    steps = [rotation_angle_deg(clip.pose[i, :3, :3], clip.pose[i + 1, :3, :3]) for i in range(99)]
    assert max(steps) < 5.0
    # pose is head -> camera, the head sits in front of the camera
    assert (clip.pose[:, 2, 3] > 0).all()


def test_demo_mouth_expression_follows_the_speech_envelope(demo_clip):
    clip = load_clip(demo_clip)
    audio = clip.audio().reshape(clip.num_frames, 640)
    envelope = np.sqrt((audio**2).mean(1))
    mouth = clip.meta["expression_space"]["mouth_components"]
    best = max(abs(np.corrcoef(clip.expression[:, k], envelope)[0, 1]) for k in mouth)
    assert best > 0.6


def test_background_hides_the_head_but_keeps_the_rest(demo_clip):
    clip = load_clip(demo_clip)
    frame, mask, bg = clip.frame(50), clip.mask(50) > 127, clip.background(50)
    diff = np.abs(frame.astype(int) - bg.astype(int)).sum(-1)
    assert diff[mask].mean() > 20  # the head is gone from the background
    far = ~mask
    far[40:, :] = False  # compare the top corners away from the head
    assert diff[far].mean() < 12


def test_thirty_fps_mpeg1_and_avi_inputs(tmp_path):
    spec = DemoSpec(seconds=1.2, fps=30, size=256)
    for name, codec, acodec in (("v30.mp4", "libx264", "aac"), ("v30.avi", "mpeg4", "mp3"), ("v.mpg", "mpeg1video", "mp2")):
        fps = 25 if name.endswith(".mpg") else 30
        path = make_demo_video(tmp_path / name, DemoSpec(seconds=1.2, fps=fps, size=256), Encoding(codec=codec, audio_codec=acodec))
        frames = sum(1 for _ in iter_frames(path))
        assert frames == 30, (name, frames)  # 1.2 s at 25 fps
        audio = read_audio(path, start=first_frame_time(path))
        # mp3/mp2 encoders pad up to ~0.1 s at the end; preparation cuts audio to the frames
        assert abs(len(audio) / 16000 - 1.2) < 0.12, (name, len(audio))
    assert probe(tmp_path / "v30.mp4").fps == pytest.approx(30)
    assert spec.fps == 30


def test_prepare_resumes_after_a_crash_without_redoing_frames(tmp_path, demo_video, monkeypatch):
    from minerf_base.clip_writer import ClipWriter

    out = tmp_path / "clip"
    original = ClipWriter.write_image
    calls = {"n": 0}

    def crashing(self, kind, index, image):
        if kind == "masks" and index == 60:
            raise KeyboardInterrupt("simulated kill")
        calls["n"] += 1
        return original(self, kind, index, image)

    monkeypatch.setattr(ClipWriter, "write_image", crashing)
    with pytest.raises(KeyboardInterrupt):
        prepare(demo_video, out, PrepareOptions(resolution=96), progress=False)
    assert not is_complete(out)
    with pytest.raises(ClipError, match="no clip.json"):
        load_clip(out)
    written = {p.name: p.stat().st_mtime_ns for p in (out / "frames").glob("*.jpg")}
    assert len(written) >= 50
    monkeypatch.setattr(ClipWriter, "write_image", original)
    clip = prepare(demo_video, out, PrepareOptions(resolution=96), progress=False)
    assert clip.num_frames == 100
    # frames before the last landmark checkpoint (50) were not written again
    for i in range(50):
        name = f"{i:06d}.jpg"
        assert (out / "frames" / name).stat().st_mtime_ns == written[name]
    assert not (out / ".work").exists()
    # a second run with the same settings is a no-op; other settings start over
    before = (out / "clip.json").stat().st_mtime_ns
    prepare(demo_video, out, PrepareOptions(resolution=96), progress=False)
    assert (out / "clip.json").stat().st_mtime_ns == before
    clip = prepare(demo_video, out, PrepareOptions(resolution=64), progress=False)
    assert clip.resolution == 64 and clip.frame(0).shape == (64, 64, 3)
    assert json.loads((out / "clip.json").read_text())["settings"]["resolution"] == 64


def test_video_without_audio_track_is_marked(tmp_path):
    path = make_demo_video(tmp_path / "mute.mp4", DemoSpec(seconds=1.0, size=256, with_audio=False))
    clip = prepare(path, tmp_path / "clip", PrepareOptions(resolution=64), progress=False)
    assert not clip.has_audio and clip.meta["audio"]["status"] == "no audio track"


def test_speech_envelope_has_pauses():
    wave, env = speech(3.0, seed=1)
    assert wave.dtype == np.float32 and len(wave) == 48000
    assert (env == 0).mean() > 0.2 and env.max() > 0.9


def test_cli_demo_video_then_prepare(tmp_path):
    from click.testing import CliRunner

    from minerf_dub.cli import minerf

    runner = CliRunner()
    result = runner.invoke(minerf, ["demo-video", "-o", str(tmp_path / "d.mp4"), "--seconds", "1", "--size", "192", "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(minerf, ["prepare", str(tmp_path / "d.mp4"), "-o", str(tmp_path / "clip"), "--resolution", "64", "--json", "-q"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["frames"] == 25 and info["resolution"] == 64 and info["has_audio"]
    assert load_clip(tmp_path / "clip").frame(0).shape == (64, 64, 3)
