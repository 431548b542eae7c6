"""Speech to expression coefficients (LipNeRF-style audio-to-expression network).

The Python API (what ``minerf-dub`` uses)::

    from audio2exp import Audio2ExpPredictor
    predictor = Audio2ExpPredictor.load(RUN_DIR)           # a folder written by `audio2exp train`
    expressions = predictor.predict(waveform, sample_rate)  # (T, d) float32 at 25 fps
"""

from __future__ import annotations

from typing import Any

__all__ = ["Audio2ExpPredictor", "train"]


def __getattr__(name: str) -> Any:  # torch is imported only when the API is used
    if name == "Audio2ExpPredictor":
        from audio2exp.predict import Audio2ExpPredictor

        return Audio2ExpPredictor
    if name == "train":
        from audio2exp.train import train

        return train
    raise AttributeError(name)
