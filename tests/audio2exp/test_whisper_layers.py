"""The PyTorch Whisper encoder that reads a CTranslate2 model.bin: the file reader, the
encoder against a slow NumPy reference on a tiny written model, and against ctranslate2
itself on the real whisper-base when its packages are installed."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from audio2exp.features import FeatureConfig
from audio2exp.whisper_features import WINDOW_SAMPLES, WhisperEncoder, WhisperFeatures, log_mel
from audio2exp.whisper_torch import LayerWhisperEncoder, read_variables
from minerf_base.errors import InputError
from tests.audio2exp.conftest import synthetic_speech

MELS, DIM, HEADS, BLOCKS, STATES = 4, 8, 2, 2, 6


def _write_model(path: Path, variables: dict[str, np.ndarray], version: int = 6) -> Path:
    """A model.bin in ctranslate2's layout (the module docstring of audio2exp.whisper_torch)."""
    type_ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    out = struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, value in variables.items():
        value = np.asarray(value)  # tobytes() is C order whatever the layout
        out += string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<BI", type_ids[value.dtype], value.nbytes) + value.tobytes()
    path.write_bytes(out + struct.pack("<I", 0))
    return path


def _tiny_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.4) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float16)

    w = {
        "encoder/conv1/weight": r(DIM, MELS, 3), "encoder/conv1/bias": r(DIM),
        "encoder/conv2/weight": r(DIM, DIM, 3), "encoder/conv2/bias": r(DIM),
        "encoder/position_encodings/encodings": r(STATES, DIM),
        "encoder/layer_norm/gamma": 1 + r(DIM, scale=0.1), "encoder/layer_norm/beta": r(DIM, scale=0.1),
        "encoder/num_heads": np.array(HEADS, np.int16),
        "decoder/embeddings/weight": r(5, DIM),  # not the encoder's: skipped by the reader
    }
    for b in range(BLOCKS):
        p = f"encoder/layer_{b}"
        for norm in ("self_attention/layer_norm", "ffn/layer_norm"):
            w[f"{p}/{norm}/gamma"], w[f"{p}/{norm}/beta"] = 1 + r(DIM, scale=0.1), r(DIM, scale=0.1)
        w[f"{p}/self_attention/linear_0/weight"], w[f"{p}/self_attention/linear_0/bias"] = r(3 * DIM, DIM), r(3 * DIM)
        w[f"{p}/self_attention/linear_1/weight"], w[f"{p}/self_attention/linear_1/bias"] = r(DIM, DIM), r(DIM)
        w[f"{p}/ffn/linear_0/weight"], w[f"{p}/ffn/linear_0/bias"] = r(4 * DIM, DIM), r(4 * DIM)
        w[f"{p}/ffn/linear_1/weight"], w[f"{p}/ffn/linear_1/bias"] = r(DIM, 4 * DIM), r(DIM)
    return w


