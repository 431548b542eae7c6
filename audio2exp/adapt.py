"""Per-speaker calibration: fit the network's mouth motion to one speaker's own tracked motion.

A dubbing job always has the source clip: the person's own speech and their tracked
expressions. :func:`fit_calibration` fits, on those frames only, a ridge-regularised affine
map from the predicted mouth coefficients (standardised) to the tracked ones;
:meth:`SpeakerCalibration.apply` then corrects predictions for new speech of that person.
The other coefficients are left as predicted.

A source video whose sound is out of step with its lips (common in clips from the web)
pairs each frame with the wrong speech and teaches the calibration to damp the mouth. With
``align``, :func:`calibrate_on_clip` first finds the clip's audio/video offset, the shift at
which the predicted mouth opening correlates best with the tracked one (the rule of
:mod:`audio2exp.av_offset`: kept only when it beats no shift clearly), fits on the
re-aligned pairs and records the ``offset``. It is off by default: on a few seconds of real
speech the correlation curve of one clip is noisy enough to peak at a wrong shift.

    calibration = calibrate_on_clip(predictor, "clips/may")        # or a frame subset
    calibration.save("may.calibration.json")
    e = predictor.predict_file("speech_es.wav", reference_expressions=..., calibration=calibration)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from minerf.errors import InputError

if TYPE_CHECKING:
    from audio2exp.predict import Audio2ExpPredictor

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
        from checkpoints import atomic_write_json

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


def calibrate_on_clip(predictor: "Audio2ExpPredictor", clip: Any, frames: np.ndarray | None = None, ridge: float = DEFAULT_RIDGE, align: bool = False) -> SpeakerCalibration:
    """Calibration of ``predictor`` for the speaker of a prepared clip (path or PreparedClip),
    fitted on its tracked ``frames`` (indices; default all) with their own speech; with
    ``align`` the clip's audio/video offset is found and undone first (module doc)."""
    from audio2exp.av_offset import lag_correlations, pick_offset
    from minerf.clip import load_clip
    from minerf.prepare.expression_space import mouth_opening

    if not hasattr(clip, "expression"):
        clip = load_clip(clip, check_files=False)
    predictor.check_clip(clip.meta, clip.path)
    if not clip.has_audio:
        raise InputError(clip.path, "the clip has no audio track, so the network's output cannot be paired with its expressions", "calibrate on a clip of the speaker talking")
    use = np.arange(clip.num_frames) if frames is None else np.asarray(frames)
    use = use[clip.valid.astype(bool)[use]]
    kwargs: dict[str, Any] = {"identity": clip.name} if clip.name in predictor.identities else {"reference_expressions": clip.expression[use]}
    predicted = predictor.predict(clip.audio(), **kwargs)[: clip.num_frames]
    offset = 0
    if align:
        tracked = np.nan_to_num(mouth_opening(clip.landmarks2d).astype(np.float64))
        offset = pick_offset(lag_correlations(tracked, predictor.opening(predicted).astype(np.float64), use))
    use = use[(use + offset >= 0) & (use + offset < len(predicted))]
    calibration = fit_calibration(predicted[use + offset], clip.expression[use], predictor.mouth_components, ridge)
    calibration.offset = offset
    return calibration
