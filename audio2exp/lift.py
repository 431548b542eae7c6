"""The speaker lift: predicted speech motion carried onto a person's own tracked expressions.

audio2exp predicts every coefficient of the expression space, but only the speech-driven
directions (:mod:`audio2exp.directions`: opening, width, jaw) follow the audio; the rest of
a prediction is the network's guess at how an average training speaker's other mouth
coefficients move with them. A field personalized on one short video has only seen that
person's own tracked expressions, in which the mouth opens through that person's mix of
coefficients, and it may not respond to another mix at all (measured in docs/dubbing.md: on
one unseen speaker the rendered opening followed the predicted one at r -0.08, the tracked
one at 0.72).

:func:`fit_lift` regresses the person's tracked expression offsets on their own direction
values (ridge on standardised values); :meth:`SpeakerLift.apply` keeps only a prediction's
direction values, clamps them to the range the person's video shows, and maps them back
through that regression: ``e = mean + clip((v(e) - v(mean)) / std, lo, hi) @ weight``. The
result lies in the person's own expressions (what the field was tuned on) and, inside the
clamp, keeps the prediction's direction values exactly up to the ridge.
:meth:`SpeakerLift.carry` does the same for another person's tracked expressions
(re-enactment, ``minerf-dub --expressions-from``), standardised by that person's own lift, so
that each face moves within its own range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float

from audio2exp.directions import SpeechDirections
from minerf_base.errors import InputError

DEFAULT_RIDGE = 1e-3
"""Ridge strength per frame on unit-variance direction values (small: the three values are
far apart on real clips; it only keeps a still direction from dividing by zero)."""
MIN_FRAMES = 10


@dataclass
class SpeakerLift:
    """``e <- mean + clip((e @ W.T - mean @ W.T) / std, low, high) @ weight``
    (``W``: the direction readouts)."""

    directions: SpeechDirections
    mean: np.ndarray  # (d,) the person's mean tracked expression
    std: np.ndarray  # (k,) spread of the person's direction values
    low: np.ndarray  # (k,) lowest standardised direction value in the person's video
    high: np.ndarray  # (k,) highest
    weight: np.ndarray  # (k, d) standardised direction values -> expression offsets
    explained: float  # share of the tracked offsets' variance the direction values explain
    frames: int

    def apply(self, expressions: Float[np.ndarray, "T d"]) -> Float[np.ndarray, "T d"]:
        """The lifted copy of ``expressions`` (T, d), float32."""
        return self._from_values(self._standardised(np.asarray(expressions, np.float64)))

    def carry(self, expressions: Float[np.ndarray, "T d"], driver: "SpeakerLift", gain: float = 1.0) -> Float[np.ndarray, "T d"]:
        """Another person's tracked ``expressions`` (T, d) re-enacted on this person: their
        direction values in units of ``driver``'s (that person's lift: their mean and spread),
        times ``gain``, carried onto this person's own expressions as :meth:`apply` does; so at
        gain 1 a mouth opened one spread above the driver's mean opens one spread above this
        person's (never beyond the range this person's video shows), float32."""
        if driver.directions.names != self.directions.names or not np.array_equal(driver.directions.weights, self.directions.weights):
            raise InputError(None, f"the driver's lift reads directions {driver.directions.names}, this person's {self.directions.names}", "fit both lifts with the same directions")
        return self._from_values(gain * driver._standardised(np.asarray(expressions, np.float64)))

    def _standardised(self, e: np.ndarray) -> np.ndarray:
        if e.ndim != 2 or e.shape[1] != self.mean.shape[0]:
            raise InputError(None, f"expressions of shape {e.shape} do not fit a lift of {self.mean.shape[0]} coefficients", "fit the lift on tracked expressions of the same expression space")
        return (self.directions.values(e) - self.directions.values(self.mean[None])) / self.std

    def _from_values(self, values: np.ndarray) -> np.ndarray:
        return (self.mean + np.clip(values, self.low, self.high) @ self.weight).astype(np.float32)


def fit_lift(tracked: Float[np.ndarray, "N d"], directions: SpeechDirections, ridge: float = DEFAULT_RIDGE, source: str | None = None) -> SpeakerLift:
    """The :class:`SpeakerLift` of a person from their tracked expressions (N, d); ``source``
    names where they come from, for errors."""
    e = np.asarray(tracked, np.float64)
    if e.ndim != 2 or e.shape[1] != directions.weights.shape[1]:
        raise InputError(source, f"tracked expressions of shape {e.shape} do not fit directions of {directions.weights.shape[1]} coefficients", "use a clip prepared in the checkpoint's expression space")
    if len(e) < MIN_FRAMES:
        raise InputError(source, f"only {len(e)} tracked frames to fit the speaker lift on", f"use a video with at least {MIN_FRAMES} frames of the person, or turn the lift off")
    mean = e.mean(0)
    values = directions.values(e) - directions.values(mean[None])
    std = values.std(0) + 1e-9
    x, y = values / std, e - mean
    weight = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ y)
    total = float((y**2).sum())
    explained = 1.0 - float(((x @ weight - y) ** 2).sum()) / total if total > 0 else 0.0
    return SpeakerLift(directions, mean, std, x.min(0), x.max(0), weight, explained, len(e))
