"""A talking-face video the toolkit makes itself (no downloaded media): the built-in demo
input and the always-available test media.

The face is the public-domain NASA portrait of astronaut Eileen Collins that ships inside
scikit-image (``skimage.data.astronaut``). Speech is synthesised: syllables of vowel-like
sound (a 120 Hz glottal pulse train through three formant resonators) in words separated by
pauses. The mouth opens with the syllable envelope (jaw warp plus a dark mouth interior)
and the head sways slightly, so mouth expressions follow the audio by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minerf_base.timebase import FPS, SAMPLE_RATE
from minerf_base.video_out import Encoding, write_video

VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


@dataclass(frozen=True)
class DemoSpec:
    seconds: float = 4.0
    fps: float = float(FPS)
    size: int = 384
    seed: int = 0
    with_audio: bool = True


def speech(seconds: float, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(waveform float32, envelope float32 in [0, 1]) of synthetic speech-like sound."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    env = np.zeros(n, np.float32)
    wave = np.zeros(n, np.float32)
    t = 0.25
    while t < seconds - 0.3:
        for _ in range(int(rng.integers(2, 5))):  # syllables of one word
            dur = float(rng.uniform(0.14, 0.24))
            a, b = int(t * sample_rate), int(min(seconds, t + dur) * sample_rate)
            if b <= a:
                break
            shape = np.sin(np.linspace(0, np.pi, b - a)) ** 1.5
            env[a:b] = np.maximum(env[a:b], shape)
            f0 = 120 * (1 + 0.1 * rng.standard_normal())
            pulses = np.zeros(b - a)
            pulses[:: max(1, int(sample_rate / f0))] = 1.0
            voiced = pulses
            for formant in VOWELS[int(rng.integers(len(VOWELS)))]:
                r = np.exp(-np.pi * 90 / sample_rate)
                theta = 2 * np.pi * formant / sample_rate
                voiced = voiced + lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], pulses)
            voiced = voiced / (np.abs(voiced).max() + 1e-9)
            wave[a:b] += 0.6 * voiced * shape
            t += dur + 0.02
        t += float(rng.uniform(0.25, 0.5))  # pause between words
    wave += 0.002 * rng.standard_normal(n).astype(np.float32)
    return wave.astype(np.float32), env


def envelope_at_frames(envelope: np.ndarray, count: int, fps: float) -> np.ndarray:
    """(count,) the speech ``envelope`` (16 kHz) at each of ``count`` frames: its mean over the
    50 ms around the frame's time. The portrait's mouth opens by this much."""
    out = np.zeros(count)
    for k in range(count):
        i = min(len(envelope) - 1, int(k / fps * SAMPLE_RATE))
        lo, hi = max(0, i - 400), min(len(envelope), i + 400)
        out[k] = float(envelope[lo:hi].mean()) if hi > lo else 0.0
    return out


def _portrait(size: int) -> np.ndarray:
    import cv2
    from skimage import data

    image = data.astronaut()  # 512 x 512 RGB, face around x 180-270, y 70-180
    crop = image[20:276, 97:353]  # head, hair and neck
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)


def frames(spec: DemoSpec, envelope: np.ndarray) -> "list[np.ndarray]":
    """Frames of the talking portrait; the mouth opening follows ``envelope`` (16 kHz)."""
    return list(iter_frames(spec, envelope))


def iter_frames(spec: DemoSpec, envelope: np.ndarray):
    import cv2

    base = _portrait(spec.size)
    s = spec.size / 256.0
    mouth = np.array([126.0, 126.0]) * s  # between the lips in the 256 px portrait (face-mesh 13/14)
    chin = np.array([124.0, 156.0]) * s  # face-mesh 152
    yy, xx = np.mgrid[0 : spec.size, 0 : spec.size].astype(np.float32)
    # jaw region: below the mouth line, fading out sideways and below the chin
    below = np.clip((yy - mouth[1]) / (6 * s), 0, 1)
    side = np.exp(-(((xx - chin[0]) / (30 * s)) ** 2))
    fade = np.clip(1 - (yy - chin[1]) / (30 * s), 0, 1)
    weight = below * side * fade
    count = int(round(spec.seconds * spec.fps))
    openings = envelope_at_frames(envelope, count, spec.fps)
    for k in range(count):
        t = k / spec.fps
        opening = float(openings[k])
        drop = 9.0 * s * opening
        frame = cv2.remap(base, xx, (yy - drop * weight).astype(np.float32), interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if drop > 0.5:
            inner = frame.copy()
            axes = (int(16 * s * (0.6 + 0.4 * opening)), max(1, int(0.55 * drop)))
            cv2.ellipse(inner, (int(mouth[0]), int(mouth[1] + 0.5 * drop)), axes, 0, 0, 360, (60, 20, 25), -1)
            frame = cv2.addWeighted(inner, 0.85, frame, 0.15, 0)
        angle = 2.5 * np.sin(2 * np.pi * t / 3.1)
        shift = (4 * s * np.sin(2 * np.pi * t / 4.3), 2 * s * np.sin(2 * np.pi * t / 2.7))
        m = cv2.getRotationMatrix2D((spec.size / 2, spec.size * 0.6), angle, 1.0)
        m[:, 2] += shift
        yield cv2.warpAffine(frame, m, (spec.size, spec.size), borderMode=cv2.BORDER_REFLECT)


def make_demo_video(path: str | Path, spec: DemoSpec = DemoSpec(), encoding: Encoding = Encoding()) -> Path:
    """Write the demo talking-face video to ``path`` (format from the suffix)."""
    wave, env = speech(spec.seconds, spec.seed)
    return write_video(path, iter_frames(spec, env), fps=spec.fps, audio=wave if spec.with_audio else None, encoding=encoding)
