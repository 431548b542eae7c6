"""Re-enactment check: does a dub driven by another person's video (``--expressions-from``)
move its mouth when that person's does?

:func:`reenactment_follow` re-enacts a target video with a driver video's tracked expressions
in each of a few settings (:data:`SETTINGS`: the speaker lift at the default gain and at gain
1, and the raw expressions) and measures, with the face tracker on each output, the opening's
correlation with the driver video's real opening and its spread against the driver's and
against the target's own opening over the target video. ``benchmarks/reenact_follow.py``
prints it for several pairs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from minerf_dub.lmd import mouth_opening, opening_correlation, opening_spread, video_landmarks
from minerf_dub.pipeline import DubOptions, dub, prepared_source

SETTINGS: dict[str, dict[str, Any]] = {
    "lift": {"speaker_lift": True},
    "lift_gain1": {"speaker_lift": True, "expression_gain": 1.0},
    "raw": {"speaker_lift": False},
}
"""Name -> :class:`DubOptions` fields changed from the options given (``lift``: the dub's
default gain)."""
FPS = 25.0
"""Output rate: the driver clip's own, so output frame k is driver frame k."""


def reenactment_follow(target: str | Path, driver: str | Path, options: DubOptions, work: str | Path, settings: dict[str, dict[str, Any]] = SETTINGS, progress: bool = False) -> dict[str, Any]:
    """Re-enact the video ``target`` with the video ``driver``'s expressions into ``work``
    (``<setting>.mp4``, reused when present) for each of ``settings``; per setting
    ``opening_corr`` (against the driver's real opening), ``spread_vs_driver`` and
    ``spread_vs_target`` (the output opening's standard deviation over the target video's
    own)."""
    target, driver, work = Path(target), Path(driver), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    clip = prepared_source(driver, options, progress)
    real = video_landmarks(driver)
    own = mouth_opening(video_landmarks(target))
    target_std = float(np.nanstd(own))
    result: dict[str, Any] = {"target": str(target), "driver": str(driver), "driver_frames": clip.num_frames}
    for name, changes in settings.items():
        out = work / f"{name}.mp4"
        if not out.exists():
            dub(target, None, out, dataclasses.replace(options, score=False, report=False, fps=FPS, **changes), progress, expressions_from=clip.path)
        points = video_landmarks(out)
        dubbed = mouth_opening(points)
        result[name] = {
            "opening_corr": round(opening_correlation(points, real), 3),
            "spread_vs_driver": round(opening_spread(points, real), 3),
            "spread_vs_target": round(float(np.nanstd(dubbed)) / target_std, 3) if target_std > 0 else None,
            "settings": changes,
        }
    return result
