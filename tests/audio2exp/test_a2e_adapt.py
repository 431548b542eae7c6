"""Speaker calibration (audio2exp adapt), cross-validation folds, the speaker-scale option."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from audio2exp.adapt import SpeakerCalibration, calibrate_on_clip, fit_calibration
from audio2exp.data import FOLD_GAP_FRAMES, split_frames
from audio2exp.model import Audio2ExpConfig, Audio2ExpNet
from audio2exp.predict import Audio2ExpPredictor, Speaker
from minerf_base.clip import load_clip
from minerf_base.errors import InputError
from tests.audio2exp.conftest import DIM, make_clip


def test_calibration_recovers_an_affine_map_of_the_mouth_components(tmp_path):
    rng = np.random.default_rng(0)
    predicted = rng.standard_normal((400, DIM)).astype(np.float32)
    tracked = predicted.copy()
    tracked[:, 0] = 3.0 * predicted[:, 0] + 1.0
    tracked[:, 1] = -2.0 * predicted[:, 1] + 0.5 * predicted[:, 0]
    cal = fit_calibration(predicted, tracked, [0, 1], ridge=1e-6)
    out = cal.apply(predicted)
    np.testing.assert_allclose(out[:, :2], tracked[:, :2], atol=1e-3)
    np.testing.assert_array_equal(out[:, 2:], predicted[:, 2:])  # other components untouched
    loaded = SpeakerCalibration.load(cal.save(tmp_path / "cal.json"))
    np.testing.assert_allclose(loaded.apply(predicted), out, atol=1e-6)
    # the ridge shrinks the map towards the speaker's mean
    shrunk = fit_calibration(predicted, tracked, [0, 1], ridge=1.0).apply(predicted)
    assert shrunk[:, 0].std() < 0.6 * tracked[:, 0].std()
    np.testing.assert_allclose(shrunk[:, 0].mean(), tracked[:, 0].mean(), atol=1e-4)


def test_calibration_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "something-else", "version": 1}))
    with pytest.raises(InputError, match="audio2exp adapt"):
        SpeakerCalibration.load(bad)
    with pytest.raises(InputError, match="at least"):
        fit_calibration(np.zeros((3, DIM)), np.zeros((3, DIM)), [0])


def test_calibrating_on_a_new_speakers_clip_fits_their_style(trained_run, tmp_path):
    """A speaker (not trained on) whose mouth moves 3x as much, vowel sign flipped: the
    calibration fitted on the first 80 % of their clip lowers the error on the last 20 %."""
    clip_dir = make_clip(tmp_path / "spk_c", seed=7, offset=-0.3, mouth_gain=(3.0, -1.0))
    clip = load_clip(clip_dir, check_files=False)
    predictor = Audio2ExpPredictor.load(trained_run)
    train, test = split_frames(clip.num_frames, 0.2)
    cal = calibrate_on_clip(predictor, clip, train)
    assert cal.frames == train.size
    plain = predictor.predict(clip.audio(), speaker=Speaker(reference_expressions=clip.expression[train]))[: clip.num_frames]
    fitted = cal.apply(plain)
    err = lambda e: float(((e[test][:, :2] - clip.expression[test][:, :2]) ** 2).mean())  # noqa: E731
    assert err(fitted) < 0.5 * err(plain)
    # the same through the CLI: adapt, then predict with the calibration
    runner = CliRunner()
    from minerf_dub.cli import audio2exp

    result = runner.invoke(audio2exp, ["adapt", str(clip_dir), "--checkpoint", str(trained_run), "-o", str(tmp_path / "c.json"), "--holdout", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["frames"] == train.size
    import soundfile as sf

    sf.write(tmp_path / "speech.wav", clip.audio(), 16000)
    out = tmp_path / "e.npy"
    result = runner.invoke(audio2exp, ["predict", str(tmp_path / "speech.wav"), "--checkpoint", str(trained_run), "-o", str(out), "--reference-clip", str(clip_dir), "--calibration", str(tmp_path / "c.json"), "-q"])
    assert result.exit_code == 0, result.output
    assert err(np.load(out)[: clip.num_frames]) < 0.5 * err(plain)


def test_folds_hold_out_every_frame_once_with_a_gap():
    n, folds = 75, 10
    seen = np.zeros(n, int)
    for k in range(folds):
        train, test = split_frames(n, fold=(k, folds))
        seen[test] += 1
        assert np.intersect1d(train, test).size == 0
        gap = np.abs(train[:, None] - test[None, :]).min()
        assert gap == FOLD_GAP_FRAMES + 1
    assert np.all(seen == 1)
    with pytest.raises(InputError):
        split_frames(n, fold=(10, 10))


def test_fold_training_evaluates_on_its_own_block(synthetic_clips, tmp_path):
    from audio2exp.evaluate import heldout_comparison
    from audio2exp.train import AUDIO2EXP_PRESETS, train

    config, net = AUDIO2EXP_PRESETS["tiny"]
    from dataclasses import replace

    train(synthetic_clips, tmp_path / "run", train_config=replace(config, steps=4, fold=(3, 5)), net_config=net)
    predictor = Audio2ExpPredictor.load(tmp_path / "run")
    assert predictor.meta["training"]["config"]["fold"] == [3, 5]
    result = heldout_comparison(predictor, synthetic_clips)
    assert result["heldout_frames"] == 2 * 50  # block 3 of 5 of two 250-frame clips
    assert result["readout_corr_on_tracked"] > 0.9


def test_speaker_scale_multiplies_the_offsets():
    config = Audio2ExpConfig(feature_dim=12, expression_dim=5, hidden=8, dilations=(1,), smooth_margin=1, num_identities=2, speaker_scale=True)
    net = Audio2ExpNet(config).eval()
    torch.nn.init.normal_(net.members[0].out.weight)
    with torch.no_grad():
        net.identity_scale.copy_(torch.tensor([[1.0] * 5, [3.0] * 5]))
        net.identity_mean.copy_(torch.randn(2, 5))
    x = torch.randn(1, 8 + 2 * config.margin, 12)
    offsets = net.offsets(x)
    for i, s in enumerate((1.0, 3.0)):
        out = net.to_standard(net(x, torch.tensor([i])))
        torch.testing.assert_close(out, net.identity_mean[i] + s * offsets)
    # the average speaker: geometric mean of the scales
    torch.testing.assert_close(net.scale(None), torch.full((1, 5), 3.0**0.5))
