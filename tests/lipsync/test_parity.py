"""Parity with the reference ``syncnet_python`` (PyPI ``syncnet-python``): the same weights and
the same crops and audio give the same offset, LSE-D and LSE-C."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from scipy.io import wavfile

import lipsync
from lipsync.faces import FaceTrackConfig, crop_tracks, find_tracks
from lipsync.media import iter_video_frames, read_audio
from lipsync.sync import score_track
from lipsync.weights import load_syncnet
from tests.conftest import shared_data
from tests.lipsync.conftest import generated_audio, generated_crops


def reference_scores(weights: Path, crops_rgb: np.ndarray, audio: np.ndarray, tmp_dir: Path) -> tuple[int, float, float]:
    """(offset, LSE-D, LSE-C) from ``SyncNetInstance.evaluate`` on crops and int16 audio."""
    from syncnet_python import SyncNetInstance, SyncNetModel

    tmp_dir.mkdir(parents=True, exist_ok=True)
    for i, crop in enumerate(crops_rgb):  # lossless pixels under the .jpg names it globs
        ok, buf = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        assert ok
        (tmp_dir / f"{i:06d}.jpg").write_bytes(buf.tobytes())
    wavfile.write(tmp_dir / "audio.wav", 16000, audio.astype(np.int16))
    instance = SyncNetInstance(SyncNetModel(num_layers_in_fc_layers=1024), device="cpu")
    instance.loadParameters(str(weights))
    with contextlib.redirect_stdout(io.StringIO()):
        offset, conf, dist = instance.evaluate(SimpleNamespace(tmp_dir=str(tmp_dir), batch_size=20, vshift=15))
    return offset, dist, conf


def assert_same(ours: tuple[int, float, float], reference: tuple[int, float, float]) -> None:
    assert ours[0] == reference[0]
    assert ours[1] == pytest.approx(reference[1], abs=1e-4)
    assert ours[2] == pytest.approx(reference[2], abs=1e-4)


@pytest.mark.parametrize(
    "num_frames, num_samples",
    [(16, 16 * 640), (16, 13 * 640 + 100)],  # equal lengths; audio shorter than the video
    ids=["equal-length", "audio-shorter"],
)
def test_generated_track_matches_reference(random_weights, tmp_path, num_frames, num_samples):
    crops = generated_crops(num_frames, seed=num_frames)
    audio = generated_audio(num_samples, seed=num_samples)
    net = load_syncnet(random_weights, "cpu").net
    ours = score_track(net, crops, audio)
    assert ours.num_windows == min(num_frames, num_samples // 640) - 5
    assert_same((ours.offset, ours.lse_d, ours.lse_c), reference_scores(random_weights, crops, audio, tmp_path / "ref"))


def test_float_audio_is_scored_as_int16(random_weights):
    """Float audio in [-1, 1] (as soundfile reads a PCM16 file) gives the int16 numbers."""
    crops = generated_crops(12, seed=3)
    audio = generated_audio(12 * 640, seed=3)
    net = load_syncnet(random_weights, "cpu").net
    a = score_track(net, crops, audio)
    b = score_track(net, crops, audio.astype(np.float32) / 32768.0)
    assert (a.offset, a.lse_d, a.lse_c) == (b.offset, b.lse_d, b.lse_c)


def _delay(samples: np.ndarray, frames: int) -> np.ndarray:
    return np.concatenate([np.zeros(frames * 640, samples.dtype), samples[: len(samples) - frames * 640]])


@pytest.fixture(scope="module")
def grid_clip():
    """(video, its audio, face crops of our detector and tracker) of a real GRID clip."""
    video = shared_data("videos", "grid_bbaf2n.mpg")
    config = FaceTrackConfig()
    tracks, _, _ = find_tracks(iter_video_frames(video), config)
    return video, read_audio(video), crop_tracks(iter_video_frames(video), tracks, config)[0]


@pytest.mark.parametrize("audio_shift", [0, 4], ids=["in-sync", "audio-delayed-4-frames"])
def test_real_clip_matches_reference(random_weights, tmp_path, grid_clip, audio_shift):
    """End to end on a real GRID clip: our score() of the video equals the reference's
    evaluate() on the face crops of our detector (the reference's own S3FD weights are not
    installable) and the same audio."""
    video, audio, crops = grid_clip
    audio = _delay(audio, audio_shift)
    result = lipsync.score(video, audio, weights=random_weights)
    assert result.weights_id.startswith("syncnet_v2-layout:syncnet_v2.model:")
    assert len(result.tracks) == 1
    track = result.tracks[0]
    assert (track.start, track.end) == (0, 75) and len(crops) == 75
    reference = reference_scores(random_weights, crops, audio[: 75 * 640], tmp_path / "ref")
    assert_same((result.offset, result.lse_d, result.lse_c), reference)


def test_generated_talking_face_video_matches_reference(random_weights, tmp_path, demo_video):
    """Always runs: the toolkit's own talking-face video, end to end (decode, detection,
    tracking, crops) against the reference on the same crops."""
    result = lipsync.score(demo_video, weights=random_weights)
    (track,) = result.tracks
    config = FaceTrackConfig()
    tracks, _, _ = find_tracks(iter_video_frames(demo_video), config)
    crops = crop_tracks(iter_video_frames(demo_video), tracks, config)[0]
    audio = read_audio(demo_video)[track.start * 640 : track.end * 640]
    assert len(crops) == track.end - track.start >= 50
    assert_same((result.offset, result.lse_d, result.lse_c), reference_scores(random_weights, crops, audio, tmp_path / "ref"))
