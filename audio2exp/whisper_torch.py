"""Whisper's encoder in PyTorch, read from a CTranslate2 ``model.bin``: the states of any layer.

ctranslate2's ``Whisper.encode`` returns only the encoder's output (the last block, then the
final layer norm). The middle of the encoder carries more of what the lips do: ridge probes
from each block's states to the tracked mouth opening of speakers the probe never heard
(docs/audio2exp.md) peak at block 3 of Whisper base's 6 and fall toward the output, which
is shaped for the decoder's text. :class:`LayerWhisperEncoder` runs the encoder up to the
block that :attr:`FeatureConfig.layer` names, in float32, with the weights of the same
CTranslate2 folder that :func:`~audio2exp.whisper_model.find_whisper_model` finds (no other
download); only the blocks up to that one are computed.

The ``model.bin`` format (ctranslate2's ``ModelSpec._serialize``, binary version 6): uint32
version, a string (uint16 length with the NUL, UTF-8, NUL) for the spec name, uint32
revision, uint32 variable count, then per variable its name, uint8 rank, uint32 dims, uint8
type id (float32, int8, int16, int32, float16, bfloat16), uint32 byte count and the bytes;
then the aliases. Only float weights are read (an int8-quantised model is refused with the fix).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from minerf_base.errors import InputError

BINARY_VERSIONS = (6,)
"""The versions read here: 6 is ctranslate2 4.x's (the installed whisper-base; checked against ctranslate2)."""
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16
PREFIX = "encoder/"


def _string(fh: BinaryIO) -> str:
    (size,) = struct.unpack("<H", fh.read(2))
    return fh.read(size)[:-1].decode("utf-8")


def read_variables(path: str | Path, prefix: str = PREFIX) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as fh:
            (version,) = struct.unpack("<I", fh.read(4))
            if version not in BINARY_VERSIONS:
                raise InputError(path, f"CTranslate2 binary version {version} is not read here (versions {BINARY_VERSIONS})", "convert the model again with ctranslate2 4.x")
            _string(fh)
            fh.read(4)  # spec revision
            (count,) = struct.unpack("<I", fh.read(4))
            for _ in range(count):
                name = _string(fh)
                (rank,) = struct.unpack("<B", fh.read(1))
                shape = struct.unpack(f"<{rank}I", fh.read(4 * rank))
                type_id, size = struct.unpack("<BI", fh.read(5))
                if not name.startswith(prefix):
                    fh.seek(size, 1)
                    continue
                dtype = _DTYPES[type_id] if type_id < len(_DTYPES) else None
                data = fh.read(size)
                if dtype is None or len(data) != size:
                    raise InputError(path, f"variable {name} is {'cut short' if dtype else f'of type id {type_id}'}", "use a float16 or float32 CTranslate2 model (e.g. the installed whisper-base packages)")
                out[name] = np.frombuffer(data, dtype).reshape(shape)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable CTranslate2 model file ({exc})", "reinstall or reconvert the Whisper model") from None
    return out


class LayerWhisperEncoder:
    """(B, n_mels, 3000) log-mel -> (B, 1500, 512) states of encoder block ``layer`` (1-based;
    ``layers`` = the encoder's output after its final layer norm, what ctranslate2 gives)."""

    def __init__(self, model_bin: str | Path, layer: int, device: str = "cpu"):
        import torch

        weights = read_variables(model_bin)
        self.layers = 1 + max(_block_of(k) for k in weights) if weights else 0
        if "encoder/conv1/weight" not in weights or self.layers < 1:
            raise InputError(model_bin, "no Whisper encoder in this model file", "pass a CTranslate2 Whisper model folder")
        if not 1 <= layer <= self.layers:
            raise InputError(model_bin, f"the encoder has blocks 1..{self.layers}, not {layer}", f"pass --layer between 1 and {self.layers}, or -1 for the encoder's output")
        if any(np.issubdtype(v.dtype, np.integer) and v.ndim == 2 for v in weights.values()):
            raise InputError(model_bin, "this model's weights are int8-quantised", "use a float16 / float32 conversion (ct2-transformers-converter --quantization float16)")
        self.layer, self.device = layer, torch.device(device)
        self.heads = int(weights["encoder/num_heads"])
        self.w = {k: torch.from_numpy(v.astype(np.float32)).to(self.device) for k, v in weights.items() if v.dtype.kind == "f" and _block_of(k) < layer}
        self.n_mels = int(self.w["encoder/conv1/weight"].shape[1])
        self.dim = int(self.w["encoder/conv1/weight"].shape[0])

    def _norm(self, x, name: str):  # type: ignore[no-untyped-def]
        import torch.nn.functional as F

        return F.layer_norm(x, (x.shape[-1],), self.w[f"{name}/gamma"], self.w[f"{name}/beta"], 1e-5)

    def encode(self, mel: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        w = self.w
        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(mel, np.float32), device=self.device)
            x = F.gelu(F.conv1d(x, w["encoder/conv1/weight"], w["encoder/conv1/bias"], padding=1))
            x = F.gelu(F.conv1d(x, w["encoder/conv2/weight"], w["encoder/conv2/bias"], stride=2, padding=1))
            x = x.transpose(1, 2) + w["encoder/position_encodings/encodings"][: x.shape[2]]
            B, T, D = x.shape
            for block in range(self.layer):
                p = f"encoder/layer_{block}"
                qkv = F.linear(self._norm(x, f"{p}/self_attention/layer_norm"), w[f"{p}/self_attention/linear_0/weight"], w[f"{p}/self_attention/linear_0/bias"])
                q, k, v = qkv.view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
                attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, D)
                x = x + F.linear(attended, w[f"{p}/self_attention/linear_1/weight"], w[f"{p}/self_attention/linear_1/bias"])
                hidden = F.gelu(F.linear(self._norm(x, f"{p}/ffn/layer_norm"), w[f"{p}/ffn/linear_0/weight"], w[f"{p}/ffn/linear_0/bias"]))
                x = x + F.linear(hidden, w[f"{p}/ffn/linear_1/weight"], w[f"{p}/ffn/linear_1/bias"])
            if self.layer == self.layers:
                x = self._norm(x, "encoder/layer_norm")
            return x.cpu().numpy()


def _block_of(name: str) -> int:
    """k of an ``encoder/layer_k/...`` variable; -1 for the others."""
    part = name.split("/")[1] if name.count("/") else ""
    return int(part[len("layer_") :]) if part.startswith("layer_") and part[len("layer_") :].isdigit() else -1
