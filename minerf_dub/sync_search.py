"""``minerf-dub --sync-search N``: the audio <-> expression offset that SyncNet likes best.

audio2exp can make the lips lead or lag the speech by a frame or two. Before the final render
the dub tries every shift ``k`` in ``-N..N`` frames of the predicted expression timeline
against the audio (:func:`shift_expressions`): it renders a short preview with that shift
through the same renderer, compositing, watermark and encoding as the final video, scores it
with SyncNet (the weights of the final score) and keeps the best shift (:func:`choose_offset`).

The criterion is the sync confidence *at offset 0* -- the median of SyncNet's distance curve
minus its value at offset 0, i.e. LSE-C measured on the video as it plays. Plain LSE-C takes
the minimum over offsets -15..+15 and so hardly changes when the lips move by a frame or two:
on a real GRID clip with its own audio delayed by -4..+4 frames (own expert), LSE-C ranged
1.46-1.66 with its maximum at a 4-frame delay, while SyncNet's offset followed the delay
exactly. The confidence at offset 0 equals LSE-C whenever SyncNet finds the preview in sync.

The preview covers the ``seconds`` of the audio with the most energy (speech, not silence).
Cost: 2N + 1 preview renders + SyncNet scores before the final render.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from minerf_base.errors import InputError


@dataclass
class SyncSearch:
    """The per-offset table of a search and the offset the final render uses."""

    offsets: list[int]
    """Candidate shifts k in frames (k > 0: the lips follow the audio k frames later)."""
    lse_c_at_0: list[float]
    """Sync confidence at offset 0 of each preview (the criterion; higher is better)."""
    lse_c: list[float]
    """Plain LSE-C of each preview (best over SyncNet offsets -15..+15)."""
    lse_d: list[float]
    syncnet_offset: list[int]
    """Audio-visual offset SyncNet found in each preview."""
    chosen: int
    start_frame: int
    """First output frame of the preview window."""
    frames: int
    """Preview length in frames."""
    weights: str
    """SyncNet weights id used (the same as the final score's)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shift_expressions(expressions: np.ndarray, k: int) -> np.ndarray:
    """(T, d) -> (T, d) with ``out[t] = expressions[clip(t - k, 0, T - 1)]``: for k > 0 the
    lips follow the audio k frames later, for k < 0 earlier; the ends repeat the edge frame."""
    expressions = np.asarray(expressions)
    index = np.clip(np.arange(len(expressions)) - int(k), 0, max(len(expressions) - 1, 0))
    return expressions[index]


def candidate_offsets(n: int) -> list[int]:
    """The shifts tried for ``--sync-search n``: -n..n."""
    return list(range(-n, n + 1))


def choose_offset(offsets: Sequence[int], values: Sequence[float]) -> int:
    """The offset with the largest value (NaN counts as the lowest); ties go to the smallest
    |k|, then to the negative one."""
    if len(offsets) != len(values) or not offsets:
        raise ValueError(f"need one value per offset, got {len(offsets)} offsets and {len(values)} values")

    def key(i: int) -> tuple[float, int, int]:
        v = float(values[i])
        return (v if np.isfinite(v) else -np.inf, -abs(offsets[i]), -offsets[i])

    return int(offsets[max(range(len(offsets)), key=key)])


def preview_window(wave: np.ndarray, samples_per_frame: int, total: int, count: int) -> int:
    """First frame of the ``count``-frame window (of ``total`` frames) where the mono audio
    ``wave`` (S,) has the most energy; the earliest such window on ties."""
    count = min(count, total)
    frames = np.zeros(total * samples_per_frame, np.float64)
    used = np.asarray(wave[: len(frames)], np.float64)
    frames[: len(used)] = used
    energy = np.square(frames).reshape(total, samples_per_frame).sum(axis=1)
    sums = np.convolve(energy, np.ones(count), mode="valid")  # (total - count + 1,)
    return int(np.argmax(sums >= sums.max() - 1e-9 * max(sums.max(), 1.0)))


def require_weights(weights: Any, device: str | None) -> str:
    """Load the SyncNet weights the search needs (and the final score uses); their id, or the
    loader's error (same type: :class:`~minerf_base.errors.WeightsNotFoundError`,
    :class:`~minerf_base.errors.NoWeightsError`...) saying how to get weights."""
    from lipsync.weights import load_syncnet

    try:
        return load_syncnet(weights, device).weights_id
    except InputError as exc:
        raise type(exc)(
            exc.path,
            f"--sync-search needs SyncNet weights to score its previews: {exc.problem}",
            "pass --syncnet-weights FILE (the public syncnet_v2.model) or set $MINERF_SYNCNET_WEIGHTS=FILE; "
            "or train an own expert with `lipsync train CLIP_DIR... -o RUN` and pass --syncnet-weights RUN; "
            "or leave out --sync-search",
        ) from None


def confidence_at_zero(result: Any) -> float:
    """Sync confidence at offset 0 of a lipsync ScoreResult: median minus the distance at
    offset 0 of each track's curve, averaged over tracks."""
    return float(np.mean([t.lse_c + t.lse_d - t.distance_at_zero for t in result.tracks]))


def search_offsets(offsets: Sequence[int], score_preview: Callable[[int], Any], start: int, frames: int, progress: bool = True) -> SyncSearch:
    """Score a preview for every offset with ``score_preview(k) -> lipsync ScoreResult`` and
    choose the offset with the highest sync confidence at offset 0."""
    from tqdm import tqdm

    conf0, lse_c, lse_d, found, weights = [], [], [], [], ""
    for k in tqdm(offsets, desc="sync search", unit="offsets", disable=not progress):
        result = score_preview(k)
        conf0.append(round(confidence_at_zero(result), 4))
        lse_c.append(round(float(result.lse_c), 4))
        lse_d.append(round(float(result.lse_d), 4))
        found.append(int(result.offset))
        weights = result.weights_id
    return SyncSearch(
        offsets=list(offsets), lse_c_at_0=conf0, lse_c=lse_c, lse_d=lse_d, syncnet_offset=found,
        chosen=choose_offset(offsets, conf0), start_frame=start, frames=frames, weights=weights,
    )
