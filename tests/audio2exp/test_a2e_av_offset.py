"""Audio/video offsets of training clips: found, undone, recorded, and scored alike."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from audio2exp.audio import frame_db
from audio2exp.av_offset import (
    SILENT_FRAME_DB,
    lag_correlations,
    pick_offset,
    shift_clip,
    shift_samples,
)
from audio2exp.data import load_clip_data
from audio2exp.features import FeatureConfig, make_extractor, silence_features
from audio2exp.model import Audio2ExpConfig
from audio2exp.train import Audio2ExpTrainConfig, TrainSession
from checkpoints import latest_checkpoint
from tests.audio2exp.conftest import make_clip

# the small network and short training of the offset tests
NET = Audio2ExpConfig(hidden=24, dilations=(1, 2, 4), smooth_margin=2, attention_dim=8, dropout=0.0)
SYNC_TRAINING = Audio2ExpTrainConfig(steps=200, batch=16, crop=24, save_every=200, sync_correct=True)


def test_lag_correlations_peak_where_the_prediction_lags():
    rng = np.random.default_rng(0)
    tracked = np.convolve(rng.standard_normal(300), np.ones(5) / 5, mode="same")
    predicted = np.roll(tracked, 4) + 0.1 * rng.standard_normal(300)  # predicted[t + 4] ~ tracked[t]
    r = lag_correlations(tracked, predicted, np.arange(20, 280), max_lag=10)
    assert r.shape == (21,) and int(np.argmax(r)) - 10 == 4 and r[14] > 0.9
    assert pick_offset(r, min_gain=0.2) == 4
    assert pick_offset(r, min_gain=2.0) == 0  # not clearly better than no shift: keep 0
    assert pick_offset(lag_correlations(tracked, tracked, np.arange(300), 10)) == 0


def test_shifted_samples_and_shifted_clip_agree(tmp_path):
    path = make_clip(tmp_path / "spk", seed=3, num_frames=60)
    extractor = make_extractor(FeatureConfig())
    clip = load_clip_data(path, extractor)
    silence = silence_features(extractor)
    for lag in (3, -2):
        moved = shift_clip(clip, lag, silence)
        t = np.arange(clip.num_frames)
        inside = (t + lag >= 0) & (t + lag < clip.num_frames)
        np.testing.assert_array_equal(moved.features[inside], clip.features[t[inside] + lag])
        np.testing.assert_array_equal(moved.features[~inside], np.repeat(silence[None], (~inside).sum(), 0))
        assert np.all(moved.frame_db[~inside] == SILENT_FRAME_DB) and (~inside).sum() == abs(lag)
        np.testing.assert_array_equal(moved.expression, clip.expression)  # only the audio moves
        samples = np.random.default_rng(1).standard_normal(clip.num_frames * 640).astype(np.float32)
        levels = frame_db(shift_samples(samples, lag))
        np.testing.assert_allclose(levels[inside], frame_db(samples)[t[inside] + lag], rtol=1e-6)
        assert np.all(levels[~inside] < -100)
    assert shift_clip(clip, 0, silence) is clip


@pytest.fixture(scope="module")
def synced_run(tmp_path_factory):
    """Four speakers; the third one's sound comes 6 frames (240 ms) after its lips."""
    from audio2exp.train import train

    root = tmp_path_factory.mktemp("a2e_sync")
    clips = [make_clip(root / f"spk_{k}", seed=10 + k, offset=0.2 * k, audio_delay=6 if k == 2 else 0) for k in range(4)]
    out = root / "run"
    summary = train(clips, out, train_config=SYNC_TRAINING, net_config=NET)
    return clips, out, summary


def test_training_finds_the_late_sound_and_records_it(synced_run):
    from audio2exp.predict import Audio2ExpPredictor

    clips, out, summary = synced_run
    assert summary["av_offsets"] == {"spk_0": 0, "spk_1": 0, "spk_2": 6, "spk_3": 0}
    recorded = Audio2ExpPredictor.load(out).meta["training"]["av_offsets"]
    assert recorded["spk_2"]["offset"] == 6
    assert recorded["spk_2"]["corr_at_offset"] > recorded["spk_2"]["corr_at_zero"] + 0.2


