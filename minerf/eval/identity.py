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
from minerf.render.conditioning import ConditionOverride, clip_frame_condition, render_clip_frame
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
    detected, embedded = embedder.detected, embedder.embedded
    was_training = model.training
    model.eval()
    n_id = len(data.identity_names)
    first_clip = [data.clips_of_identity(i)[0] for i in range(n_id)]
    heldout = [data.splits[ci][1][:frames_per_identity] for ci in first_clip]  # the frames the PSNR pass renders first
    reference, real = [], []
    for ident, ci in enumerate(first_clip):
        train_frames = [(c, int(t)) for c in data.clips_of_identity(ident) for t in _spread(data.splits[c][0], REFERENCE_FRAMES)]
        reference.append(mean_embedding(embedder.embed_many([_real_crop(data, c, t) for c, t in train_frames])))
        real.append(embedder.embed_many([_real_crop(data, ci, int(t)) for t in heldout[ident]]))

    bar = tqdm(total=sum(len(h) for h in heldout) * (2 if n_id > 1 else 1), desc="acd", unit="frames", disable=not progress)
    per_identity: dict[str, dict[str, float]] = {}
    for ident, ci in enumerate(first_clip):
        clip = data.clips[ci]
        frames = heldout[ident]
        own = []
        for t in frames:
            key = (ci, int(t))
            if key not in renders:
                renders[key] = render_clip_frame(model, data, ci, int(t), smooth, crop_box(clip.face_box[t], clip.resolution))["rgb"].cpu().numpy()
            own.append(renders[key])
            bar.update(1)
        row = {
            "self": embedding_acd(embedder.embed_many(own), reference[ident][None]),
            "real_heldout": embedding_acd(real[ident], reference[ident][None]),
        }
        if n_id > 1:
            source = (ident + 1) % n_id
            count = min(len(frames), len(heldout[source]))
            expr_clip = data.clips[first_clip[source]]
            cond = clip_frame_condition(model, data, ci, frames[:count], smooth, ConditionOverride(expression=expr_clip.expression, expression_frames=heldout[source][:count]))
            transfer = []
            for k, t in enumerate(frames[:count]):
                transfer.append(render_clip_frame(model, data, ci, int(t), smooth, crop_box(clip.face_box[t], clip.resolution), cond=cond[k])["rgb"].cpu().numpy())
                bar.update(1)
            emb = embedder.embed_many(transfer)
            others = [embedding_acd(real[ident], reference[j][None]) for j in range(n_id) if j != ident]
            row.update(
                {
                    "transfer": embedding_acd(emb, reference[ident][None]),
                    "expressions_from": data.identity_names[source],
                    "transfer_vs_expression_source": embedding_acd(emb, reference[source][None]),
                    "real_other_identities": float(np.mean(others)),
                }
            )
        row["frames"] = len(frames)
        per_identity[data.identity_names[ident]] = row
    bar.close()
    model.train(was_training)

    keys = ["transfer", "self", "real_heldout", "real_other_identities", "transfer_vs_expression_source"]
    result: dict[str, Any] = {k: float(np.mean([r[k] for r in per_identity.values()])) for k in keys if n_id > 1 or k in ("self", "real_heldout")}
    if n_id == 1:
        result["note"] = "one identity: no expression transfer or other identity to compare; self-reconstruction only"
    result.update(
        {
            "identities": per_identity,
            "definition": DEFINITION,
            "model": MODEL_NAME,
            "frames_per_identity": frames_per_identity,
            "reference_frames_per_clip": REFERENCE_FRAMES,
            "faces_detected": f"{embedder.detected - detected}/{embedder.embedded - embedded} crops (the rest used the whole crop as the face)",
        }
    )
    return result
