"""Held-out evaluation (PSNR / SSIM on a face crop), validation images, ``minerf eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from minerf.data import MultiClipData
from minerf.eval.metrics import psnr, ssim
from minerf.model.mi_nerf import MINeRF
from minerf.render.conditioning import ConditionOverride, clip_frame_condition, render_clip_frame
from minerf.render.views import crop_box
from minerf_base.atomic import atomic_path


@torch.no_grad()
def evaluate_heldout(
    model: MINeRF, data: MultiClipData, smooth: bool, max_frames: int | None = None, progress: bool = False, renders: dict[tuple[int, int], np.ndarray] | None = None
) -> dict[str, Any]:
    """PSNR / SSIM on the face crop of every clip's held-out frames, per identity and overall.

    ``renders``, when given, is filled with {(clip index, frame): rendered crop (H, W, 3)}.
    """
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    per_identity: dict[str, list[tuple[float, float]]] = {name: [] for name in data.identity_names}
    jobs = []
    for ci, (_, test) in enumerate(data.splits):
        frames = test if max_frames is None else test[:max_frames]
        jobs += [(ci, int(t)) for t in frames]
    for ci, t in tqdm(jobs, desc="eval", unit="frames", disable=not progress):
        clip = data.clips[ci]
        box = crop_box(clip.face_box[t], clip.resolution)
        pred = render_clip_frame(model, data, ci, t, smooth, box)["rgb"].cpu().numpy()
        if renders is not None:
            renders[(ci, t)] = pred
        x0, y0, x1, y1 = box
        target = clip.frame(t)[y0:y1, x0:x1].astype(np.float32) / 255.0
        per_identity[data.identity_names[data.identity_of_clip[ci]]].append((psnr(pred, target), ssim(pred, target)))
    model.train(was_training)
    result: dict[str, Any] = {"identities": {}, "protocol": f"last {data.holdout:.0%} of each clip's frames, face box + 10% margin"}
    for name, values in per_identity.items():
        if values:
            arr = np.array(values)
            result["identities"][name] = {"psnr": float(arr[:, 0].mean()), "ssim": float(arr[:, 1].mean()), "frames": len(values)}
    all_values = np.array([v for values in per_identity.values() for v in values])
    result["psnr"] = float(all_values[:, 0].mean())
    result["ssim"] = float(all_values[:, 1].mean())
    return result


@torch.no_grad()
def write_validation_image(model: MINeRF, data: MultiClipData, smooth: bool, path: Path, max_identities: int = 8) -> None:
    """One row per identity (face crop of its first held-out frame): ground truth | render |
    render with the next identity's code and the same expression (shows disentanglement)."""
    import cv2

    was_training = model.training
    model.eval()
    rows = []
    n_id = len(data.identity_names)
    for ident in range(min(n_id, max_identities)):
        ci = data.clips_of_identity(ident)[0]
        t = int(data.splits[ci][1][0])
        clip = data.clips[ci]
        box = crop_box(clip.face_box[t], clip.resolution)  # face crop only: validation stays cheap
        own = render_clip_frame(model, data, ci, t, smooth, box)["rgb"].cpu().numpy()
        swap_cond = clip_frame_condition(model, data, ci, np.array([t]), smooth, ConditionOverride(identity=(ident + 1) % n_id))[0]
        swap = render_clip_frame(model, data, ci, t, smooth, box, cond=swap_cond)["rgb"].cpu().numpy()
        x0, y0, x1, y1 = box
        gt = clip.frame(t)[y0:y1, x0:x1].astype(np.float32) / 255.0
        rows.append(np.concatenate([gt, own, swap], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    image = (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    model.train(was_training)


def evaluate_run(
    run_dir: str | Path,
    max_frames: int | None = None,
    device: str | None = None,
    progress: bool = False,
    acd_frames: int | None = 4,
    face_models: str | Path | None = None,
) -> dict[str, Any]:
    """``minerf eval``: held-out PSNR / SSIM and identity preservation (ACD) of a run, also
    written to RUN_DIR/eval.json.

    ``acd_frames``: held-out frames per identity for ACD (None: skip ACD); ``face_models``: a
    folder holding dlib's face-recognition weights (default: the installed face-recognition-models).
    """
    from minerf.render.video import RunRenderer
    from minerf_base.atomic import atomic_write_json

    embedder = None
    if acd_frames is not None:
        from minerf.eval.embedding import EmbedderConfig, FaceEmbedder

        embedder = FaceEmbedder(EmbedderConfig(weights_dir=Path(face_models) if face_models is not None else None))
    renderer = RunRenderer.open(run_dir, device)
    model, data, smooth = renderer.run.model, renderer.data, renderer.run.smoothing_active
    renders: dict[tuple[int, int], np.ndarray] = {}
    result = evaluate_heldout(model, data, smooth, max_frames, progress, renders)
    result["iteration"] = renderer.run.iteration
    result["not_measured"] = {"lpips": "LPIPS weights (AlexNet/VGG backbone) are not available offline; not computed"}
    if embedder is not None:
        from minerf.eval.identity import evaluate_acd

        result["acd"] = evaluate_acd(model, data, smooth, embedder, acd_frames, renders, progress)
    else:
        result["not_measured"]["acd"] = "skipped (--no-acd)"
    atomic_write_json(Path(run_dir) / "eval.json", result)
    return result
