"""Audio features aligned to 25 fps video frames.

Two front ends share one interface (:class:`FeatureExtractor`):

* ``logmel`` (default, no weights): 4 log-mel spectra (+ log energy) per frame, the windows centred at
  ``640 t + 80 + 160 j`` (j = 0..3), i.e. evenly inside the frame's 40 ms. Chunked extraction is
  exactly equal to whole-file extraction.
* ``hf``: hidden states of a self-supervised speech encoder (wav2vec2, HuBERT, XLS-R...) read
  with ``transformers`` from a local folder or a hub name already in the user's cache (nothing is
  downloaded). Its
  50 Hz states are paired into 25 fps frames. The encoder sees ``context_seconds`` of audio
  on each side of a chunk, so chunk borders change features very little, but not exactly.

An extractor maps ``samples`` covering ``[640 a - left, 640 (a + n) + right)`` (``left``,
``right`` = :attr:`FeatureExtractor.context`) to features ``(n, dim)`` of frames ``a..a+n-1``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from audio2exp.audio import AudioSource, iter_windows
from minerf_base.errors import InputError
from minerf_base.timebase import SAMPLE_RATE, SAMPLES_PER_FRAME

N_FFT = 512
WIN_LENGTH = 400
HOP = 160
STEPS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4
FLOOR_DB = -60.0  # log-mel floor: digital silence and very quiet noise map to the same vector
_LOGMEL_CONTEXT = N_FFT // 2 - HOP // 2  # 176 samples each side
ENCODER_HOP = SAMPLES_PER_FRAME // 2  # 320: a wav2vec2-family encoder gives two states per frame
ENCODER_FIELD = 400  # samples one of its states sees (its CNN's receptive field)


@dataclass
class FeatureConfig:
    """Which audio front end, recorded in every checkpoint."""

    kind: str = "logmel"
    """``logmel`` (no weights needed), ``hf`` (a transformers speech encoder) or ``whisper``
    (Whisper encoder states, :mod:`audio2exp.whisper_features`)."""
    n_mels: int = 40
    """Mel bands per spectrum (logmel)."""
    model: str | None = None
    """hf: local folder or hub name of the encoder (e.g. ``facebook/wav2vec2-xls-r-300m``);
    whisper: a CTranslate2 Whisper folder or hub name (None: the cache, then the installed packages)."""
    layer: int = -1
    """hf: which hidden state to use (-1 = last; 0 = the CNN features after projection);
    whisper: -1 = the encoder's output (ctranslate2), k = the states of encoder block k
    (1-based, :mod:`audio2exp.whisper_torch`)."""
    context_seconds: float = 1.0
    """hf: audio the encoder sees on each side of a chunk; whisper: also the overlap margin of its 30 s windows."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class FeatureExtractor(Protocol):
    config: FeatureConfig
    dim: int
    context: tuple[int, int]

    def __call__(self, samples: np.ndarray, num_frames: int) -> np.ndarray:
        """(640 n + left + right,) float32 -> (n, dim) float32."""
        ...


