"""The own SyncNet expert that ships (checkpoints/shipped/syncnet-talk14): found through the
normal weights lookup as the last resort, small, trained on rights-clear clips only (GRID and
public-domain addresses), and able to find a known audio shift on a GRID video it never saw."""

from __future__ import annotations

import json

import pytest

import lipsync
from checkpoints.shipped import SHIPPED, SHIPPED_DIR
from lipsync.media import shift_audio
from lipsync.weights import describe_weights, load_syncnet
from minerf_base.errors import NoWeightsError
from tests.conftest import shared_data

SHIPPED_EXPERT = SHIPPED_DIR / SHIPPED["lipsync"]
HELD_OUT = ("grid_sbia1a", "grid_swiz3n", "klobuchar_address_10s_256px", "markey_address_8s_512px", "menendez_address_8s_512px")
RIGHTS_CLEAR_TRAINING = (  # ../shared/data/README.md: GRID CC BY 4.0, US federal works public domain
    "grid_bbaf2n", "grid_brbk7n", "grid_lbbc2a", "grid_lwbsza", "grid_s2_swwp2s", "grid_sbwe5n",
    "obama_address_a_47s_256px", "obama_address_b_30s_256px_30fps", "obama_address_c_20s_256px_30fps",
    "lieu_address_60s_256px", "noem_address_18s_256px_30fps", "trump_address_10s_512px",
    "address_radio2_8s_512px", "address_radio34_8s_512px",
)


def test_shipped_expert_is_the_last_resort_and_says_its_numbers_are_not_comparable(monkeypatch, random_weights):
    loaded = load_syncnet(None, "cpu")
    assert loaded.path == SHIPPED_EXPERT.resolve()
    assert loaded.weights_id.startswith("shipped-expert:syncnet-talk14:")
    assert "own expert, shipped" in describe_weights(loaded.weights_id) and "not comparable" in describe_weights(loaded.weights_id)
    assert describe_weights("syncnet_v2-layout:syncnet_v2.model:abc") == "syncnet_v2-layout:syncnet_v2.model:abc"
    monkeypatch.setenv("MINERF_SYNCNET_WEIGHTS", str(random_weights))  # anything configured wins
    assert load_syncnet(None, "cpu").path == random_weights.resolve()
    monkeypatch.delenv("MINERF_SYNCNET_WEIGHTS")
    monkeypatch.setattr("lipsync.weights.shipped_expert", lambda: None)  # an installation without it
    with pytest.raises(NoWeightsError, match="no SyncNet weights found"):
        load_syncnet(None, "cpu")


def test_shipped_expert_is_small_weights_only_and_trained_on_rights_clear_clips_only():
    assert sorted(p.name for p in SHIPPED_EXPERT.iterdir()) == ["checkpoint.json", "weights.safetensors"]
    assert sum(p.stat().st_size for p in SHIPPED_EXPERT.iterdir()) < 8 * 2**20
    meta = json.loads((SHIPPED_EXPERT / "checkpoint.json").read_text())
    assert meta["kind"] == "syncnet"
    clips = meta["clips"]
    assert len(clips) == 14 and sorted(clips) == sorted(RIGHTS_CLEAR_TRAINING)
    assert not set(clips) & set(HELD_OUT)


@pytest.fixture(scope="module")
def held_out_crops():
    """(224 px face crops of the one face track, 16 kHz int16 audio of that track) of a GRID
    video the shipped expert was not trained on."""
    from lipsync.faces import FaceTrackConfig, crop_tracks, find_tracks
    from lipsync.media import iter_video_frames, read_audio
    from minerf_base.timebase import SAMPLES_PER_FRAME

    video = shared_data("videos", "grid_sbia1a.mpg")
    config = FaceTrackConfig()
    tracks, _, _ = find_tracks(iter_video_frames(video), config)
    (track,) = tracks
    (crops,) = crop_tracks(iter_video_frames(video), tracks, config)
    return crops, read_audio(video)[track.start * SAMPLES_PER_FRAME : track.end * SAMPLES_PER_FRAME]


@pytest.mark.parametrize("delay", [0, 4, -4])
def test_shipped_expert_finds_a_known_audio_shift_on_a_held_out_grid_video(held_out_crops, delay):
    crops, audio = held_out_crops
    result = lipsync.score(crops, shift_audio(audio, delay), faces_cropped=True, device="cpu")
    assert result.weights_id.startswith("shipped-expert:")
    assert abs(result.offset - (-delay)) <= 1, result
