"""How long a dub will take, said before the slow stages start.

Four head crops are rendered first and the median time of the last three is taken (the first
carries the renderer's warm-up; a median, because on a shared machine one frame can take
several times the others: one timed frame once said 0.69 s where the dub then rendered at
0.15); the region's pixels give the seconds per rendered ray. Rendering the output costs that per output frame still to render (a resumed dub counts
only the frames its work folder lacks). A personalization step renders ``rays_per_step`` rays
forwards and backwards: :data:`TRAIN_RAY_COST` rendered rays each, a ratio measured on this
project's models (docs/dubbing.md). The estimate is printed before personalization and
rendering, and returned in ``DubResult.estimate`` beside the measured ``timings``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TRAIN_RAY_COST = 4.3
"""Seconds of one training ray (forward + backward + optimizer step, occupancy refreshes
included) over one rendered ray of the dub's lower face: 4.3 with the shipped ``fast`` model
(600 personalization steps of a 5 s clip, 92.7 s, against its render of the same dub on a free
2-core CPU; docs/dubbing.md). The earlier 1.3 came from 30 steps on a loaded CPU and
said 28 s for those 92.7 s."""


@dataclass
class DubEstimate:
    """The up-front estimate of the slow stages of one dub, in seconds."""

    seconds_per_frame: float
    """Measured: the median of three head crops rendered after a first one."""
    frames: int
    """Output frames to render (not yet in the work folder)."""
    personalize_steps: int
    """0 when the person is known or the personalized model is cached."""
    seconds_per_step: float
    """Estimated from the frame: ``rays_per_step * TRAIN_RAY_COST`` rendered rays."""

    @property
    def render_seconds(self) -> float:
        return self.seconds_per_frame * self.frames

    @property
    def personalize_seconds(self) -> float:
        return self.seconds_per_step * self.personalize_steps

    @property
    def total_seconds(self) -> float:
        return self.render_seconds + self.personalize_seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "render_seconds": round(self.render_seconds, 1), "personalize_seconds": round(self.personalize_seconds, 1), "total_seconds": round(self.total_seconds, 1)}

    def line(self) -> str:
        parts = [f"render {self.frames} frames ~{_duration(self.render_seconds)} ({self.seconds_per_frame:.2f} s/frame)"]
        if self.personalize_steps:
            parts.insert(0, f"personalize {self.personalize_steps} steps ~{_duration(self.personalize_seconds)}")
        return f"estimate: ~{_duration(self.total_seconds)} to go: " + ", ".join(parts) + " (plus scoring and the report)"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


TIMED_CROPS = 3
"""Crops timed after the warm-up one; the estimate takes their median."""


def time_crops(render: Any, expressions: np.ndarray, count: int, store: Any = None) -> tuple[float, int]:
    """(seconds, rendered pixels) of rendering one output frame of ``render`` (a
    :class:`~minerf_dub.pipeline.DubRender`) with ``expressions``: the first 1 +
    :data:`TIMED_CROPS` of the ``count`` frames not in ``store`` are rendered and the median
    time of all but the first taken (the first carries the renderer's warm-up); ``store``
    keeps them (so the render does not do them again) unless the run's temporal attention
    needs their neighbours rendered with them."""
    k = 0 if store is None else next((k for k in range(count) if not store.has(k)), 0)
    span = range(k, min(k + 1 + TIMED_CROPS, len(render.timeline)))
    crops = iter(render.crops(expressions, slice(span.start, span.stop)))
    rendered, times = [], []
    for _ in span:
        started = time.perf_counter()
        rendered.append(next(crops))
        times.append(time.perf_counter() - started)
    seconds = float(np.median(times[1:] or times))
    if store is not None and render.margin == 0:
        for j, (crop, opacity) in zip(span, rendered):
            if j < count and not store.has(j):
                store.save(j, crop, opacity)
    return seconds, int(render.region(int(render.timeline[span[-1]])).sum())  # the pixels the dub renders


def estimate(render: Any, expressions: np.ndarray, count: int, personalize_steps: int, store: Any = None, extra_frames: int = 0) -> DubEstimate:
    """The estimate for rendering the ``count`` output frames of ``render`` that ``store``
    lacks (and ``extra_frames`` more, e.g. previews) after ``personalize_steps`` steps of
    personalization with its run's ``rays_per_step``."""
    frames = count - (0 if store is None else store.stored(range(count))) + extra_frames  # the timed one included
    seconds, pixels = time_crops(render, expressions, count, store)
    per_ray = seconds / max(pixels, 1)
    step = per_ray * render.run.config.rays_per_step * TRAIN_RAY_COST
    return DubEstimate(seconds_per_frame=seconds, frames=frames, personalize_steps=personalize_steps, seconds_per_step=step)
