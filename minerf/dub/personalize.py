"""Personalization (paper Sec. 3.4 and 4.5): adapt a trained MI-NeRF to a new person.

The model is extended with one new identity code (initialised at the mean of the known
ones) and one latent code per frame of the new clip (zeros). The multiplicative module stays
frozen; the new codes learn at the run's learning rate and the fields are fine-tuned at a
small one (paper: 1e-5, i.e. 1/50 of the initial rate), for a short budget -- even a 1-3 s
clip works. The result is saved as a run folder of its own (same format as ``minerf train``
writes, the new identity appended), so rendering and later dubs load it like any run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from minerf.clip import PreparedClip
from minerf.errors import InputError
from minerf.model.mi_nerf import MINeRF
from minerf.train.data import MultiClipData
from minerf.train.run import LoadedRun, load_run, save_run_checkpoint

log = logging.getLogger(__name__)

FIELD_LR_FRACTION = 0.02  # paper: 1e-5 against an initial 5e-4


@dataclass
class PersonalizeOptions:
    steps: int = 300
    """Optimiser steps."""
    rays_per_step: int | None = None
    """Rays per step (default: the run's preset)."""
    field_lr_fraction: float = FIELD_LR_FRACTION
    """Field learning rate as a fraction of the run's initial rate (0 freezes the fields)."""
    seed: int = 0
    progress: bool = True


def run_fingerprint(run: LoadedRun) -> str:
    """Short id of the exact checkpoint a run folder holds."""
    record = json.dumps({k: run.meta.get(k) for k in ("iteration", "identities", "num_latents", "weights_bytes", "clips")}, sort_keys=True, default=str)
    return hashlib.sha256(record.encode()).hexdigest()[:12]


def known_identity(run: LoadedRun, clip: PreparedClip) -> tuple[str, int] | None:
    """(identity name, latent offset of that clip) when ``run`` was trained on this very video."""
    sha = (clip.meta.get("source") or {}).get("sha256")
    offset = 0
    for rec in run.meta["clips"]:
        rec_sha = rec.get("source_sha256")
        if rec_sha is None and Path(rec.get("path", "")).joinpath("clip.json").is_file():
            try:
                rec_sha = json.loads(Path(rec["path"], "clip.json").read_text()).get("source", {}).get("sha256")
            except (json.JSONDecodeError, OSError):
                rec_sha = None
        if sha and rec_sha == sha and int(rec["num_frames"]) == clip.num_frames:
            return rec["identity"], offset
        offset += int(rec["num_frames"])
    return None


def personalize(run: LoadedRun, clip: PreparedClip, out_dir: Path, options: PersonalizeOptions = PersonalizeOptions()) -> LoadedRun:
    """Fit a new identity for ``clip`` into a copy of ``run`` saved at ``out_dir``."""
    from tqdm import tqdm

    if clip.expression_space != run.expression_space["id"]:
        raise InputError(clip.path, f"clip uses expression space '{clip.expression_space}', the model '{run.expression_space['id']}'", "prepare the video with the tracker the model was trained with")
    device = run.model.identity_codes.device
    cfg = run.config
    old = run.model
    n_ids, n_lat = old.identity_codes.shape[0], old.latent_codes.shape[0]
    model = MINeRF(cfg, old.expression_dim, n_ids + 1, n_lat + clip.num_frames).to(device)
    state = old.state_dict()
    state["identity_codes"] = torch.cat([old.identity_codes.detach(), old.identity_codes.detach().mean(0, keepdim=True)])
    state["latent_codes"] = torch.cat([old.latent_codes.detach(), torch.zeros(clip.num_frames, cfg.latent_dim, device=device)])
    model.load_state_dict(state)
    for p in model.interaction.parameters():
        p.requires_grad_(False)
    groups = [{"params": [model.identity_codes, model.latent_codes], "lr": cfg.lr}]
    if options.field_lr_fraction > 0:
        groups.append({"params": model.field_parameters(), "lr": cfg.lr * options.field_lr_fraction})
    else:
        for p in model.field_parameters():
            p.requires_grad_(False)
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)
    name = _new_name(run, clip.name)
    data = MultiClipData([clip], [name], [0], holdout=0.0)
    generator = torch.Generator().manual_seed(options.seed)
    rays = options.rays_per_step or cfg.rays_per_step
    smooth = run.smoothing_active
    window = cfg.smoothing_window if smooth else 1
    model.train()
    bar = tqdm(range(options.steps), desc="personalize", unit="steps", disable=not options.progress, dynamic_ncols=True)
    psnr = float("nan")
    for _ in bar:
        batch = data.sample_batch(rays, cfg.frames_per_step, window, cfg.inside_fraction, generator).to(device)
        batch.identity += n_ids  # the new identity and its latent codes sit after the run's own
        batch.latent += n_lat
        cond = model.frame_condition(batch.identity, batch.expression, batch.latent, smooth)
        out = model.render_rays(batch.origins, batch.dirs, batch.near, batch.far, batch.background, cond[batch.slot], perturb=True, generator=generator)
        mse = F.mse_loss(out["rgb"], batch.target)
        loss = mse + (F.mse_loss(out["rgb_coarse"], batch.target) if model.fine is not None else 0.0)
        loss = loss + model.code_regularizer(batch.identity, batch.latent[:, batch.latent.shape[1] // 2])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        psnr = -10.0 * math.log10(max(mse.item(), 1e-10))
        bar.set_postfix(psnr=f"{psnr:.2f}")
    for p in model.parameters():
        p.requires_grad_(True)
    meta = {k: v for k, v in run.meta.items() if k not in ("config", "iteration", "kind", "version", "weights_bytes", "optimizer_param_groups")}
    meta["identities"] = list(run.meta["identities"]) + [name]
    meta["num_latents"] = n_lat + clip.num_frames
    meta["clips"] = list(run.meta["clips"]) + [
        {"name": clip.name, "path": str(clip.path.resolve()), "num_frames": clip.num_frames, "identity": name, "source_sha256": clip.meta.get("source", {}).get("sha256")}
    ]
    meta["personalized"] = {"from": str(run.path), "identity": name, "steps": options.steps, "rays_per_step": rays, "final_psnr": round(psnr, 3)}
    save_run_checkpoint(out_dir, model, None, run.iteration, meta)
    return load_run(out_dir, device)


def _new_name(run: LoadedRun, base: str) -> str:
    name, k = base, 1
    while name in run.meta["identities"]:
        k += 1
        name = f"{base}-{k}"
    return name


def frame_latents(run: LoadedRun, offset: int, frames: np.ndarray) -> torch.Tensor | None:
    """Latent codes (T, 32) of the clip starting at latent ``offset`` for clip ``frames``."""
    if not run.config.use_latent:
        return None
    index = torch.as_tensor(offset + np.asarray(frames), dtype=torch.long, device=run.model.latent_codes.device)
    return run.model.latent_codes.detach()[index]
