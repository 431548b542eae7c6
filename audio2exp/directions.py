"""Speech-driven directions of the expression space: linear readouts of the expression vector.

The expression space decodes an expression ``e`` (d,) to face-mesh points
``X = identity_shape + sum_k e_k B_k`` (:mod:`minerf.prepare.expression_space`), so any
coordinate difference of the decoded points along a fixed axis of the head is an exact
linear function of ``e``: ``value(e) = e @ w + value(identity_shape)``. Three such readouts
carry what speech moves (what audio can predict), all in units of the eye-corner distance:

* ``opening``: the inner-lip gap, lower minus upper inner-lip midpoint (points 14 - 13)
  along the head's vertical axis;
* ``width``: the mouth-corner distance (291 - 61) along the head's horizontal axis (rounded
  lips are narrow, spread lips wide);
* ``jaw``: how far the chin (152) drops along the vertical axis.

The head's axes come from the space's mean shape: horizontal from the right to the left outer
eye corner, vertical from the forehead (10) to the chin (152), made orthogonal to the
horizontal one. The rest of the mouth coefficients (speaker, pose and tracking variance) is
what these readouts do not see.

A fourth readout, the forward motion of the lip midpoints (0, 17) as a measure of rounding,
was tried and left out: on the prepared clips it follows the opening (r -0.85 to -0.97 within
a clip; the lower lip moves back as the jaw drops), so it adds no direction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minerf.prepare.expression_space import (
    EYE_OUTER_LEFT,
    EYE_OUTER_RIGHT,
    LOWER_INNER_LIP,
    UPPER_INNER_LIP,
    ExpressionSpace,
)

DIRECTION_NAMES = ("opening", "width", "jaw")
MOUTH_CORNERS = (61, 291)
FOREHEAD, CHIN = 10, 152


@dataclass(frozen=True)
class SpeechDirections:
    """Linear readouts ``values = e @ weights.T`` of the speech-driven directions."""

    names: tuple[str, ...]
    weights: np.ndarray  # (k, d): one row per direction

    def values(self, expressions: np.ndarray) -> np.ndarray:
        """(T, d) expressions -> (T, k) direction values (up to each direction's constant)."""
        return np.asarray(expressions, np.float64) @ self.weights.T

    def to_json(self) -> dict:
        return {"names": list(self.names), "weights": self.weights.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "SpeechDirections":
        return cls(tuple(data["names"]), np.asarray(data["weights"], np.float64))


def head_axes(mean_shape: np.ndarray) -> np.ndarray:
    """(2, 3) rows: horizontal (right to left eye corner), vertical (downwards, to the chin)."""
    m = np.asarray(mean_shape, np.float64)
    x = m[EYE_OUTER_RIGHT] - m[EYE_OUTER_LEFT]
    x /= np.linalg.norm(x)
    y = m[CHIN] - m[FOREHEAD]
    y -= (y @ x) * x
    y /= np.linalg.norm(y)
    return np.stack([x, y])


def speech_directions(space: ExpressionSpace) -> SpeechDirections:
    """The three speech-driven readouts of ``space`` (see the module docstring)."""
    horizontal, vertical = head_axes(space.mean_shape)
    basis = space.basis  # (d, 468, 3)
    eye = float(np.linalg.norm(space.mean_shape[EYE_OUTER_LEFT] - space.mean_shape[EYE_OUTER_RIGHT]))
    rows = {
        "opening": (basis[:, LOWER_INNER_LIP] - basis[:, UPPER_INNER_LIP]) @ vertical,
        "width": (basis[:, MOUTH_CORNERS[1]] - basis[:, MOUTH_CORNERS[0]]) @ horizontal,
        "jaw": basis[:, CHIN] @ vertical,
    }
    return SpeechDirections(DIRECTION_NAMES, np.stack([rows[n] for n in DIRECTION_NAMES]) / eye)


def geometric_values(space: ExpressionSpace, points: np.ndarray) -> np.ndarray:
    """The same three quantities measured on decoded points (N, 468, 3) -> (N, 3), slow
    reference of :func:`speech_directions` (equal up to each direction's constant)."""
    horizontal, vertical = head_axes(space.mean_shape)
    eye = float(np.linalg.norm(space.mean_shape[EYE_OUTER_LEFT] - space.mean_shape[EYE_OUTER_RIGHT]))
    p = np.asarray(points, np.float64)
    cols = [
        (p[:, LOWER_INNER_LIP] - p[:, UPPER_INNER_LIP]) @ vertical,
        (p[:, MOUTH_CORNERS[1]] - p[:, MOUTH_CORNERS[0]]) @ horizontal,
        p[:, CHIN] @ vertical,
    ]
    return np.stack(cols, axis=1) / eye


def direction_spread(directions: SpeechDirections, expressions: list[np.ndarray]) -> np.ndarray:
    """(k,) pooled standard deviation of each direction within clips (each clip centred)."""
    centred = [directions.values(e) - directions.values(e).mean(0) for e in expressions if len(e)]
    return np.concatenate(centred).std(axis=0) + 1e-9


def geometric_directions(space_id: str, dim: int) -> SpeechDirections | None:
    """The three geometric directions when ``space_id`` (``dim`` coefficients) is the toolkit's
    shipped expression space (the one whose basis can be decoded here), else None."""
    from minerf.prepare.expression_space import load_expression_space

    space = load_expression_space()
    return speech_directions(space) if space.id == space_id and space.dim == dim else None


def directions_for(space_id: str, dim: int, opening_readout: np.ndarray) -> SpeechDirections:
    """The speech-driven directions of the expression space ``space_id``: the geometric ones
    (:func:`geometric_directions`) when it is the shipped space, else the opening alone, as the
    linear readout fitted on the clips (``opening_readout`` (d + 1,))."""
    directions = geometric_directions(space_id, dim)
    if directions is not None:
        return directions
    return SpeechDirections(("opening",), np.asarray(opening_readout, np.float64)[None, :-1])
