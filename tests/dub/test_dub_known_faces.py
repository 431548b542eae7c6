"""Lip-sync scoring at the dub's known face boxes when SyncNet's detector finds no face track."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import soundfile as sf

from minerf.demo_media import speech
from minerf_base.errors import NoFaceTrackError
from minerf_dub.pipeline import DubOptions, dub, score_output
from minerf_dub.score_faces import DETECTED_MARK, KNOWN_BOXES_MARK, known_face_boxes


def test_known_face_boxes_map_crop_boxes_of_the_timeline_into_the_frame():
    face_box = np.array([[10, 20, 30, 40], [0, 0, 64, 64]], np.float32)
    boxes = known_face_boxes(face_box, (100, 50, 256), 64, np.array([1, 0, 1]))
    np.testing.assert_allclose(boxes, [[100, 50, 356, 306], [140, 130, 220, 210], [100, 50, 356, 306]])
    # a crop box partly outside the frame keeps its (negative) offset
    np.testing.assert_allclose(known_face_boxes(face_box, (-8, -4, 128), 64, np.array([0])), [[12, 36, 52, 76]])


def test_undetected_dubbed_face_is_scored_at_the_known_boxes(tmp_path, models, demo_video):
    import lipsync
    from checkpoints.cache import cache_dir
    from minerf_base.video_in import file_sha256

    # the dub's clip cache gets the clip the models were trained on (same video, same 64 px)
    shutil.copytree(models[0].parent / "demo", cache_dir() / "clips" / f"{file_sha256(demo_video)[:16]}-64")
    audio = tmp_path / "speech.wav"
    sf.write(audio, speech(1.2, seed=7)[0], 16000)
    out = tmp_path / "dubbed.mp4"
    # the whole head re-rendered by a tiny model: a face the detector misses (a lower-face dub
    # keeps the source's eyes and forehead, and the detector finds it)
    options = DubOptions(run=models[0], audio2exp=models[1], personalize_steps=8, device="cpu", full_head=True)
    result = dub(demo_video, audio, out, options, progress=False)
    with pytest.raises(NoFaceTrackError, match="no face track to score"):  # the premise: the detector misses it
        lipsync.score(out, device="cpu")
    score = result.score
    assert score is not None and score["faces"] == KNOWN_BOXES_MARK
    assert math.isfinite(score["lse_d"]) and score["lse_d"] > 0 and math.isfinite(score["lse_c"])
    assert -15 <= score["offset"] <= 15 and score["weights"].startswith("shipped-expert:")
    assert not any("not scored" in n for n in result.notes)


def test_sync_search_scores_undetected_previews_at_the_known_boxes(tmp_path, models, demo_video):
    import lipsync
    from checkpoints.cache import cache_dir
    from minerf_base.video_in import file_sha256

    shutil.copytree(models[0].parent / "demo", cache_dir() / "clips" / f"{file_sha256(demo_video)[:16]}-64")
    audio = tmp_path / "speech.wav"
    sf.write(audio, speech(1.2, seed=7)[0], 16000)
    out = tmp_path / "searched.mp4"
    options = DubOptions(run=models[0], audio2exp=models[1], personalize_steps=8, device="cpu", full_head=True, sync_search=1, sync_search_seconds=0.6)
    result = dub(demo_video, audio, out, options, progress=False)
    with pytest.raises(NoFaceTrackError):  # the premise: the detector misses the re-rendered head
        lipsync.score(out, device="cpu")
    search = result.sync_search
    assert search is not None and search["offsets"] == [-1, 0, 1] and search["frames"] == 15
    assert all(math.isfinite(v) for v in search["lse_c_at_0"] + search["lse_d"]) and search["chosen"] in (-1, 0, 1)
    assert not any(n.startswith("sync search not done") for n in result.notes)


def test_detected_face_keeps_the_detector_score(demo_video):
    notes: list[str] = []
    # degenerate boxes: cropping there would fail, so a score proves the detector's track was used
    score = score_output(demo_video, DubOptions(device="cpu"), notes, known_boxes=np.zeros((100, 4)))
    assert notes == [] and score["faces"] == DETECTED_MARK and score["lse_d"] > 0
