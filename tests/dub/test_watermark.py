"""The synthetic-media watermark survives H.264 and is not found in unmarked videos."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from minerf.demo_media import DemoSpec, iter_frames, speech
from minerf_base.video_out import write_video
from minerf_dub.cli import minerf
from minerf_dub.watermark import THRESHOLD, Embedder, detect_file, detect_frames


def _frames(seconds=3.0, size=256):
    return list(iter_frames(DemoSpec(seconds=seconds, size=size), speech(seconds)[1]))


def _head_weight(size):
    yy, xx = np.mgrid[0:size, 0:size]
    return (((xx - size / 2) / (size * 0.2)) ** 2 + ((yy - size * 0.45) / (size * 0.28)) ** 2 <= 1).astype(np.float32)


def test_mark_survives_h264_and_touches_only_the_weighted_region(tmp_path):
    frames = _frames()
    weight = _head_weight(256)
    embed = Embedder(256, 256, len(frames))
    marked = [embed(i, f, weight) for i, f in enumerate(frames)]
    outside = weight == 0
    for f, m in zip(frames[:5], marked[:5]):
        assert np.array_equal(f[outside], m[outside])
        assert np.abs(f.astype(int) - m.astype(int)).max() <= 3
    path = write_video(tmp_path / "marked.mp4", marked)
    found = detect_file(path)
    assert found.watermarked and found.z_score > THRESHOLD
    plain = detect_file(write_video(tmp_path / "plain.mp4", frames))
    assert not plain.watermarked and abs(plain.z_score) < THRESHOLD


def test_other_key_and_too_few_frames_are_not_detections():
    frames = _frames(1.0, 128)
    weight = np.ones((128, 128), np.float32)
    marked = [Embedder(128, 128, len(frames), key=1234)(i, f, weight) for i, f in enumerate(frames)]
    assert detect_frames(marked, key=1234).watermarked
    assert not detect_frames(marked).watermarked
    assert not detect_frames(marked[:1]).watermarked


def test_verify_watermark_cli(tmp_path):
    frames = _frames()
    embed = Embedder(256, 256, len(frames))
    path = write_video(tmp_path / "m.mp4", [embed(i, f, _head_weight(256)) for i, f in enumerate(frames)])
    result = CliRunner().invoke(minerf, ["verify-watermark", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"watermarked": true' in result.output
    plain = write_video(tmp_path / "p.mp4", frames)
    result = CliRunner().invoke(minerf, ["verify-watermark", str(plain)])
    assert result.exit_code == 1 and "no minerf-dub watermark" in result.output
