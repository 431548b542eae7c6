"""The audio2exp checkpoint that ships with the toolkit (checkpoints/shipped/audio2exp-grid8)."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from audio2exp.audio import open_audio
from audio2exp.predict import Audio2ExpPredictor, PredictOptions
from checkpoints.shipped import shipped_checkpoint
from tests.conftest import shared_data


def test_shipped_checkpoint_loads_and_opens_the_mouth_for_speech_only(tmp_path):
    predictor = Audio2ExpPredictor.load(shipped_checkpoint("audio2exp"))
    assert predictor.expression_space == "mp468-pca-v1"
    assert predictor.expression_dim == 24
    assert len(predictor.identities) == 8
    # Spanish speech between two seconds of silence, at the file's own rate
    speech, rate = sf.read(shared_data("audio", "read_es.wav"), dtype="float32", always_2d=False)
    speech = speech[: 4 * rate]
    silence = np.zeros(2 * rate, np.float32)
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.concatenate([silence, speech, silence]), rate)
    for gate in (True, False):
        e = predictor.predict_file(wav, options=PredictOptions(silence_gate=gate))
        assert e.shape == (open_audio(wav).num_frames, 24) and e.dtype == np.float32
        assert np.all(np.isfinite(e))
        opening = predictor.opening(e)
        quiet = np.r_[opening[5:45], opening[-45:-5]]  # inside the silences
        talking = opening[55:-55]
        assert np.percentile(talking, 75) > quiet.max(), (gate, talking.mean(), quiet.max())
