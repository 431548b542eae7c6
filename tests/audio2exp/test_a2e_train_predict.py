"""Training, checkpoints and prediction on synthetic speech with a known expression relation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from audio2exp.checkpoint import load_model
from audio2exp.evaluate import heldout_comparison, speech_following
from audio2exp.model import Audio2ExpConfig, Audio2ExpNet
from audio2exp.predict import (
    Audio2ExpPredictor,
    PredictJob,
    PredictOptions,
    Speaker,
    predict_to_file,
)
from audio2exp.train import AUDIO2EXP_PRESETS, Audio2ExpTrainConfig, TrainSession, train
from checkpoints import (
    CheckpointError,
    latest_checkpoint,
    read_train_state,
    save_checkpoint,
)
from checkpoints.convert import convert_run
from tests.audio2exp.conftest import DIM, make_clip, synthetic_speech


def test_network_shapes_and_margin():
    config = Audio2ExpConfig(feature_dim=12, expression_dim=5, hidden=8, dilations=(1, 2), smooth_margin=2, num_identities=3)
    net = Audio2ExpNet(config)
    assert config.margin == 5
    out = net(torch.randn(2, 10 + 2 * config.margin, 12), torch.tensor([0, 2]))
    assert out.shape == (2, 10, 5)
    # untrained: every frame is the identity's mean expression
    torch.testing.assert_close(out[1], net.to_units(net.identity_mean[2]).expand(10, 5))


def test_smoothing_attention_is_a_convex_mix_of_neighbours():
    from audio2exp.model import LocalSmoothing

    smooth = LocalSmoothing(channels=4, attention_dim=3, margin=2)
    values = torch.randn(1, 9, 2)
    out = smooth(values, torch.randn(1, 9, 4))
    assert out.shape == (1, 5, 2)
    for t in range(5):
        window = values[0, t : t + 5]
        assert torch.all(out[0, t] <= window.max(0).values + 1e-6) and torch.all(out[0, t] >= window.min(0).values - 1e-6)


def test_checkpoint_carries_features_space_and_dimension(trained_run):
    meta = json.loads((latest_checkpoint(trained_run) / "checkpoint.json").read_text())
    assert meta["kind"] == "audio2exp"
    assert meta["features"]["kind"] == "logmel"
    assert meta["expression_space"] == {"id": "synthetic-v1", "dim": DIM, "mouth_components": [0, 1]}
    assert meta["identities"] == ["spk_a", "spk_b"]
    model, _ = load_model(trained_run)
    assert model.config.expression_dim == DIM


def test_beats_baselines_on_heldout_frames(trained_run, synthetic_clips):
    predictor = Audio2ExpPredictor.load(trained_run)
    result = heldout_comparison(predictor, synthetic_clips)
    net, mean, env = result["audio2exp"], result["mean_expression"], result["envelope_linear"]
    assert result["heldout_frames"] == 2 * 25
    # the vowel component e1 is not in the loudness: only the network gets it
    assert net["mouth_mse"] < 0.5 * env["mouth_mse"]
    assert net["mouth_mse"] < 0.25 * mean["mouth_mse"]
    assert net["opening_corr"] > 0.8
    assert mean["opening_corr"] == 0.0
    # as smooth as what was tracked (the tracked expressions carry jitter)
    assert net["mouth_step"] <= result["tracked_mouth_step"]


def test_mouth_follows_unseen_speech_and_stays_closed_in_pauses(trained_run, tmp_path):
    audio, _, _ = synthetic_speech(400, seed=11)
    path = tmp_path / "new_speech.wav"
    sf.write(path, audio, 16000)
    predictor = Audio2ExpPredictor.load(trained_run)
    for gate in (False, True):  # the network alone already does it; the gate only makes pauses stiller
        result = speech_following(predictor, [path], silence_gate_on=gate)
        stats = result["files"]["new_speech.wav"]
        assert stats["auc"] > 0.95
        assert stats["speech_opening"] > stats["pause_opening"] + 0.1
        assert stats["pause_step_over_speech_step"] < 0.5


def test_silence_gives_a_closed_still_mouth(trained_run, synthetic_clips):
    predictor = Audio2ExpPredictor.load(trained_run)
    rng = np.random.default_rng(3)
    for silence in (np.zeros(16000 * 4, np.float32), (rng.standard_normal(16000 * 4) * 1e-4).astype(np.float32)):
        expr = predictor.predict(silence, speaker=Speaker(identity="spk_a"))
        assert expr.shape == (100, DIM)
        assert np.abs(np.diff(expr, axis=0)).max() < 1e-5  # still
        opening = predictor.opening(expr)
        from audio2exp.data import load_clip_data

        clip = load_clip_data(synthetic_clips[0], predictor.extractor)
        assert opening.max() < np.percentile(clip.opening, 40)  # closed: below most tracked frames


def test_gain_multiplies_the_motion_around_the_base_expression(trained_run, synthetic_clips):
    from minerf_base.errors import InputError

    predictor = Audio2ExpPredictor.load(trained_run)
    audio, _, _ = synthetic_speech(120, seed=12)  # speech and pauses
    base = np.linspace(-0.5, 0.5, DIM).astype(np.float32)
    plain = predictor.predict(audio, speaker=Speaker(base_expression=base))
    np.testing.assert_array_equal(predictor.predict(audio, speaker=Speaker(base_expression=base, gain=1.0)), plain)
    wide = predictor.predict(audio, speaker=Speaker(base_expression=base, gain=2.5))
    assert np.abs(plain - base).max() > 0.05  # there is motion to multiply
    np.testing.assert_allclose(wide - base, 2.5 * (plain - base), rtol=1e-4, atol=1e-5)
    assert predictor.opening(wide).std() > 2.0 * predictor.opening(plain).std()
    with pytest.raises(InputError, match="expression gain 0.0 is not above 0"):
        predictor.predict(audio, speaker=Speaker(base_expression=base, gain=0.0))


def test_speaker_lift_is_applied_to_the_prediction_last(trained_run, synthetic_clips):
    from audio2exp.lift import fit_lift
    from minerf_base.clip import load_clip

    predictor = Audio2ExpPredictor.load(trained_run)
    audio, _, _ = synthetic_speech(120, seed=13)
    clip = load_clip(synthetic_clips[1])
    lift = fit_lift(clip.expression, predictor.speech_directions)
    plain = predictor.predict(audio, speaker=Speaker(base_expression=lift.mean.astype(np.float32), gain=2.0))
    lifted = predictor.predict(audio, speaker=Speaker(base_expression=lift.mean.astype(np.float32), gain=2.0, lift=lift))
    np.testing.assert_allclose(lifted, lift.apply(plain), atol=1e-5)
    assert np.abs(lifted - plain).max() > 1e-3  # the lift changed the prediction


def test_chunked_prediction_equals_whole_and_stays_bounded(trained_run, tmp_path, monkeypatch):
    audio, _, _ = synthetic_speech(160, seed=5)
    stereo_44k = np.stack([audio, audio], axis=1)
    path = tmp_path / "speech.wav"
    sf.write(path, stereo_44k, 16000)
    predictor = Audio2ExpPredictor.load(trained_run)
    whole = predictor.predict_file(path, options=PredictOptions(chunk_frames=10_000))
    spy = _Spy(predictor.extractor)
    monkeypatch.setattr(predictor, "extractor", spy)
    chunked = predictor.predict_file(path, options=PredictOptions(chunk_frames=13))
    np.testing.assert_allclose(chunked, whole, atol=1e-4)
    assert spy.calls[0] == 1  # the silence row
    assert spy.calls[1:] == [13] * (len(whole) // 13) + [len(whole) % 13] * bool(len(whole) % 13)  # each frame extracted once, by its own chunk


class _Spy:
    """Wraps a feature extractor and records how many frames each call computes."""

    def __init__(self, inner):
        self.inner, self.dim, self.context, self.config = inner, inner.dim, inner.context, inner.config
        self.calls = []

    def __call__(self, samples, num_frames):
        self.calls.append(num_frames)
        return self.inner(samples, num_frames)


def test_other_frame_rates_and_sample_rates(trained_run):
    audio, _, _ = synthetic_speech(100, seed=6)  # 4 s
    predictor = Audio2ExpPredictor.load(trained_run)
    at25 = predictor.predict(audio)
    at30 = predictor.predict(audio, options=PredictOptions(fps=30))
    assert at25.shape == (100, DIM) and at30.shape == (120, DIM)
    np.testing.assert_allclose(at30[::6][:20].mean(), at25[::5][:20].mean(), atol=0.2)
    import librosa

    at48k = predictor.predict(librosa.resample(audio, orig_sr=16000, target_sr=48000), sample_rate=48000)
    assert at48k.shape == (100, DIM)
    assert np.corrcoef(predictor.opening(at48k), predictor.opening(at25))[0, 1] > 0.95


def test_other_expression_space_is_refused(trained_run, tmp_path):
    other = make_clip(tmp_path / "other", seed=4, num_frames=30, space={"id": "mp468-pca-v1", "dim": DIM})
    with pytest.raises(CheckpointError, match="expression space 'synthetic-v1'.*'mp468-pca-v1'"):
        predict_to_file(PredictJob(tmp_path / "other" / "audio.wav", trained_run, tmp_path / "e.npy", reference_clips=[other]))
    with pytest.raises(CheckpointError, match="expression space"):
        heldout_comparison(Audio2ExpPredictor.load(trained_run), [other])


def test_training_refuses_mixed_spaces(synthetic_clips, tmp_path):
    from minerf_base.clip import ClipError

    other = make_clip(tmp_path / "other", seed=4, num_frames=30, space={"id": "mp468-pca-v1", "dim": DIM})
    with pytest.raises(ClipError, match="expression space"):
        train([synthetic_clips[0], other], tmp_path / "run", train_config=AUDIO2EXP_PRESETS["tiny"][0], net_config=AUDIO2EXP_PRESETS["tiny"][1])


def test_resumed_training_equals_uninterrupted(synthetic_clips, tmp_path):
    tiny_train, tiny_net = AUDIO2EXP_PRESETS["tiny"]
    config = Audio2ExpTrainConfig(**{**tiny_train.__dict__, "steps": 12, "save_every": 100})
    train(synthetic_clips, tmp_path / "straight", train_config=config, net_config=tiny_net)
    train(synthetic_clips, tmp_path / "resumed", train_config=config, net_config=tiny_net, session=TrainSession(stop_at=5))
    assert json.loads((latest_checkpoint(tmp_path / "resumed") / "checkpoint.json").read_text())["training"]["step"] == 5
    train(synthetic_clips, tmp_path / "resumed", train_config=config, net_config=tiny_net)
    a, _ = load_model(tmp_path / "straight")
    b, _ = load_model(tmp_path / "resumed")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    with pytest.raises(CheckpointError, match="other clips or settings"):
        train(synthetic_clips[:1], tmp_path / "resumed", train_config=config, net_config=tiny_net)


def test_killed_between_checkpoints_resumes_to_the_uninterrupted_weights(synthetic_clips, tmp_path, monkeypatch):
    import audio2exp.train as training

    tiny_train, tiny_net = AUDIO2EXP_PRESETS["tiny"]
    config = Audio2ExpTrainConfig(**{**tiny_train.__dict__, "steps": 12, "save_every": 4})
    train(synthetic_clips, tmp_path / "straight", train_config=config, net_config=tiny_net)
    real_step = training._Audio2ExpJob.train_step

    def killed_at_step_7(job, step):
        if step == 7:
            raise KeyboardInterrupt("killed")
        return real_step(job, step)

    monkeypatch.setattr(training._Audio2ExpJob, "train_step", killed_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        train(synthetic_clips, tmp_path / "killed", train_config=config, net_config=tiny_net)
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "killed").name == "step_00000004"  # steps 5-7 are lost
    assert train(synthetic_clips, tmp_path / "killed", train_config=config, net_config=tiny_net)["step"] == 12
    a, _ = load_model(tmp_path / "straight")
    b, _ = load_model(tmp_path / "killed")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def _as_old_layout(run) -> None:
    """Rewrite a run folder as ``audio2exp train`` wrote it before the one run-folder format:
    the model's checkpoint files at the top of RUN, RUN/train_state/ holding ``model.*``,
    ``average.*`` and ``optim.*`` tensors with the step and the run's fingerprint."""
    import shutil

    from safetensors.torch import load_file

    folder = latest_checkpoint(run)
    state = read_train_state(folder)
    tensors = {f"model.{k}": v for k, v in state.extra["model"].items()} | {f"average.{k}": v for k, v in state.extra["average"].items()}
    tensors |= {f"optim.{i}.{k}": v for i, slots in state.optimizer["state"].items() for k, v in slots.items()}
    save_checkpoint(run / "train_state", tensors, kind="audio2exp-train", version=1, meta={"step": state.step, "fingerprint": state.extra["fingerprint"]})
    meta = json.loads((folder / "checkpoint.json").read_text())
    save_checkpoint(run, load_file(folder / "weights.safetensors"), kind="audio2exp", version=1, meta={k: v for k, v in meta.items() if k not in ("kind", "version", "weights_bytes", "step")})
    shutil.rmtree(run / "checkpoints")
    (run / "latest.json").unlink()


def test_old_layout_run_predicts_and_resumes_after_conversion(synthetic_clips, tmp_path):
    tiny_train, tiny_net = AUDIO2EXP_PRESETS["tiny"]
    config = Audio2ExpTrainConfig(**{**tiny_train.__dict__, "steps": 12, "save_every": 100})
    train(synthetic_clips, tmp_path / "straight", train_config=config, net_config=tiny_net)
    old = tmp_path / "old"
    train(synthetic_clips, old, train_config=config, net_config=tiny_net, session=TrainSession(stop_at=5))
    _as_old_layout(old)
    assert Audio2ExpPredictor.load(old).meta["training"]["step"] == 5  # loads as it is
    with pytest.raises(CheckpointError, match=f"python -m checkpoints.convert {old}"):
        train(synthetic_clips, old, train_config=config, net_config=tiny_net)
    done = convert_run(old)
    assert done["converted"] and done["step"] == 5
    assert not (old / "train_state").exists() and not (old / "checkpoint.json").exists() and (old / "latest.json").is_file()
    train(synthetic_clips, old, train_config=config, net_config=tiny_net)
    a, _ = load_model(tmp_path / "straight")
    b, _ = load_model(old)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