class LogMelFeatures:
    """Log-mel spectra and log energy (dB, floored at ``FLOOR_DB``): ``dim = 4 * (n_mels + 1)``."""

    def __init__(self, config: FeatureConfig):
        from audio2exp.mel_filters import mel_filters

        self.config = config
        self.dim = STEPS_PER_FRAME * (config.n_mels + 1)
        self.context = (_LOGMEL_CONTEXT, _LOGMEL_CONTEXT)
        self._mel = mel_filters(SAMPLE_RATE, N_FFT, config.n_mels, 55.0, 7600.0)
        self._window = np.hanning(WIN_LENGTH + 2)[1:-1].astype(np.float32)
        self.cache_key = {"kind": "logmel", "version": 1, "n_mels": config.n_mels}
        """Identifies these features for :mod:`audio2exp.feature_cache`."""

    def __call__(self, samples: np.ndarray, num_frames: int) -> np.ndarray:
        want = num_frames * SAMPLES_PER_FRAME + sum(self.context)
        if samples.shape != (want,):
            raise ValueError(f"expected {want} samples for {num_frames} frames, got {samples.shape}")
        steps = num_frames * STEPS_PER_FRAME
        offset = (N_FFT - WIN_LENGTH) // 2
        idx = np.arange(steps)[:, None] * HOP + offset + np.arange(WIN_LENGTH)[None, :]
        frames = samples[idx] * self._window  # (steps, 400)
        power = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)).astype(np.float32) ** 2  # (steps, 257)
        mel = power @ self._mel.T  # (steps, n_mels)
        energy = power.sum(axis=1, keepdims=True) / N_FFT  # (steps, 1): loudness, the strongest cue
        db = 10.0 * np.log10(np.maximum(np.concatenate([mel, energy], axis=1), 1e-12))
        db = np.maximum(db, FLOOR_DB).astype(np.float32)
        return db.reshape(num_frames, self.dim)


class HFSpeechFeatures:
    """Hidden states of a transformers speech encoder, two 50 Hz states averaged per frame."""

    def __init__(self, config: FeatureConfig, device: str = "cpu"):
        if not config.model:
            raise InputError(None, "the 'hf' feature type needs a model", "pass --encoder FOLDER_OR_HUB_NAME (e.g. a local wav2vec2 / HuBERT / XLS-R folder)")
        self.config = config
        self.device = device
        self.model, self._normalize = _load_encoder(config.model, device)
        cfg = self.model.config
        stride = int(np.prod(cfg.conv_stride))
        field = 1
        for kernel, step in zip(reversed(cfg.conv_kernel), reversed(cfg.conv_stride)):
            field = (field - 1) * step + kernel
        if stride != ENCODER_HOP or field != ENCODER_FIELD:
            raise InputError(config.model, f"encoder hop {stride} / receptive field {field} samples; audio2exp needs {ENCODER_HOP} / {ENCODER_FIELD} (wav2vec2, HuBERT, XLS-R)", "use a wav2vec2-family encoder")
        num_layers = int(cfg.num_hidden_layers)
        if not -num_layers - 1 <= config.layer <= num_layers:
            raise InputError(config.model, f"layer {config.layer} does not exist (the encoder has {num_layers} layers)", f"pass --layer between 0 and {num_layers}, or -1 for the last")
        self.dim = int(cfg.hidden_size)
        # context = 320 q + 40 puts the encoder's 50 Hz frames 2t, 2t+1 on the halves of frame t
        q = max(1, int(round(config.context_seconds * SAMPLE_RATE / ENCODER_HOP)))
        edge = ENCODER_HOP * q + (ENCODER_FIELD - ENCODER_HOP) // 2
        self.context = (edge, edge)
        self._q = q

    def __call__(self, samples: np.ndarray, num_frames: int) -> np.ndarray:
        import torch

        want = num_frames * SAMPLES_PER_FRAME + sum(self.context)
        if samples.shape != (want,):
            raise ValueError(f"expected {want} samples for {num_frames} frames, got {samples.shape}")
        x = torch.from_numpy(np.ascontiguousarray(samples)).to(self.device)[None]
        if self._normalize:
            x = x * 10.0  # level-normalised speech (-20 dBFS) to about unit variance; silence stays silent
        with torch.inference_mode():
            out = self.model(x, output_hidden_states=True)
            states = out.hidden_states[self.config.layer][0]  # (2n + 2q, H)
        states = states[self._q : self._q + 2 * num_frames].float().cpu().numpy()
        return states.reshape(num_frames, 2, self.dim).mean(axis=1).astype(np.float32)


