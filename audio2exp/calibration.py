"""A speaker calibration: a ridge-regularised affine map from the network's predicted mouth
coefficients (standardised) to one speaker's tracked ones, fitted on paired frames
(:func:`fit_calibration`), saved as JSON and applied to new predictions. Fitting it on a
prepared clip with the network's own predictions is :func:`audio2exp.adapt.calibrate_on_clip`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minerf_base.errors import InputError

KIND = "audio2exp-calibration"
VERSION = 1
DEFAULT_RIDGE = 0.3
"""Ridge strength relative to unit-variance inputs; chosen on validation frames carved from
the training part of the real clips (0.1 - 1.0 were within 2 % of each other)."""
MIN_FRAMES = 10


@dataclass
class SpeakerCalibration:
    """``e[:, mouth] <- out_mean + ((e[:, mouth] - in_mean) / in_std) @ weight``."""

    mouth: list[int]
    in_mean: np.ndarray  # (k,) predicted mouth coefficients on the speaker's frames
    in_std: np.ndarray  # (k,)
    weight: np.ndarray  # (k, k)
    out_mean: np.ndarray  # (k,) tracked mouth coefficients' mean
    frames: int  # frames it was fitted on
    ridge: float
    offset: int = 0  # frames the clip's sound was late (> 0) or early (< 0) for its lips; undone for the fit

    def apply(self, expressions: np.ndarray) -> np.ndarray:
        """Calibrated copy of expressions (T, d)."""
        out = np.array(expressions, dtype=np.float32, copy=True)
        if out.ndim != 2 or out.shape[1] <= max(self.mouth):
            raise InputError(None, f"expressions of shape {out.shape} do not fit a calibration of components {self.mouth}", "use the calibration made for this checkpoint's expression space")
        x = (out[:, self.mouth] - self.in_mean) / self.in_std
        out[:, self.mouth] = self.out_mean + x @ self.weight
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": VERSION,
            "mouth": list(self.mouth),
            "in_mean": self.in_mean.tolist(),
            "in_std": self.in_std.tolist(),
            "weight": self.weight.tolist(),
            "out_mean": self.out_mean.tolist(),
            "frames": self.frames,
            "ridge": self.ridge,
            "offset": self.offset,
        }

    def save(self, path: str | Path) -> Path:
        from minerf_base.atomic import atomic_write_json

        atomic_write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "SpeakerCalibration":
        import json

        path = Path(path)
        try:
            data = json.loads(path.read_text())
            if data.get("kind") != KIND or data.get("version") != VERSION:
                raise ValueError(f"kind {data.get('kind')!r} version {data.get('version')!r}")
            k = len(data["mouth"])
            arrays = {name: np.asarray(data[name], dtype=np.float32) for name in ("in_mean", "in_std", "weight", "out_mean")}
            if any(arrays[n].shape != (k,) for n in ("in_mean", "in_std", "out_mean")) or arrays["weight"].shape != (k, k):
                raise ValueError("array sizes do not match the mouth components")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(path, f"not a readable audio2exp calibration ({err})", "write one with `audio2exp adapt CLIP --checkpoint RUN -o FILE.json`") from None
        return cls(mouth=[int(m) for m in data["mouth"]], frames=int(data["frames"]), ridge=float(data["ridge"]), offset=int(data.get("offset", 0)), **arrays)


def fit_calibration(predicted: np.ndarray, tracked: np.ndarray, mouth: Sequence[int], ridge: float = DEFAULT_RIDGE) -> SpeakerCalibration:
    """Fit on paired frames: ``predicted`` and ``tracked`` expressions (N, d) of one speaker."""
    mouth = [int(m) for m in mouth]
    if predicted.shape != tracked.shape or predicted.ndim != 2:
        raise InputError(None, f"predicted {predicted.shape} and tracked {tracked.shape} expressions differ in shape", "pass the same frames of one clip")
    if len(predicted) < MIN_FRAMES:
        raise InputError(None, f"only {len(predicted)} tracked frames to calibrate on", f"use a clip with at least {MIN_FRAMES} frames of the speaker")
    x = predicted[:, mouth].astype(np.float64)
    y = tracked[:, mouth].astype(np.float64)
    in_mean, in_std = x.mean(0), x.std(0) + 1e-6
    x = (x - in_mean) / in_std
    out_mean = y.mean(0)
    weight = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(len(mouth)), x.T @ (y - out_mean))
    return SpeakerCalibration(mouth, in_mean.astype(np.float32), in_std.astype(np.float32), weight.astype(np.float32), out_mean.astype(np.float32), len(x), float(ridge))
