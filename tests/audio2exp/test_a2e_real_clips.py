"""audio2exp on the real clips of ../shared/data (skipped when absent).

Trains the default network on the first 90 % of every prepared clip with speech (about
1100 frames, 12 speakers) and checks the held-out last 10 %, the non-English speech of
../shared/data/audio and smoothness. The numbers of several seeds are in
benchmarks/audio2exp_eval.py's output (see docs/audio2exp.md).
"""

from __future__ import annotations

import pytest

from minerf_base.clip import load_clip
from tests.conftest import shared_data

NON_ENGLISH = ("read_de", "read_es", "read_fr", "read_it", "read_ja", "read_ko", "read_pt", "fleurs_zh_clip5", "fleurs_ja_clip4", "fleurs_es_003", "fleurs_fr_002")


@pytest.fixture(scope="module")
def real_run(prepared_shared_clips, tmp_path_factory):
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    clips = [path for path in prepared_shared_clips.values() if load_clip(path, check_files=False).has_audio]
    assert len(clips) >= 10
    out = tmp_path_factory.mktemp("a2e_real") / "run"
    train(clips, out)
    return Audio2ExpPredictor.load(out), clips


def test_heldout_frames_beat_both_baselines(real_run):
    from audio2exp.evaluate import heldout_comparison

    predictor, clips = real_run
    result = heldout_comparison(predictor, clips)
    net, cal, mean, env = result["audio2exp"], result["audio2exp_calibrated"], result["mean_expression"], result["envelope_linear"]
    env_clip = result["envelope_linear_per_clip"]
    # per-clip error relative to the clip's mean-expression error (pooled MSE is dominated by
    # one clip whose held-out expression is far outside its training range, where every method
    # is equally far off; it is reported in docs/audio2exp.md, not asserted)
    assert net["relative_mouth_mse"] < env["relative_mouth_mse"] < mean["relative_mouth_mse"] == 1.0
    assert net["opening_corr_pooled"] > 0.2 > mean["opening_corr_pooled"]
    # calibrated on each speaker's training frames: below the per-clip envelope regression too,
    # and its opening follows the tracked one better than the envelope's
    assert cal["relative_mouth_mse"] < env_clip["relative_mouth_mse"] < env["relative_mouth_mse"]
    assert cal["opening_corr_pooled"] > max(env["opening_corr_pooled"], env_clip["opening_corr_pooled"]) + 0.1
    # the readout expression -> opening is a sound measure: it reproduces the tracked opening
    assert result["readout_corr_on_tracked"] > 0.99
    # no more jitter than the tracker: frame-to-frame change of the mouth coefficients
    assert net["mouth_step"] <= result["tracked_mouth_step"]
    assert cal["mouth_step"] <= result["tracked_mouth_step"]


def test_mouth_follows_non_english_speech(real_run):
    from audio2exp.evaluate import speech_following

    predictor, _ = real_run
    files = [shared_data("audio", f"{name}.wav") for name in NON_ENGLISH]
    for gate in (True, False):
        result = speech_following(predictor, files, silence_gate_on=gate)
        assert len(result["files"]) >= 8
        assert result["mean_auc"] > 0.8, result
        opens = [f["speech_opening"] > f["pause_opening"] for f in result["files"].values()]
        assert sum(opens) >= len(opens) - 1


def test_silence_closes_the_mouth_and_keeps_it_still(real_run):
    import numpy as np

    from audio2exp.predict import Speaker

    predictor, clips = real_run
    for path in clips:
        clip = load_clip(path, check_files=False)
        silent = predictor.predict(np.zeros(16000 * 3, np.float32), speaker=Speaker(identity=clip.name))
        assert np.abs(np.diff(silent, axis=0)).max() < 1e-5
        speaking = predictor.opening(predictor.predict(clip.audio(), speaker=Speaker(identity=clip.name)))
        # the rest expression of the clips' pauses: more closed than the same speaker's typical
        # speaking frame (lip closures such as /m/ /b/ /p/ close it further)
        assert predictor.opening(silent).max() < np.percentile(speaking, 50)
