"""When each output frame of a dub is shown, and what it shows: the output frame rate, the
source frame, the prepared clip's frame, and the point of the 25 fps expression track.

The prepared clip and audio2exp run at 25 fps (:data:`minerf_base.timebase.FPS`); the output
runs at the source video's own rate by default (or ``--fps``). Output frame ``k`` is shown
at ``k / rate``. The source plays forwards and backwards (ping-pong, no jump) over its frames
at that rate; the clip position is the source frame's time in clip frames (fractional: the head
pose is interpolated between the two clip frames around it, masks, backgrounds and latent codes
come from the nearest), and the expression is the 25 fps prediction interpolated linearly at
the output time. At 25 fps every position is a whole frame and nothing is interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from jaxtyping import Float, Int

from minerf_base.timebase import FPS


def output_rate(source_fps: float, requested: float | None) -> Fraction:
    """The output frame rate: ``requested`` (``--fps``) or the source's own, as an exact
    fraction (29.97 -> 30000/1001)."""
    rate = Fraction(requested if requested is not None else source_fps).limit_denominator(1001)
    return rate if rate > 0 else Fraction(FPS)


@dataclass(frozen=True)
class OutputTiming:
    """Per output frame: the source frame shown (at ``rate``), the clip position (25 fps,
    fractional) and the expression position (25 fps, fractional)."""

    rate: Fraction
    source_index: Int[np.ndarray, " frames"]
    clip_position: Float[np.ndarray, " frames"]
    expression_position: Float[np.ndarray, " frames"]

    @classmethod
    def plan(cls, expression_frames: int, source_frames: int, clip_frames: int, rate: Fraction) -> "OutputTiming":
        """The output of ``expression_frames`` 25 fps expressions (their duration) at ``rate``
        over a source of ``source_frames`` frames at ``rate`` prepared into ``clip_frames``."""
        from minerf.render.composite import ping_pong

        count = max(1, int(round(expression_frames * rate / FPS)))
        scale = float(Fraction(FPS) / rate)  # 25 fps frames per output frame
        source = ping_pong(count, max(1, source_frames))
        clip = np.minimum(source * scale, clip_frames - 1)
        expression = np.minimum(np.arange(count) * scale, expression_frames - 1)
        return cls(rate, source.astype(np.int64), clip.astype(np.float64), expression.astype(np.float64))

    def __len__(self) -> int:
        return len(self.source_index)

    @property
    def clip_frame(self) -> Int[np.ndarray, " frames"]:
        """The nearest clip frame of each output frame (mask, background, latent code)."""
        return np.floor(self.clip_position + 0.5).astype(np.int64)

    def seconds(self, frames: int | None = None) -> float:
        return float((len(self) if frames is None else frames) / self.rate)

    def frames_in(self, seconds: float) -> int:
        """Output frames that ``seconds`` of output hold (at least one, at most all)."""
        return min(len(self), max(1, int(round(seconds * self.rate))))

    def span_of(self, start: int, count: int) -> slice:
        """The output frames shown during 25 fps frames ``start .. start + count``."""
        first = int(np.ceil(start * self.rate / FPS - 1e-9))
        stop = int(np.ceil((start + count) * self.rate / FPS - 1e-9))
        return slice(min(first, len(self)), min(max(stop, first + 1), len(self)))

    def sample(self, frame: int, sample_rate: int) -> int:
        """Audio sample (at ``sample_rate``) at which output frame ``frame`` starts."""
        return int(round(frame * sample_rate / self.rate))

    def at_analysis_rate(self, count: int | None = None, first: int = 0) -> Int[np.ndarray, " frames"]:
        """The clip frame on screen at each 25 fps frame of a video of ``count`` output frames
        from frame ``first`` on (default: the first ``count``; all of them), read at the rate
        the scorer and the report read videos at."""
        shown = len(self) - first if count is None else count
        slots = int(round(self.seconds(shown) * FPS))
        k = np.minimum(np.floor(np.arange(slots) * self.rate / FPS + 1e-9).astype(np.int64), shown - 1)
        return self.clip_frame[first + k]


def interpolate_rows(values: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``values`` (N, ...) read at fractional rows ``position`` (F,), linearly; whole positions
    give the rows themselves."""
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, len(values) - 1)
    w = (position - lo).reshape((-1,) + (1,) * (values.ndim - 1))
    out = values[lo] * (1 - w) + values[hi] * w
    return np.where(w == 0, values[lo], out).astype(values.dtype)


def interpolate_poses(poses: Float[np.ndarray, "n 4 4"], position: Float[np.ndarray, " frames"]) -> Float[np.ndarray, "frames 4 4"]:
    """Head poses at fractional clip positions: rotation by spherical interpolation between
    the two clip frames around each position, translation linearly; whole positions give the
    clip's own poses."""
    from scipy.spatial.transform import Rotation

    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, len(poses) - 1)
    w = position - lo
    out = poses[lo].copy()
    moving = w > 0
    if moving.any():
        a, b, t = poses[lo[moving]], poses[hi[moving]], w[moving]
        ra = Rotation.from_matrix(a[:, :3, :3])
        rel = (ra.inv() * Rotation.from_matrix(b[:, :3, :3])).as_rotvec()
        out[moving, :3, :3] = (ra * Rotation.from_rotvec(rel * t[:, None])).as_matrix()
        out[moving, :3, 3] = a[:, :3, 3] * (1 - t[:, None]) + b[:, :3, 3] * t[:, None]
    return out.astype(poses.dtype)
