"""SyncNet lip-sync scoring (LSE-D / LSE-C) and training of an own SyncNet expert.

``lipsync.score(video_or_frames, audio=None, weights=None)`` returns a
:class:`~lipsync.scoring.ScoreResult` (``offset``, ``lse_d``, ``lse_c``, ``weights_id``,
per-track scores). Importing this package is cheap: torch, mediapipe and PyAV load on the
first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from lipsync.scoring import ScoreConfig, ScoreResult

__all__ = ["score", "ScoreConfig", "ScoreResult"]


def score(video_or_frames: Any, audio: Any = None, weights: Any = None, **kwargs: Any) -> "ScoreResult":
    """Lip-sync scores of a video; see :func:`lipsync.scoring.score`."""
    from lipsync.scoring import score as _score

    return _score(video_or_frames, audio, weights, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("ScoreConfig", "ScoreResult"):
        from lipsync import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 'lipsync' has no attribute {name!r}")
