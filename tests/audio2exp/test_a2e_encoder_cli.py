"""The transformers front end (a tiny random wav2vec2 from a local folder) and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio2exp.audio import array_source
from audio2exp.features import FeatureConfig, make_extractor, stream_features
from checkpoints import latest_checkpoint
from minerf_base.errors import InputError
from tests.audio2exp.conftest import DIM, synthetic_speech


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    transformers = pytest.importorskip("transformers", reason="the optional 'hf' extra is not installed")
    import torch

    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer", do_stable_layer_norm=True,  # XLS-R style: per-frame norms
    )
    folder = tmp_path_factory.mktemp("encoder") / "tiny-wav2vec2"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        transformers.Wav2Vec2Model(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_encoder_features_are_aligned_and_chunk_independent(tiny_encoder):
    # layer 0 (CNN features + positional convolution, per-frame norms) is local: chunks with
    # context are exact. (Encoders with group-norm CNNs, e.g. wav2vec2-base, normalise over
    # the chunk and differ slightly.)
    extractor = make_extractor(FeatureConfig(kind="hf", model=tiny_encoder, layer=0, context_seconds=0.5))
    assert extractor.dim == 16
    audio, _, _ = synthetic_speech(60, seed=2)
    whole = np.concatenate([f for _, f in stream_features(array_source(audio), extractor, 1.0, chunk_frames=60)])
    chunked = np.concatenate([f for _, f in stream_features(array_source(audio), extractor, 1.0, chunk_frames=7)])
    assert whole.shape == (60, 16)
    np.testing.assert_allclose(chunked, whole, atol=1e-4)
    # a click inside frame 30 changes the features of frame 30 most
    clicked = audio.copy()
    clicked[30 * 640 + 300 : 30 * 640 + 340] += 0.5
    changed = np.concatenate([f for _, f in stream_features(array_source(clicked), extractor, 1.0, chunk_frames=60)])
    assert int(np.argmax(np.abs(changed - whole).sum(axis=1))) == 30
    # the last layer attends over the whole input: shapes only
    last = make_extractor(FeatureConfig(kind="hf", model=tiny_encoder, layer=-1, context_seconds=0.5))
    feats = np.concatenate([f for _, f in stream_features(array_source(audio), last, 1.0, chunk_frames=25)])
    assert feats.shape == (60, 16) and np.all(np.isfinite(feats))
    with pytest.raises(InputError, match="layer 7 does not exist"):
        make_extractor(FeatureConfig(kind="hf", model=tiny_encoder, layer=7))


def test_missing_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="cannot load the speech encoder"):
        make_extractor(FeatureConfig(kind="hf", model="no-such-org/no-such-model"))
    with pytest.raises(InputError, match="needs a model"):
        make_extractor(FeatureConfig(kind="hf"))


def test_train_and_predict_with_the_encoder_through_the_cli(tiny_encoder, synthetic_clips, tmp_path):
    from minerf_dub.cli import audio2exp

    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(audio2exp, ["train", *map(str, synthetic_clips), "-o", str(run), "--preset", "tiny", "--steps", "4", "--features", "hf", "--encoder", tiny_encoder, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 4
    meta = json.loads((latest_checkpoint(run) / "checkpoint.json").read_text())
    assert meta["features"]["kind"] == "hf" and meta["features"]["model"] == tiny_encoder
    audio, _, _ = synthetic_speech(50, seed=9)
    wav = tmp_path / "speech.wav"
    sf.write(wav, audio, 16000)
    out = tmp_path / "expr.npy"
    result = runner.invoke(audio2exp, ["predict", str(wav), "--checkpoint", str(run), "-o", str(out), "--fps", "30", "--json"])
    assert result.exit_code == 0, result.output
    expr = np.load(out)
    assert expr.shape == (60, DIM) and np.all(np.isfinite(expr))


def test_cli_logmel_predict_and_errors(trained_run, tmp_path):
    from minerf_dub.cli import audio2exp

    audio, _, _ = synthetic_speech(75, seed=8)
    wav = tmp_path / "speech.flac"
    sf.write(wav, audio, 16000)
    out = tmp_path / "expr.npy"
    runner = CliRunner()
    result = runner.invoke(audio2exp, ["predict", str(wav), "--checkpoint", str(trained_run), "-o", str(out), "--identity", "spk_b", "-q"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (75, DIM)
    # a folder that is not a checkpoint: message, fix, exit 2, no traceback
    result = runner.invoke(audio2exp, ["predict", str(wav), "--checkpoint", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 2 and "fix:" in result.output and "Traceback" not in result.output
    result = runner.invoke(audio2exp, ["predict", str(wav), "--checkpoint", str(trained_run), "-o", str(out), "--identity", "nobody"])
    assert result.exit_code == 2 and "unknown identity 'nobody'" in result.output
    result = runner.invoke(audio2exp, ["predict", str(tmp_path / "none.wav"), "--checkpoint", str(trained_run), "-o", str(out)])
    assert result.exit_code == 2 and "does not exist" in result.output
