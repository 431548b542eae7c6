"""Whisper encoder states as audio2exp features (``FeatureConfig(kind="whisper")``).

* Front end (:func:`log_mel`): Whisper's log-mel spectrogram of each 30 s window, as Whisper
  was trained: STFT with n_fft 400 and hop 160 (periodic Hann, centred, reflect padding),
  power through librosa's 80 (or the model's ``n_mels``) Slaney mel filters, ``log10``
  (floored at 1e-10), clamped to the window's maximum - 8, then ``(x + 4) / 4``.
* Encoder (:class:`WhisperEncoder`): ctranslate2 ``Whisper.encode`` on 3000 log-mel frames
  -> 1500 states (50 per second; state ``i`` of a window is centred on its sample
  ``320 i``), int8 on CPU and float16 on CUDA, in a worker process
  (:mod:`audio2exp.whisper_worker`: ctranslate2's OpenMP runtime slows torch next to it).
* Long audio (:func:`encode_stitched`): 30 s windows overlapping by twice ``margin`` states,
  encoded ``batch_size`` windows at a time; each window keeps its centre (all but ``margin``
  states at either side), so every kept state heard at least ``margin`` of real audio on
  both sides, except at the ends of a recording (Whisper hears silence there, as at the end
  of any recording). Memory: one batch of windows plus the states of one call.
* 25 fps (:class:`WhisperFeatures`): the two states centred on the halves of frame ``t``
  (samples ``640 t + 160`` and ``640 t + 480``) are AVERAGED into one row, so ``dim`` is the
  encoder width (512 for base), as for the ``hf`` front end; concatenating would double the
  network's input layer for 20 ms detail that the 25 fps expressions cannot show.

The margin is :attr:`FeatureConfig.context_seconds` (default 1 s: on real speech, states with
more context on both sides correlate with those of 1 s as well as two encodings of the same
audio at different window positions do, ~0.93 per dimension). A call asks for that margin of
audio before its frames and for the rest of a window after them
(:attr:`WhisperFeatures.context`), so every window hears real audio (or, past the end of the
recording, silence) to its end. Windows then sit on one grid of 28 s steps from the start of
the call: chunks of a multiple of :attr:`WhisperFeatures.chunk_multiple` frames (700 at 1 s)
give exactly the features of the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from audio2exp.whisper_model import find_whisper_model
from minerf_base.errors import InputError
from minerf_base.timebase import SAMPLE_RATE, SAMPLES_PER_FRAME

N_FFT = 400
HOP = 160
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # 480000
WINDOW_FRAMES = WINDOW_SAMPLES // HOP  # 3000 log-mel frames
SAMPLES_PER_STATE = 2 * HOP  # 320: the encoder's second convolution has stride 2
WINDOW_STATES = WINDOW_SAMPLES // SAMPLES_PER_STATE  # 1500
STATES_PER_FRAME = SAMPLES_PER_FRAME // SAMPLES_PER_STATE  # 2
DEFAULT_BATCH = 4


class WhisperConfig(Protocol):
    """What the front end reads of :class:`audio2exp.features.FeatureConfig`."""

    model: str | None
    context_seconds: float
    layer: int


class WindowEncoder(Protocol):
    """Maps windows of audio (B, 320 * window states) to states (B, window states, dim)."""

    dim: int

    def __call__(self, audio: np.ndarray) -> np.ndarray: ...


# ------------------------------------------------------------------ front end
def mel_filters(n_mels: int = 80) -> np.ndarray:
    """(n_mels, 201) Slaney mel filters of Whisper (librosa's defaults at 16 kHz, n_fft 400)."""
    from audio2exp.mel_filters import mel_filters as slaney

    return slaney(SAMPLE_RATE, N_FFT, n_mels)


def log_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel of each row: (B, n) float32, n a multiple of 160 -> (B, n_mels, n / 160)."""
    from scipy import fft

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] % HOP or audio.shape[1] <= N_FFT // 2:
        raise ValueError(f"expected (batch, n) audio with n a multiple of {HOP} above {N_FFT // 2}, got {audio.shape}")
    padded = np.pad(audio, ((0, 0), (N_FFT // 2, N_FFT // 2)), mode="reflect")
    num = audio.shape[1] // HOP  # torch.stft gives one frame more; Whisper drops the last
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, : num * HOP : HOP]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
    spectrum = fft.rfft(frames * window, axis=2)  # (B, num, 201) complex64
    power = spectrum.real**2 + spectrum.imag**2
    mel = np.log10(np.maximum(power @ mel_filters(n_mels).T, 1e-10))  # (B, num, n_mels)
    mel = np.maximum(mel, mel.max(axis=(1, 2), keepdims=True) - 8.0)
    return np.ascontiguousarray(((mel + 4.0) / 4.0).transpose(0, 2, 1), dtype=np.float32)


# ------------------------------------------------------------------ encoder
class WhisperEncoder:
    """The encoder of a CTranslate2 Whisper model on 30 s windows: (B, 480000) -> (B, 1500, dim)."""

    def __init__(self, folder: str | Path, device: str = "cpu", threads: int | None = None, layer: int = -1):
        self.layer = layer
        """-1: the encoder's output, from ctranslate2; k >= 1: the states of block k, from the
        PyTorch encoder of :mod:`audio2exp.whisper_torch` on the same weights."""
        if layer != -1:
            from audio2exp.whisper_torch import LayerWhisperEncoder

            self.compute_type = "float32"
            self.worker: Any = LayerWhisperEncoder(Path(folder) / "model.bin", layer, device)
        else:
            from audio2exp.whisper_worker import EncoderWorker

            kind, index = _ct2_device(device)
            self.compute_type = "int8" if kind == "cpu" else "float16"
            try:  # ctranslate2 runs in a worker process (audio2exp.whisper_worker says why)
                self.worker = EncoderWorker(folder, kind, index, self.compute_type, threads or _default_threads())
            except RuntimeError as exc:
                raise InputError(folder, f"ctranslate2 cannot load this Whisper model ({exc})", "pass a CTranslate2 Whisper model folder, e.g. a faster-whisper model") from None
        self.folder = Path(folder)
        self.n_mels = self.worker.n_mels
        # the width from two log-mel frames (milliseconds; a whole window takes about a second)
        self.dim = int(self.worker.encode(np.zeros((1, self.n_mels, 2), np.float32)).shape[2])
        self._silence: np.ndarray | None = None
        """States of a window of digital silence, encoded the first time one is asked for."""

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        if audio.ndim != 2 or audio.shape[1] != WINDOW_SAMPLES:
            raise ValueError(f"expected (batch, {WINDOW_SAMPLES}) audio, got {audio.shape}")
        out = np.empty((audio.shape[0], WINDOW_STATES, self.dim), np.float32)
        silent = ~audio.any(axis=1)  # windows of digital silence (padding, silence_features)
        if silent.any():
            if self._silence is None:
                self._silence = self._encode(np.zeros((1, WINDOW_SAMPLES), np.float32))[0]
            out[silent] = self._silence
        if not silent.all():
            out[~silent] = self._encode(audio[~silent])
        return out

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        return self.worker.encode(log_mel(audio, self.n_mels))


def _ct2_device(device: str) -> tuple[str, int]:
    """torch-style device name -> (ctranslate2 device, index)."""
    kind, _, index = str(device).partition(":")
    if kind not in ("cpu", "cuda"):
        raise InputError(None, f"the whisper front end runs on cpu or cuda, not '{device}'", "pass --device cpu or --device cuda")
    return kind, int(index or 0)


def _default_threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


# ------------------------------------------------------------------ windows
def plan_windows(count: int, margin: int, window: int = WINDOW_STATES) -> list[tuple[int, int, int]]:
    """``(start, keep_from, keep_to)`` (state indices) of the windows whose centres tile the
    states ``[margin, margin + count)``: window ``k`` starts at ``k (window - 2 margin)`` and
    keeps its states ``margin .. window - margin``."""
    keep = window - 2 * margin
    if margin < 0 or keep <= 0:
        raise ValueError(f"margin {margin} leaves nothing of a {window}-state window")
    return [(start, start + margin, min(start + margin + keep, margin + count)) for start in range(0, count, keep)]


def encode_stitched(samples: np.ndarray, encoder: WindowEncoder, margin: int, count: int, *, batch_size: int = DEFAULT_BATCH, window: int = WINDOW_STATES, progress: bool = False) -> np.ndarray:
    """States ``[margin, margin + count)`` (count, dim) of ``samples`` (1-D, 320 per state), each
    from the window of :func:`plan_windows` that holds it in its centre; a window reaching past
    the end of ``samples`` hears silence there."""
    from tqdm import tqdm

    plans = plan_windows(count, margin, window)
    out = np.empty((count, encoder.dim), np.float32)
    span = window * SAMPLES_PER_STATE
    with tqdm(total=len(plans), unit="windows", desc="whisper", disable=not progress, dynamic_ncols=True) as bar:
        for first in range(0, len(plans), batch_size):
            batch = plans[first : first + batch_size]
            audio = np.zeros((len(batch), span), np.float32)
            for row, (start, _, _) in enumerate(batch):
                piece = samples[start * SAMPLES_PER_STATE : start * SAMPLES_PER_STATE + span]
                audio[row, : piece.size] = piece
            states = encoder(audio)
            for row, (start, lo, hi) in enumerate(batch):
                out[lo - margin : hi - margin] = states[row, lo - start : hi - start]
            bar.update(len(batch))
    return out


# ------------------------------------------------------------------ the feature extractor
class WhisperFeatures:
    """audio2exp front end: Whisper encoder states, the two of each 25 fps frame averaged."""

    def __init__(self, config: WhisperConfig, device: str = "cpu", *, threads: int | None = None, batch_size: int = DEFAULT_BATCH, encoder: WindowEncoder | None = None):
        self.config = config
        self.encoder = encoder if encoder is not None else WhisperEncoder(find_whisper_model(config.model), device, threads, config.layer)
        self.margin = max(1, int(round(config.context_seconds * SAMPLE_RATE / SAMPLES_PER_STATE)))
        if 2 * self.margin >= WINDOW_STATES:
            raise InputError(None, f"a margin of {config.context_seconds} s leaves nothing of Whisper's 30 s window", "use a context of at most a few seconds")
        self.dim = int(self.encoder.dim)
        # state margin + 2j (+1) of a call is centred on the first (second) half of frame j;
        # the right context lets the last window of every call hear real audio to its end
        self.context = (SAMPLES_PER_STATE * self.margin - HOP, SAMPLES_PER_STATE * (WINDOW_STATES - self.margin) + HOP)
        self.chunk_multiple = (WINDOW_STATES - 2 * self.margin) // STATES_PER_FRAME
        """Chunks of a multiple of this many frames put every window where a whole-file call
        puts it: chunked features are then exactly the whole file's (see stream_features)."""
        self.batch_size = batch_size
        self.cache_key = _cache_key(self.encoder, self.margin)
        """Identifies these features for :mod:`audio2exp.feature_cache` (None: not cached)."""
        self.progress = False
        """Show a progress bar over the windows of each call."""

    def __call__(self, samples: np.ndarray, num_frames: int) -> np.ndarray:
        """(640 n + left + right,) float32 -> (n, dim) float32."""
        want = num_frames * SAMPLES_PER_FRAME + sum(self.context)
        if samples.shape != (want,):
            raise ValueError(f"expected {want} samples for {num_frames} frames, got {samples.shape}")
        count = STATES_PER_FRAME * num_frames
        states = encode_stitched(samples, self.encoder, self.margin, count, batch_size=self.batch_size, progress=self.progress)
        return states.reshape(num_frames, STATES_PER_FRAME, self.dim).mean(axis=1)


def _cache_key(encoder: WindowEncoder, margin: int) -> dict | None:
    """The model file, precision and margin of an encoder read from a model folder
    (:class:`WhisperEncoder`); None for any other encoder."""
    folder, compute = getattr(encoder, "folder", None), getattr(encoder, "compute_type", None)
    if folder is None or compute is None or not (Path(folder) / "model.bin").is_file():
        return None
    model = (Path(folder) / "model.bin").resolve()
    key = {"kind": "whisper", "model": str(model), "bytes": model.stat().st_size, "compute": compute, "margin": margin}
    layer = getattr(encoder, "layer", -1)
    return key if layer == -1 else {**key, "layer": layer}