def _load_encoder(model: str, device: str) -> tuple[Any, bool]:
    try:
        from transformers import AutoModel
    except ImportError:
        raise InputError(None, "the 'hf' feature type needs the transformers package", "pip install 'minerf-dub[hf]'") from None
    local = Path(model)
    try:  # never downloads: a hub name must already be in the user's Hugging Face cache
        encoder = AutoModel.from_pretrained(str(local) if local.is_dir() else model, local_files_only=True)
    except (OSError, ValueError) as exc:
        where = "a local folder" if local.is_dir() else "a hub name (only the local Hugging Face cache is searched; nothing is downloaded)"
        raise InputError(
            model,
            f"cannot load the speech encoder from {where}: {str(exc).splitlines()[0]}",
            "pass a folder holding config.json and the weights (save_pretrained), or download the model first (`hf download NAME`)",
        ) from None
    if not hasattr(encoder.config, "conv_stride"):
        raise InputError(model, f"'{type(encoder).__name__}' is not a wav2vec2-family speech encoder", "use a wav2vec2 / HuBERT / XLS-R model")
    encoder.eval().to(device)
    normalize = True
    pre = local / "preprocessor_config.json"
    if local.is_dir() and pre.is_file():
        normalize = bool(json.loads(pre.read_text()).get("do_normalize", True))
    return encoder, normalize


def make_extractor(config: FeatureConfig, device: str = "cpu") -> FeatureExtractor:
    """The front end that ``config`` names."""
    if config.kind == "logmel":
        return LogMelFeatures(config)
    if config.kind == "hf":
        return HFSpeechFeatures(config, device)
    if config.kind == "whisper":  # Whisper encoder states (audio2exp/whisper_features.py)
        from audio2exp.whisper_features import WhisperFeatures

        return WhisperFeatures(config, device)
    raise InputError(None, f"unknown feature type '{config.kind}'", "use 'logmel', 'hf' or 'whisper'")


def silence_features(extractor: FeatureExtractor) -> np.ndarray:
    """Features (F,) of a frame of digital silence: what frames outside the audio look like."""
    return extractor(np.zeros(SAMPLES_PER_FRAME + sum(extractor.context), np.float32), 1)[0]


def stream_features(source: AudioSource, extractor: FeatureExtractor, gain: float, chunk_frames: int, margin: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame, features (n + 2 margin, F))`` chunk by chunk.

    Rows for the ``margin`` frames before and after each chunk are included; rows of frames
    outside the audio hold :func:`silence_features`. Every frame is extracted once, by the
    call of its own chunk: the margin rows are those of the neighbouring chunks (the next
    chunk is extracted before a chunk is yielded), so they equal the rows a chunk of their
    own gives, and the Whisper front end encodes no window for them (before, each 56 s
    chunk's margins cost a third 30 s window).
    """
    chunks = _chunk_features(source, extractor, gain, chunk_frames)
    if not margin:
        yield from chunks
        return
    silence = silence_features(extractor)
    before = np.repeat(silence[None], margin, axis=0)  # the margin rows ahead of the chunk
    ahead: list[tuple[int, np.ndarray]] = []  # extracted, not yet yielded chunks
    exhausted = False
    while True:
        while not exhausted and sum(f.shape[0] for _, f in ahead[1:]) < margin:
            following = next(chunks, None)
            exhausted = following is None
            if following is not None:
                ahead.append(following)
        if not ahead:
            return
        first, feats = ahead.pop(0)
        after = np.concatenate([f for _, f in ahead] + [np.repeat(silence[None], margin, axis=0)])[:margin]
        yield first, np.concatenate([before, feats, after])
        before = np.concatenate([before, feats])[-margin:]


def _chunk_features(source: AudioSource, extractor: FeatureExtractor, gain: float, chunk_frames: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_frame, features (n, F))`` of each chunk of ``source``, no margin."""
    left, right = extractor.context
    step = int(getattr(extractor, "chunk_multiple", 1))  # whisper: chunks on its window grid
    chunk_frames = max(step, chunk_frames - chunk_frames % step)
    for first, count, window in iter_windows(source, chunk_frames, left, right):
        yield first, extractor(window * np.float32(gain), count)
