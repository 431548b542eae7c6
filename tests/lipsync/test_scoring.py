"""The scoring API: weights lookup, frames input, and a clear error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import lipsync
from lipsync.model import SyncNet
from lipsync.scoring import iter_scores, summarize
from lipsync.sync import score_track
from lipsync.weights import load_syncnet
from minerf_base.errors import (
    InputError,
    MediaError,
    NoFaceTrackError,
    NoWeightsError,
    WeightsError,
    WeightsNotFoundError,
)
from tests.lipsync.conftest import generated_audio, generated_crops
from tests.lipsync.test_faces import _write_video


def test_cropped_frames_score_like_the_track_scorer_and_name_the_weights(random_weights):
    crops = generated_crops(12, seed=7)
    audio = generated_audio(12 * 640, seed=7)
    result = lipsync.score(crops, audio.astype(np.float32) / 32768, weights=random_weights, faces_cropped=True)
    direct = score_track(load_syncnet(random_weights, "cpu").net, crops, audio)
    assert (result.offset, result.lse_d, result.lse_c) == (direct.offset, direct.lse_d, direct.lse_c)
    assert result.weights_id.startswith("syncnet_v2-layout:syncnet_v2.model:")
    assert result.notes == []  # audio and video have the same length
    assert result.to_dict()["tracks"][0]["end"] == 12


def test_weights_found_through_env_and_cache(random_weights, monkeypatch, tmp_path):
    monkeypatch.setenv("MINERF_SYNCNET_WEIGHTS", str(random_weights))
    assert load_syncnet(None, "cpu").path == random_weights.resolve()
    monkeypatch.delenv("MINERF_SYNCNET_WEIGHTS")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "syncnet_v2.model").write_bytes(random_weights.read_bytes())
    monkeypatch.setenv("MINERF_CACHE", str(cache))
    assert load_syncnet(None, "cpu").path == (cache / "syncnet_v2.model").resolve()


def test_missing_weights_say_where_to_get_them_and_that_training_is_the_alternative(monkeypatch):
    monkeypatch.setattr("lipsync.weights.shipped_expert", lambda: None)  # without it the shipped expert is found
    with pytest.raises(NoWeightsError) as info:
        load_syncnet(None, "cpu")
    assert "syncnet_v2.model" in str(info.value) and "lipsync train" in str(info.value)


def test_named_weights_that_do_not_exist_are_an_error_naming_them_never_a_fallback(tmp_path, monkeypatch):
    from lipsync.weights import resolve_weights

    missing = tmp_path / "nope" / "syncnet_v2.model"
    with pytest.raises(WeightsNotFoundError) as info:  # the shipped expert exists, and is not used
        resolve_weights(missing)
    assert info.value.path == missing and str(missing) in str(info.value)
    assert "do not exist" in str(info.value) and "lipsync train" in str(info.value)  # the fix
    monkeypatch.setenv("MINERF_SYNCNET_WEIGHTS", str(missing))
    with pytest.raises(WeightsNotFoundError, match=r"\$MINERF_SYNCNET_WEIGHTS"):
        load_syncnet(None, "cpu")
    assert not isinstance(info.value, NoWeightsError)


def test_weights_that_need_unpickling_or_have_another_layout_are_refused(tmp_path):
    pickled = tmp_path / "pickled.model"
    torch.save(SyncNet(), pickled)  # a whole module: loading it would run pickled code
    with pytest.raises(WeightsError, match="plain state dict"):
        load_syncnet(pickled, "cpu")
    other = tmp_path / "other.model"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(WeightsError, match="syncnet_v2.model layout"):
        load_syncnet(other, "cpu")


def test_too_short_video_is_refused(random_weights):
    with pytest.raises(InputError, match="at least 6"):
        lipsync.score(generated_crops(4), generated_audio(4 * 640), weights=random_weights, faces_cropped=True)
    with pytest.raises(InputError, match="has 0 frames"):
        lipsync.score(np.zeros((0, 224, 224, 3), np.uint8), generated_audio(640), weights=random_weights, faces_cropped=True)


def test_silent_audio_is_refused(random_weights):
    with pytest.raises(InputError, match="silent"):
        lipsync.score(generated_crops(10), np.zeros(6400, np.int16), weights=random_weights, faces_cropped=True)


def test_frames_without_a_face_are_refused(random_weights):
    frames = np.repeat(np.linspace(40, 200, 20, dtype=np.uint8)[:, None, None, None], 160, axis=1)
    frames = np.ascontiguousarray(np.broadcast_to(frames, (20, 160, 160, 3)))
    with pytest.raises(NoFaceTrackError, match="no face detected in any frame"):
        lipsync.score(frames, generated_audio(20 * 640), weights=random_weights)


def test_batch_goes_on_past_unreadable_and_mute_files(random_weights, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    mute = tmp_path / "mute.mp4"
    _write_video(mute, fps=25, num_frames=8, with_audio=False)
    pairs = list(iter_scores([bad, tmp_path / "missing.mp4", mute], weights=random_weights, device="cpu"))
    assert [type(outcome) for _, outcome in pairs] == [MediaError] * 3
    assert [outcome.path for _, outcome in pairs] == [bad, tmp_path / "missing.mp4", mute]
    batch = summarize(pairs)
    assert batch.results == [] and batch.num_tracks == 0 and batch.mean_lse_d is None
    messages = list(batch.errors.values())
    assert len(messages) == 3
    assert "not a readable video or audio file" in messages[0]
    assert "does not exist" in messages[1]
    assert "no audio track" in messages[2]


def test_inputs_expand_folders_and_globs(tmp_path):
    from lipsync.scoring import expand_inputs

    for name in ("b.mp4", "a.MPG", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.mov").write_text("x")
    assert expand_inputs([tmp_path]) == [tmp_path / "a.MPG", tmp_path / "b.mp4"]
    assert expand_inputs([str(tmp_path / "**" / "*.mov"), "other.mp4"]) == [tmp_path / "sub" / "c.mov", Path("other.mp4")]
    with pytest.raises(InputError, match="no videos"):
        expand_inputs([tmp_path / "sub" / "empty"] * 0)
