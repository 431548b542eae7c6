"""Identity preservation of a trained run: ACD of expression transfer on held-out frames.

For every identity A (the target) the first few held-out frames of its first clip are
rendered twice, with A's identity code and pose:

* ``self``: with A's own expressions (held-out reconstruction);
* ``transfer``: with the expressions of the next identity B's held-out frames (cyclic order).

Each render's face crop is embedded (:mod:`minerf.eval.embedding`) and its cosine distance
to the mean embedding of A's real *training* frames is averaged (ACD). Two real-frame
references give the scale: ``real_heldout`` (A's real held-out frames against A: the floor for
the same person) and ``real_other_identities`` (A's real held-out frames against every other
identity's reference: what "another person" scores). ``transfer_vs_expression_source`` is the
transfer render against B's reference: if it were lower than ``transfer``, identity would leak
in through the expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from minerf.data import MultiClipData
from minerf.eval.embedding import (
    MODEL_NAME,
    FaceEmbedder,
    embedding_acd,
    mean_embedding,
)
from minerf.model.mi_nerf import MINeRF
from minerf.render.conditioning import (
    ConditionOverride,
    clip_frame_condition,
    render_clip_frame,
)
from minerf.render.views import crop_box

DEFINITION = "mean over rendered face crops of 1 - cos(embedding, unit mean embedding of the target identity's real training frames)"
REFERENCE_FRAMES = 8


def _spread(frames: np.ndarray, count: int) -> np.ndarray:
    """``count`` frame indices spread evenly over ``frames`` (all of them when fewer)."""
    frames = np.asarray(frames)
    if len(frames) <= count:
        return frames
    return frames[np.linspace(0, len(frames) - 1, count).round().astype(int)]


def _real_crop(data: MultiClipData, ci: int, t: int) -> np.ndarray:
    clip = data.clips[ci]
    x0, y0, x1, y1 = crop_box(clip.face_box[t], clip.resolution)
    return clip.frame(t)[y0:y1, x0:x1]


@dataclass(frozen=True)
class _Targets:
    """Per identity: its first clip, the held-out frames rendered there, the unit mean
    embedding of its real training frames and the embeddings of its real held-out frames."""

    clips: list[int]
    heldout: list[np.ndarray]
    reference: list[np.ndarray]
    real: list[np.ndarray]


@torch.no_grad()
def evaluate_acd(
    model: MINeRF,
    data: MultiClipData,
    smooth: bool,
    embedder: FaceEmbedder,
    frames_per_identity: int = 4,
    renders: dict[tuple[int, int], np.ndarray] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """ACD of self-reconstruction and expression transfer, per identity and averaged.

    ``renders`` {(clip index, frame): rendered crop (H, W, 3) in [0, 1]} are reused for the
    self-reconstruction (the PSNR pass renders the same face crops). With one identity only
    the self-reconstruction and the real-frame floor are measured.
    """
    from tqdm import tqdm

    renders = renders if renders is not None else {}
    counts = embedder.detected, embedder.embedded
    was_training = model.training
    model.eval()
    n_id = len(data.identity_names)
    targets = _targets(data, embedder, frames_per_identity)
    bar = tqdm(total=sum(len(h) for h in targets.heldout) * (2 if n_id > 1 else 1), desc="acd", unit="frames", disable=not progress)
    per_identity: dict[str, dict[str, float]] = {}
    for ident, ci in enumerate(targets.clips):
        frames = targets.heldout[ident]
        own = []
        for t in frames:
            key = (ci, int(t))
            if key not in renders:
                renders[key] = _face_render(model, data, ci, int(t), smooth)
            own.append(renders[key])
            bar.update(1)
        row = {
            "self": embedding_acd(embedder.embed_many(own), targets.reference[ident][None]),
            "real_heldout": embedding_acd(targets.real[ident], targets.reference[ident][None]),
        }
        if n_id > 1:
            row.update(_transfer(model, data, targets, ident, smooth, embedder, bar))
        row["frames"] = len(frames)
        per_identity[data.identity_names[ident]] = row
    bar.close()
    model.train(was_training)
    return _summary(per_identity, frames_per_identity, embedder, counts)


def _targets(data: MultiClipData, embedder: FaceEmbedder, frames_per_identity: int) -> _Targets:
    """Every identity's first clip, the first ``frames_per_identity`` held-out frames there
    (the frames the PSNR pass renders first) and the real-frame embeddings of :class:`_Targets`."""
    first_clip = [data.clips_of_identity(i)[0] for i in range(len(data.identity_names))]
    heldout = [data.splits[ci][1][:frames_per_identity] for ci in first_clip]
    reference, real = [], []
    for ident, ci in enumerate(first_clip):
        train_frames = [(c, int(t)) for c in data.clips_of_identity(ident) for t in _spread(data.splits[c][0], REFERENCE_FRAMES)]
        reference.append(mean_embedding(embedder.embed_many([_real_crop(data, c, t) for c, t in train_frames])))
        real.append(embedder.embed_many([_real_crop(data, ci, int(t)) for t in heldout[ident]]))
    return _Targets(first_clip, heldout, reference, real)


def _face_render(model: MINeRF, data: MultiClipData, ci: int, t: int, smooth: bool, cond: torch.Tensor | None = None) -> np.ndarray:
    """Frame ``t`` of clip ``ci`` rendered inside its face crop, (H, W, 3) in [0, 1]."""
    clip = data.clips[ci]
    return render_clip_frame(model, data, ci, t, smooth, crop_box(clip.face_box[t], clip.resolution), cond=cond)["rgb"].cpu().numpy()


def _transfer(model: MINeRF, data: MultiClipData, targets: _Targets, ident: int, smooth: bool, embedder: FaceEmbedder, bar) -> dict[str, Any]:
    """Identity ``ident`` rendered with the next identity's held-out expressions: its ACD
    against both identities, and the real-frame scale of other identities."""
    n_id = len(data.identity_names)
    ci, frames = targets.clips[ident], targets.heldout[ident]
    source = (ident + 1) % n_id
    count = min(len(frames), len(targets.heldout[source]))
    expr_clip = data.clips[targets.clips[source]]
    cond = clip_frame_condition(model, data, ci, frames[:count], smooth, ConditionOverride(expression=expr_clip.expression, expression_frames=targets.heldout[source][:count]))
    transfer = []
    for k, t in enumerate(frames[:count]):
        transfer.append(_face_render(model, data, ci, int(t), smooth, cond=cond[k]))
        bar.update(1)
    emb = embedder.embed_many(transfer)
    others = [embedding_acd(targets.real[ident], targets.reference[j][None]) for j in range(n_id) if j != ident]
    return {
        "transfer": embedding_acd(emb, targets.reference[ident][None]),
        "expressions_from": data.identity_names[source],
        "transfer_vs_expression_source": embedding_acd(emb, targets.reference[source][None]),
        "real_other_identities": float(np.mean(others)),
    }


def _summary(per_identity: dict[str, dict[str, Any]], frames_per_identity: int, embedder: FaceEmbedder, counts: tuple[int, int]) -> dict[str, Any]:
    """Means over identities and what was measured how; ``counts``: the embedder's
    (detected, embedded) counters before this evaluation."""
    several = len(per_identity) > 1
    keys = ["transfer", "self", "real_heldout", "real_other_identities", "transfer_vs_expression_source"]
    result: dict[str, Any] = {k: float(np.mean([r[k] for r in per_identity.values()])) for k in keys if several or k in ("self", "real_heldout")}
    if not several:
        result["note"] = "one identity: no expression transfer or other identity to compare; self-reconstruction only"
    result.update(
        {
            "identities": per_identity,
            "definition": DEFINITION,
            "model": MODEL_NAME,
            "frames_per_identity": frames_per_identity,
            "reference_frames_per_clip": REFERENCE_FRAMES,
            "faces_detected": f"{embedder.detected - counts[0]}/{embedder.embedded - counts[1]} crops (the rest used the whole crop as the face)",
        }
    )
    return result
