"""Personalization (paper Sec. 3.4): adapt a trained MI-NeRF to one (new or known) person.

The interaction module stays frozen. For a new person a fresh identity code and one latent
code per frame of the new clip are learned (at the preset's learning rate) while the fields
are fine-tuned at a small learning rate. The result is a new run folder that knows every old
identity plus the new one, so ``minerf render`` works on it unchanged.

Defaults depend on the field (:func:`personalize_defaults`): the paper's MLP fields keep the
paper's 1e-5 and the run's ray sampling. Hash-grid fields (``fast`` / ``tiny``) are tuned for a
CPU budget of hundreds of steps: at 1e-5 their grids hardly move in that time, and an unseen
face stays a smeared mix of the training people, so they use 1e-3 and send a quarter of the
rays to the lips (docs/minerf-model.md has the measurements).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from minerf.data import MultiClipData
from minerf.eval.heldout import evaluate_heldout
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf.run import latest_checkpoint, load_run, save_run_checkpoint
from minerf.train.trainer import train_step
from minerf_base.clip import load_clip
from minerf_base.errors import InputError


def personalize_defaults(config: MINeRFConfig) -> tuple[float, float]:
    """(field learning rate, mouth ray fraction) used when :func:`personalize` is not told."""
    if config.field.encoding == "hash":
        return 1e-3, max(config.mouth_fraction, 0.25)
    return 1e-5, config.mouth_fraction


def personalize(
    run_dir: str | Path,
    clip_dir: str | Path,
    out_dir: str | Path,
    iterations: int = 1000,
    field_lr: float | None = None,
    code_lr: float | None = None,
    mouth_fraction: float | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    evaluate: bool = True,
    name: str | None = None,
) -> dict[str, Any]:
    """Add the person of ``clip_dir`` to the run in ``run_dir``; write the result to ``out_dir``.

    ``evaluate``: report held-out PSNR / SSIM before and after (renders the held-out frames).
    ``name``: the new identity's name (default: the clip's name, made unique with -2, -3...).
    ``field_lr`` / ``mouth_fraction``: default from :func:`personalize_defaults`."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if latest_checkpoint(out_dir) is not None:
        raise InputError(out_dir, "already holds a run", "choose an empty output folder")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base = load_run(run_dir, dev)
    clip = load_clip(clip_dir, expression_space=base.expression_space["id"])
    new_name = name or clip.name
    if name is None:
        k = 1
        while new_name in base.identities:
            k += 1
            new_name = f"{clip.name}-{k}"
    if new_name in base.identities:
        raise InputError(clip.path, f"identity '{new_name}' is already in the model", "choose another name")
    old_ids, old_latents = len(base.identities), int(base.meta["num_latents"])
    default_lr, default_mouth = personalize_defaults(base.config)
    field_lr = default_lr if field_lr is None else field_lr
    mouth_fraction = default_mouth if mouth_fraction is None else mouth_fraction
    model = MINeRF(base.config, base.expression_space["dim"], old_ids + 1, old_latents + clip.num_frames).to(dev)
    state = base.model.state_dict()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name in ("identity_codes", "latent_codes"):
                value[: state[name].shape[0]] = state[name]
            else:
                value.copy_(state[name])
    for p in model.interaction.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(
        [
            {"params": [model.identity_codes, model.latent_codes], "lr": code_lr or base.config.lr},
            {"params": model.field_parameters(), "lr": field_lr},
        ]
    )
    names = base.identities + [new_name]
    data = MultiClipData([clip], names, [old_ids], float(base.meta.get("holdout", 0.1)), latent_base=old_latents)
    generator = torch.Generator().manual_seed(seed)
    before = evaluate_heldout(model, data, base.smoothing_active) if evaluate else None
    model.train()
    started = time.time()
    for _ in tqdm(range(iterations), desc="personalize", unit="steps", disable=not progress):
        train_step(model, data, optimizer, generator, base.smoothing_active, dev, mouth_fraction)
    meta = {
        **base.meta,
        "identities": names,
        "num_latents": old_latents + clip.num_frames,
        "clips": base.meta["clips"] + [{"name": clip.name, "path": str(clip.path.resolve()), "source_sha256": clip.source_sha256, "num_frames": clip.num_frames, "identity": new_name}],
        "personalized_from": str(Path(run_dir).resolve()),
        "personalization": {"iterations": iterations, "field_lr": field_lr, "mouth_fraction": mouth_fraction, "identity": new_name},
    }
    save_run_checkpoint(out_dir, model, None, base.iteration, meta)
    result = evaluate_heldout(model, data, base.smoothing_active) if evaluate else None
    return {"run_dir": str(out_dir), "identity": new_name, "seconds": round(time.time() - started, 2), "eval_before": before, "eval": result}
