"""MFCC features exactly as ``python_speech_features.mfcc`` computes them with its defaults.

SyncNet's audio tower was trained on these features, so the scorer must reproduce them to the
last bit that matters: 25 ms rectangular windows every 10 ms, pre-emphasis 0.97, a 512-point
FFT power spectrum, 26 triangular mel filters on integer FFT bins, log, orthonormal DCT-II,
13 coefficients, cepstral lifter 22, and coefficient 0 replaced by the log frame energy.
The input is audio at int16 scale (values in [-32768, 32767]), as ``scipy.io.wavfile`` reads
a PCM16 file; float audio in [-1, 1] must be scaled first (:func:`to_int16_scale`).
"""

from __future__ import annotations

import decimal
import functools

import numpy as np

from minerf_base.timebase import FPS, SAMPLE_RATE

NUM_CEPSTRA = 13
NUM_FILTERS = 26
NFFT = 512
PREEMPHASIS = 0.97
CEP_LIFTER = 22
WIN_SECONDS = 0.025
STEP_SECONDS = 0.01
BLOCK_STEPS = 4096
"""MFCC steps computed at once (41 s of audio; about 40 MB of spectra)."""
MFCC_PER_VIDEO_FRAME = round(1.0 / (STEP_SECONDS * FPS))  # 100 MFCC steps per second / 25 frames: 4


def to_int16_scale(samples: np.ndarray) -> np.ndarray:
    """float audio in [-1, 1] -> int16-scale samples; float audio read from a PCM16 file
    (``s / 32768``) maps back to exactly its stored samples."""
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        return samples
    return np.clip(np.round(samples.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def _round_half_up(value: float) -> int:
    return int(decimal.Decimal(value).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


@functools.lru_cache(maxsize=4)
def mel_filterbank(num_filters: int = NUM_FILTERS, nfft: int = NFFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(num_filters, nfft // 2 + 1) triangular filters on integer FFT bins (HTK mel scale)."""
    high_mel = 2595.0 * np.log10(1.0 + (sample_rate / 2) / 700.0)
    mel_points = np.linspace(0.0, high_mel, num_filters + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    bins = np.floor((nfft + 1) * hz_points / sample_rate)
    k = np.arange(nfft // 2 + 1, dtype=np.float64)[None, :]
    left, centre, right = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    rising = np.where((k >= left) & (k < centre), (k - left) / np.where(centre > left, centre - left, 1.0), 0.0)
    falling = np.where((k >= centre) & (k < right), (right - k) / np.where(right > centre, right - centre, 1.0), 0.0)
    bank = rising + falling
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=4)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) orthonormal DCT-II matrix (first ``n_out`` rows)."""
    k = np.arange(n_out, dtype=np.float64)[:, None]
    n = np.arange(n_in, dtype=np.float64)[None, :]
    mat = np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * n_in)) * np.sqrt(2.0 / n_in)
    mat[0] *= np.sqrt(0.5)
    mat.setflags(write=False)
    return mat


def mfcc(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """MFCC of ``samples`` (S,) at int16 scale -> float64 (num_steps, 13), one row per 10 ms.

    ``num_steps = 1 + ceil((S - 400) / 160)`` for S > 400 samples at 16 kHz, i.e. 4 * T - 1
    rows for T whole video frames of ``SAMPLES_PER_FRAME`` (640) samples.
    """
    signal = np.asarray(samples).reshape(-1)
    if signal.size == 0:
        raise ValueError("cannot compute MFCC of empty audio")
    frame_len, step = _round_half_up(WIN_SECONDS * sample_rate), _round_half_up(STEP_SECONDS * sample_rate)
    n = signal.size
    num_frames = 1 if n <= frame_len else 1 + int(np.ceil((n - frame_len) / step))
    out = np.empty((num_frames, NUM_CEPSTRA), np.float64)
    for start in range(0, num_frames, BLOCK_STEPS):  # a long track's spectra are never all held
        stop = min(num_frames, start + BLOCK_STEPS)
        lo, hi = start * step, (stop - 1) * step + frame_len
        windows = _emphasised(signal, lo, hi)[(np.arange(stop - start) * step)[:, None] + np.arange(frame_len)]
        out[start:stop] = _cepstra(windows, sample_rate)
    return out


def _emphasised(signal: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Samples ``lo..hi - 1`` of the pre-emphasised ``signal`` (float64), zeros past its end."""
    piece = np.zeros(hi - lo, np.float64)
    own = signal[lo:hi].astype(np.float64)
    previous = float(signal[lo - 1]) if lo > 0 else 0.0  # the first sample is kept as it is
    piece[: len(own)] = own - PREEMPHASIS * np.concatenate([[previous], own[:-1]])
    return piece


def _cepstra(frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n, 13) MFCC of the windows ``frames`` (n, 400), pre-emphasised."""
    power = np.square(np.abs(np.fft.rfft(frames, NFFT))) / NFFT
    eps = np.finfo(float).eps
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, eps, energy)
    filtered = power @ mel_filterbank(NUM_FILTERS, NFFT, sample_rate).T
    filtered = np.where(filtered == 0, eps, filtered)
    cepstra = np.log(filtered) @ _dct_matrix(NUM_FILTERS, NUM_CEPSTRA).T
    lift = 1.0 + (CEP_LIFTER / 2.0) * np.sin(np.pi * np.arange(NUM_CEPSTRA) / CEP_LIFTER)
    cepstra = cepstra * lift
    cepstra[:, 0] = np.log(energy)
    return cepstra
