"""Audio/video offsets of training clips: find them and undo them before audio2exp learns.

Videos collected from the web are often out of sync; in ``../shared/data`` the news clip's
sound comes about half a second after the lips that make it. A network trained on such a
clip learns that the mouth opens a while before the sound, which is wrong for every other
speaker.

How an offset is found (``audio2exp train --sync-correct``): the clips are split into
``groups`` (one clip each, up to 12 clips); for each group a network trained on the other
groups' clips predicts the group's mouth openings from their audio. For each clip, the correlation of its tracked opening with
the prediction shifted by ``-L..L`` frames peaks at the clip's offset, measured on its training
frames only. The shift is taken when its correlation beats the unshifted one by at least
``min_gain``: a few seconds of speech give noisy correlation curves, and a clip in sync keeps
a shift of 0.

A clip with offset ``k`` is trained on with the audio features of frame ``t + k`` as those of
frame ``t`` (``k > 0``: the sound comes ``k`` frames after the lips).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from audio2exp.data import ClipData
from minerf_base.timebase import SAMPLES_PER_FRAME

MAX_OFFSET_FRAMES = 15  # 0.6 s at 25 fps
MIN_GAIN = 0.2
GROUPS = 12  # up to 12 clips: each one's opening is predicted by a network trained on all others
SILENT_FRAME_DB = -120.0  # frame level of digital silence (audio.frame_db)

OpeningPredictor = Callable[[Sequence[ClipData], Sequence[ClipData]], list[np.ndarray]]
"""``(training clips, other clips) -> predicted mouth opening (N_i,) of each other clip``."""


def lag_correlations(tracked: np.ndarray, predicted: np.ndarray, frames: np.ndarray, max_lag: int = MAX_OFFSET_FRAMES) -> np.ndarray:
    """``r[lag + max_lag]`` = Pearson correlation of ``tracked[t]`` with ``predicted[t + lag]``
    over the ``frames`` t for which ``t + lag`` is a frame too; 0 where either side is constant."""
    n = tracked.size
    out = np.zeros(2 * max_lag + 1)
    for k, lag in enumerate(range(-max_lag, max_lag + 1)):
        t = frames[(frames + lag >= 0) & (frames + lag < n)]
        if t.size <= 2:
            continue
        a = tracked[t] - tracked[t].mean()
        b = predicted[t + lag] - predicted[t + lag].mean()
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        out[k] = float(a @ b) / norm if norm > 1e-12 else 0.0
    return out


def pick_offset(correlations: np.ndarray, min_gain: float = MIN_GAIN) -> int:
    """The lag of the highest correlation when it beats lag 0 by ``min_gain``, else 0."""
    max_lag = (correlations.size - 1) // 2
    best = int(np.argmax(correlations))
    if correlations[best] - correlations[max_lag] < min_gain:
        return 0
    return best - max_lag


def shift_clip(clip: ClipData, lag: int, silence: np.ndarray) -> ClipData:
    """The clip with the audio of frame ``t + lag`` at frame ``t`` (features and frame levels);
    frames whose audio would lie outside the clip get silence."""
    if lag == 0:
        return clip
    n = clip.num_frames
    source = np.arange(n) + lag
    inside = (source >= 0) & (source < n)
    features = np.repeat(silence[None].astype(clip.features.dtype), n, axis=0)
    features[inside] = clip.features[source[inside]]
    frame_db = np.full(n, SILENT_FRAME_DB, clip.frame_db.dtype)
    frame_db[inside] = clip.frame_db[source[inside]]
    return replace(clip, features=features, frame_db=frame_db)


def shift_samples(samples: np.ndarray, lag: int) -> np.ndarray:
    """16 kHz samples with the audio of frame ``t + lag`` at frame ``t`` (zeros fill in)."""
    if lag == 0:
        return samples
    k = abs(lag) * SAMPLES_PER_FRAME
    out = np.zeros_like(samples)
    if k < samples.size:
        if lag > 0:
            out[: samples.size - k] = samples[k:]
        else:
            out[k:] = samples[: samples.size - k]
    return out


def estimate_offsets(
    clips: Sequence[ClipData],
    predict_opening: OpeningPredictor,
    groups: int = GROUPS,
    max_lag: int = MAX_OFFSET_FRAMES,
    min_gain: float = MIN_GAIN,
) -> list[dict]:
    """Each clip's offset (cross-fitted, see the module doc): a list of
    ``{"offset", "corr_at_offset", "corr_at_zero"}``. With one clip there is nothing to learn
    the audio -> mouth relation from, and every offset is 0."""
    n = len(clips)
    out = [{"offset": 0, "corr_at_offset": 0.0, "corr_at_zero": 0.0} for _ in range(n)]
    if n < 2:
        return out
    k = min(groups, n)
    for g in range(k):
        held = [i for i in range(n) if i % k == g]
        rest = [i for i in range(n) if i % k != g]
        predictions = predict_opening([clips[i] for i in rest], [clips[i] for i in held])
        for i, predicted in zip(held, predictions):
            c = clips[i]
            frames = c.train[c.valid[c.train]]
            r = lag_correlations(c.opening, predicted, frames, max_lag)
            lag = pick_offset(r, min_gain)
            out[i] = {"offset": lag, "corr_at_offset": round(float(r[lag + max_lag]), 4), "corr_at_zero": round(float(r[max_lag]), 4)}
    return out
