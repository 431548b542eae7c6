"""A checkpoint records its front end and refuses another; train -> predict with the whisper
front end through the CLI (a deterministic stand-in encoder: no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import audio2exp.predict as predict_module
from audio2exp import whisper_features
from audio2exp.checkpoint import check_features, load_model, save_model
from audio2exp.features import FeatureConfig, make_extractor
from audio2exp.model import Audio2ExpConfig, Audio2ExpNet
from audio2exp.predict import Audio2ExpPredictor
from audio2exp.whisper_features import WhisperFeatures
from checkpoints import CheckpointError, latest_checkpoint
from minerf_base.errors import InputError
from tests.audio2exp.conftest import DIM, synthetic_speech
from tests.audio2exp.whisper_standins import LocalEncoder


@pytest.fixture
def standin_whisper(tmp_path, monkeypatch) -> Path:
    """The whisper front end with :class:`LocalEncoder` (dim 4) in place of ctranslate2."""
    folder = tmp_path / "whisper-standin"
    folder.mkdir()
    monkeypatch.setattr(whisper_features, "find_whisper_model", lambda explicit: folder)
    monkeypatch.setattr(whisper_features, "WhisperEncoder", lambda where, device="cpu", threads=None, layer=-1: LocalEncoder())
    return folder


def _checkpoint(folder: Path, features: FeatureConfig, feature_dim: int) -> Path:
    net = Audio2ExpNet(Audio2ExpConfig(feature_dim=feature_dim, expression_dim=3, hidden=8, dilations=(1,), smooth_margin=1))
    meta = {"features": features.to_dict(), "expression_space": {"id": "s", "dim": 3, "mouth_components": [0]}, "identities": ["a"], "opening_readout": [0.0, 0.0, 0.0, 0.0]}
    save_model(folder, net, meta)
    return folder


def test_a_checkpoint_refuses_another_feature_type(tmp_path, standin_whisper, monkeypatch):
    logmel = FeatureConfig()
    logmel_run = _checkpoint(tmp_path / "logmel_run", logmel, make_extractor(logmel).dim)
    whisper_run = _checkpoint(tmp_path / "whisper_run", FeatureConfig(kind="whisper"), LocalEncoder.dim)
    assert Audio2ExpPredictor.load(whisper_run).extractor.dim == LocalEncoder.dim  # its own front end
    _, meta = load_model(logmel_run)
    with pytest.raises(CheckpointError, match="trained on 'logmel' features, not 'whisper'\n  fix: predict with the 'logmel' front end"):
        check_features(logmel_run, meta, make_extractor(FeatureConfig(kind="whisper")))
    # a front end registry that hands out the wrong extractor is caught when loading
    with monkeypatch.context() as patch:
        patch.setattr(predict_module, "make_extractor", lambda config, device="cpu": make_extractor(FeatureConfig(kind="whisper")))
        with pytest.raises(CheckpointError, match="trained on 'logmel' features, not 'whisper'"):
            Audio2ExpPredictor.load(logmel_run)
    with pytest.raises(InputError, match="uses log-mel features; --encoder does not apply"):
        Audio2ExpPredictor.load(logmel_run, encoder=str(standin_whisper))


def test_a_whisper_checkpoint_refuses_an_encoder_of_another_width(tmp_path, standin_whisper):
    run = _checkpoint(tmp_path / "run", FeatureConfig(kind="whisper"), 512)  # e.g. trained on whisper-base
    with pytest.raises(CheckpointError, match="the 'whisper' front end gives 4 features per frame, the checkpoint was trained on 512"):
        Audio2ExpPredictor.load(run, encoder=str(standin_whisper))


def test_train_and_predict_with_whisper_features_through_the_cli(standin_whisper, synthetic_clips, tmp_path):
    from minerf_dub.cli import audio2exp

    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(audio2exp, ["train", *map(str, synthetic_clips), "-o", str(run), "--preset", "tiny", "--steps", "3", "--features", "whisper", "--json", "-q"])
    assert result.exit_code == 0, result.output
    meta = json.loads((latest_checkpoint(run) / "checkpoint.json").read_text())
    assert meta["features"]["kind"] == "whisper" and meta["features"]["model"] is None
    assert meta["config"]["feature_dim"] == LocalEncoder.dim
    audio, _, _ = synthetic_speech(80, seed=9)
    wav = tmp_path / "speech.wav"
    sf.write(wav, audio, 16000)
    out = tmp_path / "expr.npy"
    result = runner.invoke(audio2exp, ["predict", str(wav), "--checkpoint", str(run), "-o", str(out), "--json", "-q"])
    assert result.exit_code == 0, result.output
    expressions = np.load(out)
    assert expressions.shape == (80, DIM) and np.all(np.isfinite(expressions))


def test_whisper_features_report_their_kind(standin_whisper):
    extractor = make_extractor(FeatureConfig(kind="whisper", context_seconds=2.0))
    assert isinstance(extractor, WhisperFeatures)
    assert extractor.config.kind == "whisper" and extractor.margin == 100 and extractor.chunk_multiple == 650