def _reference(w: dict[str, np.ndarray], mel: np.ndarray, layer: int) -> np.ndarray:
    """Whisper's encoder written out in float64 loops (one item of the batch)."""
    f = {k: v.astype(np.float64) for k, v in w.items()}
    gelu = lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))  # noqa: E731

    def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
        padded = np.pad(x, ((0, 0), (1, 1)))
        steps = range(0, x.shape[1], stride)
        return np.stack([np.einsum("oik,ik->o", weight, padded[:, t : t + 3]) + bias for t in steps], axis=1)

    def norm(x: np.ndarray, name: str) -> np.ndarray:
        centred = x - x.mean(-1, keepdims=True)
        return centred / np.sqrt((centred**2).mean(-1, keepdims=True) + 1e-5) * f[f"{name}/gamma"] + f[f"{name}/beta"]

    x = gelu(conv(mel.astype(np.float64), f["encoder/conv1/weight"], f["encoder/conv1/bias"], 1))
    x = gelu(conv(x, f["encoder/conv2/weight"], f["encoder/conv2/bias"], 2)).T + f["encoder/position_encodings/encodings"][: (mel.shape[1] + 1) // 2]
    head = DIM // HEADS
    for b in range(layer):
        p = f"encoder/layer_{b}/"
        qkv = norm(x, p + "self_attention/layer_norm") @ f[p + "self_attention/linear_0/weight"].T + f[p + "self_attention/linear_0/bias"]
        q, k, v = np.split(qkv, 3, axis=1)
        heads = []
        for h in range(HEADS):
            s = slice(h * head, (h + 1) * head)
            scores = q[:, s] @ k[:, s].T / np.sqrt(head)
            attn = np.exp(scores - scores.max(1, keepdims=True))
            heads.append((attn / attn.sum(1, keepdims=True)) @ v[:, s])
        x = x + np.concatenate(heads, 1) @ f[p + "self_attention/linear_1/weight"].T + f[p + "self_attention/linear_1/bias"]
        hidden = gelu(norm(x, p + "ffn/layer_norm") @ f[p + "ffn/linear_0/weight"].T + f[p + "ffn/linear_0/bias"])
        x = x + hidden @ f[p + "ffn/linear_1/weight"].T + f[p + "ffn/linear_1/bias"]
    return norm(x, "encoder/layer_norm") if layer == BLOCKS else x


def test_reader_returns_the_encoders_variables_as_written(tmp_path):
    w = _tiny_weights()
    got = read_variables(_write_model(tmp_path / "model.bin", w))
    assert set(got) == {k for k in w if k.startswith("encoder/")}
    for name, value in got.items():
        assert value.dtype == w[name].dtype and value.shape == w[name].shape
        np.testing.assert_array_equal(value, w[name])


@pytest.mark.parametrize("layer", [1, BLOCKS])
def test_encoder_equals_the_reference_at_each_block(tmp_path, layer):
    w = _tiny_weights(seed=layer)
    encoder = LayerWhisperEncoder(_write_model(tmp_path / "model.bin", w), layer)
    assert (encoder.layers, encoder.n_mels, encoder.dim, encoder.heads) == (BLOCKS, MELS, DIM, HEADS)
    mel = np.random.default_rng(9).standard_normal((2, MELS, 2 * STATES)).astype(np.float32)
    out = encoder.encode(mel)
    assert out.shape == (2, STATES, DIM) and out.dtype == np.float32
    for item in range(2):
        np.testing.assert_allclose(out[item], _reference(w, mel[item], layer), rtol=1e-4, atol=1e-4)


def test_bad_model_files_and_layers_are_clear_errors(tmp_path):
    w = _tiny_weights()
    good = _write_model(tmp_path / "model.bin", w)
    with pytest.raises(InputError, match=r"(?s)blocks 1\.\.2, not 3.*--layer between 1 and 2"):
        LayerWhisperEncoder(good, 3)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputError, match="cut short|not a readable") as info:
        LayerWhisperEncoder(cut, 1)
    assert str(cut) in str(info.value)
    with pytest.raises(InputError, match="binary version 2"):
        LayerWhisperEncoder(_write_model(tmp_path / "old.bin", w, version=2), 1)
    quantised = dict(w, **{"encoder/layer_0/ffn/linear_0/weight": np.ones((4 * DIM, DIM), np.int8)})
    with pytest.raises(InputError, match="int8-quantised"):
        LayerWhisperEncoder(_write_model(tmp_path / "q.bin", quantised), 1)
    with pytest.raises(InputError, match="no Whisper encoder"):
        LayerWhisperEncoder(_write_model(tmp_path / "empty.bin", {"decoder/x": np.zeros(2, np.float32)}), 1)


def test_a_layer_is_part_of_the_feature_cache_key(tmp_path):
    w = _tiny_weights()
    folder = tmp_path / "tiny-whisper"
    folder.mkdir()
    _write_model(folder / "model.bin", w)
    keys = [WhisperEncoder(folder, layer=k) for k in (1, 2)]
    from audio2exp.whisper_features import _cache_key

    one, two = (_cache_key(e, 50) for e in keys)
    assert one["layer"] == 1 and two["layer"] == 2 and one["compute"] == "float32"
    assert {k: v for k, v in one.items() if k != "layer"} == {k: v for k, v in two.items() if k != "layer"}


# ------------------------------------------------------------------ the real whisper-base
def test_last_block_equals_ctranslate2_and_a_middle_block_is_a_feature_type(real_whisper_folder):
    ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed")
    audio, _, _ = synthetic_speech(150, seed=4)  # 6 s
    window = np.zeros((1, WINDOW_SAMPLES), np.float32)
    window[0, 16000 : 16000 + audio.size] = audio
    mel = log_mel(window)
    model = ctranslate2.models.Whisper(str(real_whisper_folder), device="cpu", compute_type="float32", intra_threads=2)
    reference = np.asarray(model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    last = LayerWhisperEncoder(real_whisper_folder / "model.bin", 6).encode(mel)
    np.testing.assert_allclose(last, reference, atol=5e-3)
    features = WhisperFeatures(FeatureConfig(kind="whisper", model=str(real_whisper_folder), layer=3))
    assert features.dim == 512 and features.cache_key["layer"] == 3
    left, right = features.context
    third = features(np.concatenate([np.zeros(left, np.float32), audio, np.zeros(right, np.float32)]), 150)
    assert third.shape == (150, 512) and np.all(np.isfinite(third))
    # block 3 is not the output (another scale, no final norm), and it hears the speech
    block3 = LayerWhisperEncoder(real_whisper_folder / "model.bin", 3)
    states, quiet = block3.encode(mel)[0], block3.encode(log_mel(np.zeros_like(window)))[0]
    assert np.abs(states - reference[0]).mean() > 0.1 * np.abs(reference).mean()
    assert np.abs(states[50:350] - quiet[50:350]).mean() > 0.2 * np.abs(quiet[50:350]).mean()