def test_the_same_clips_and_seed_give_the_same_offsets_and_weights(synced_run, tmp_path):
    from safetensors.numpy import load_file

    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    clips, out, _ = synced_run
    again = tmp_path / "again"
    train(clips, again, train_config=SYNC_TRAINING, net_config=NET)
    # the offset search, correlations included, and the final network repeat exactly
    assert Audio2ExpPredictor.load(again).meta["training"]["av_offsets"] == Audio2ExpPredictor.load(out).meta["training"]["av_offsets"]
    first, second = load_file(latest_checkpoint(out) / "weights.safetensors"), load_file(latest_checkpoint(again) / "weights.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_heldout_scoring_realigns_the_late_clip_for_every_method(synced_run, tmp_path):
    from audio2exp.evaluate import heldout_comparison
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    clips, out, _ = synced_run
    held = heldout_comparison(Audio2ExpPredictor.load(out), clips)
    assert held["av_offsets"] == {"spk_0": 0, "spk_1": 0, "spk_2": 6, "spk_3": 0}
    # the same clips without correction: the late clip's lips are not predictable from the
    # sound of their own frames, for the network and for the envelope regression alike
    plain = tmp_path / "plain"
    train(clips, plain, train_config=replace(SYNC_TRAINING, sync_correct=False), net_config=NET)
    unaligned = heldout_comparison(Audio2ExpPredictor.load(plain), clips)
    assert unaligned["av_offsets"]["spk_2"] == 0
    for method in ("audio2exp", "envelope_linear_per_clip"):
        assert held[method]["per_clip"]["spk_2"]["opening_corr"] > unaligned[method]["per_clip"]["spk_2"]["opening_corr"] + 0.2
    assert held["audio2exp"]["per_clip"]["spk_2"]["mouth_mse"] < 0.7 * held["mean_expression"]["per_clip"]["spk_2"]["mouth_mse"]


def test_cli_reports_the_offsets(synced_run, tmp_path):
    import json

    from click.testing import CliRunner

    from audio2exp.commands import audio2exp

    clips, _, _ = synced_run
    result = CliRunner().invoke(audio2exp, ["train", *map(str, clips[:2]), "-o", str(tmp_path / "run"), "--preset", "tiny", "--sync-correct", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary["av_offsets"]) == {"spk_0", "spk_1"} and all(isinstance(v, int) for v in summary["av_offsets"].values())


def test_resumed_run_reuses_the_offsets_it_found(tmp_path, monkeypatch):
    import audio2exp.train as training
    from audio2exp.train import train

    clips = [make_clip(tmp_path / f"spk_{k}", seed=20 + k, num_frames=150, audio_delay=5 if k == 1 else 0) for k in range(3)]
    config = replace(SYNC_TRAINING, steps=160, save_every=80)
    first = train(clips, tmp_path / "run", train_config=config, net_config=NET, session=TrainSession(stop_at=80))
    assert first["step"] == 80

    def search_again(*_args, **_kwargs):
        raise AssertionError("a resumed run searched the offsets again")

    monkeypatch.setattr(training, "estimate_offsets", search_again)
    second = train(clips, tmp_path / "run", train_config=config, net_config=NET)
    assert second["step"] == 160 and second["av_offsets"] == first["av_offsets"]
    assert first["av_offsets"]["spk_1"] == 5


def test_calibration_on_a_late_clip_finds_and_undoes_its_offset(synced_run, tmp_path):
    import json

    from click.testing import CliRunner

    from audio2exp.adapt import SpeakerCalibration, calibrate_on_clip
    from audio2exp.commands import audio2exp
    from audio2exp.predict import Audio2ExpPredictor, Speaker
    from minerf_base.clip import load_clip

    _, out, _ = synced_run
    predictor = Audio2ExpPredictor.load(out)
    late = load_clip(make_clip(tmp_path / "late", seed=31, offset=0.1, audio_delay=5), check_files=False)
    aligned = calibrate_on_clip(predictor, late, align=True)
    unaligned = calibrate_on_clip(predictor, late)  # the default fits the frames as they are
    assert aligned.offset == 5 and unaligned.offset == 0
    assert aligned.frames == late.num_frames - 5 and unaligned.frames == late.num_frames
    # fitted on pairs of the wrong frames, the calibration damps the mouth; re-aligned it does not
    predicted = predictor.predict(late.audio(), speaker=Speaker(reference_expressions=late.expression))[: late.num_frames]
    frames = np.arange(late.num_frames - 5)

    def opening_corr(calibration):
        calibrated = predictor.opening(calibration.apply(predicted))[frames + 5]
        return np.corrcoef(calibrated, predictor.opening(late.expression)[frames])[0, 1]

    assert opening_corr(aligned) > opening_corr(unaligned) + 0.2
    assert np.abs(aligned.weight).sum() > 1.5 * np.abs(unaligned.weight).sum()
    synced = load_clip(make_clip(tmp_path / "synced", seed=32, offset=0.1), check_files=False)
    assert calibrate_on_clip(predictor, synced, align=True).offset == 0  # a clip in sync keeps its frames

    result = CliRunner().invoke(audio2exp, ["adapt", str(late.path), "--checkpoint", str(out), "-o", str(tmp_path / "late.json"), "--align", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["offset"] == 5 and SpeakerCalibration.load(tmp_path / "late.json").offset == 5
