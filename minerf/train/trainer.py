"""Training one MI-NeRF on many clips: the loop, logging, checkpoints, resume, final evaluation.

``train(...)`` is the library function behind ``minerf train``. A run folder that already
holds a checkpoint is resumed from it (model, Adam state, iteration and the sampling RNG),
so a run killed at any moment continues as if it had not been interrupted.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from minerf.data import MultiClipData
from minerf.eval.heldout import evaluate_heldout, write_validation_image
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf.model.presets import get_preset
from minerf.model.rays import Rays
from minerf.run import latest_checkpoint, load_run, save_run_checkpoint
from minerf_base.atomic import atomic_write_json
from minerf_base.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """How to run training (the model itself is configured by the preset)."""

    preset: str = "fast"
    """Preset name (``paper``, ``fast``, ``tiny``)."""
    ablation: str = "M"
    """Interaction variant (a key of ``minerf.model.presets.ABLATIONS``)."""
    iterations: int | None = None
    """Total steps (default: the preset's)."""
    same_identity: Sequence[Sequence[str]] = ()
    """Groups of clip names that show the same person."""
    seed: int = 0
    """Seed of initialisation and ray sampling."""
    device: str | None = None
    """``cpu``, ``cuda`` ... (default: cuda when available)."""
    stop_at: int | None = None
    """End this session after this step (checkpointed) while keeping the learning-rate schedule
    of ``iterations``; a later call continues the run."""
    checkpoint_every: int = 500
    """Steps between checkpoints (one is always written at the end)."""
    validate_every: int = 1000
    """Steps between validation images (0: never)."""
    log_every: int = 25
    """Steps between log records."""
    eval_max_frames: int | None = None
    """Held-out frames per clip in the final evaluation (None: all)."""
    evaluate: bool = True
    """Write eval.json at the end."""
    progress: bool = True
    """Show a progress bar."""
    config_overrides: dict[str, Any] = field(default_factory=dict)
    """Top-level MINeRFConfig fields to change (e.g. ``{"rays_per_step": 256}``)."""


def learning_rate(cfg: MINeRFConfig, step: int, total: int) -> float:
    """Exponential decay from ``cfg.lr`` at step 0 to ``cfg.lr_final`` at ``total``."""
    return cfg.lr * (cfg.lr_final / cfg.lr) ** min(1.0, step / max(1, total))


def train_step(model: MINeRF, data: MultiClipData, optimizer: torch.optim.Optimizer, generator: torch.Generator, smooth: bool, device: torch.device, mouth_fraction: float | None = None) -> tuple[float, float]:
    """One gradient step on a random ray batch: photometric loss of the fine and coarse
    renders + code regularisers (Eq. 5). Returns (loss, PSNR of the fine render).
    ``mouth_fraction``: share of rays on the lips (default: the model config's)."""
    cfg = model.cfg
    mouth = cfg.mouth_fraction if mouth_fraction is None else mouth_fraction
    batch = data.sample_batch(cfg.rays_per_step, cfg.frames_per_step, cfg.smoothing_window if smooth else 1, cfg.inside_fraction, generator, cfg.head_margin, mouth).to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.mixed_precision):
        cond = model.frame_condition(batch.identity, batch.expression, batch.latent, smooth)
        out = model.render_rays(Rays(batch.origins, batch.dirs, batch.near, batch.far, batch.background, cond[batch.slot]), perturb=True, generator=generator)
    mse = F.mse_loss(out["rgb"], batch.target)
    loss = mse + (F.mse_loss(out["rgb_coarse"], batch.target) if model.fine is not None else 0.0)
    loss = loss + model.code_regularizer(batch.identity, batch.latent[:, batch.latent.shape[1] // 2])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.item()), -10.0 * math.log10(max(mse.item(), 1e-10))


class _Logger:
    """JSONL log (always) and TensorBoard (when the ``tensorboard`` package is installed)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "log.jsonl"
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"))
        except ImportError:
            log.info("tensorboard is not installed; logging to %s only", self.path)

    def write(self, step: int, values: dict[str, float]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"step": step, "time": round(time.time(), 3), **values}) + "\n")
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _run_meta(data: MultiClipData, preset: str, ablation: str, total: int) -> dict[str, Any]:
    return {
        "preset": preset,
        "ablation": ablation,
        "total_iterations": total,
        "expression_space": {"id": data.expression_space, "dim": data.expression_dim},
        "identities": data.identity_names,
        "num_latents": data.num_latents,
        "holdout": data.holdout,
        "clips": [
            {
                "name": c.name,
                "path": str(c.path.resolve()),
                "source_sha256": c.source_sha256,
                "num_frames": c.num_frames,
                "identity": data.identity_names[data.identity_of_clip[ci]],
            }
            for ci, c in enumerate(data.clips)
        ],
    }


def _check_resume(run_dir: Path, meta: dict[str, Any], data: MultiClipData, opts: TrainOptions) -> None:
    old = [(c["name"], c["num_frames"]) for c in meta["clips"]]
    new = [(c.name, c.num_frames) for c in data.clips]
    if old != new:
        raise InputError(run_dir, f"this run was trained on clips {old}, not {new}", "pass the same clips to resume, or choose a new run folder with -o")
    if meta["preset"] != opts.preset or meta.get("ablation", "M") != opts.ablation:
        raise InputError(run_dir, f"this run uses preset '{meta['preset']}' / '{meta.get('ablation')}', not '{opts.preset}' / '{opts.ablation}'", "resume with the run's preset, or choose a new run folder")
    if meta["expression_space"]["id"] != data.expression_space:
        raise InputError(run_dir, "the clips' expression space differs from the run's", "use clips prepared with the same tracker")


def train(clip_dirs: Sequence[str | Path], run_dir: str | Path, opts: TrainOptions | None = None) -> dict[str, Any]:
    """Train (or resume) one model on all ``clip_dirs``; returns a summary (and eval results)."""
    from tqdm import tqdm

    opts = opts or TrainOptions()
    run_dir = Path(run_dir)
    device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = MultiClipData.from_dirs([Path(p) for p in clip_dirs], opts.same_identity)
    generator = torch.Generator().manual_seed(opts.seed)

    if latest_checkpoint(run_dir) is not None:
        run = load_run(run_dir, device)
        _check_resume(run_dir, run.meta, data, opts)
        model, cfg, start = run.model, run.config, run.iteration
        total = opts.iterations or int(run.meta["total_iterations"])
        meta = {**run.meta, "total_iterations": total}
        if run.optimizer_state is not None and "rng" in run.optimizer_state:
            generator.set_state(run.optimizer_state.pop("rng"))
        log.info("resuming %s at step %d of %d", run_dir, start, total)
    else:
        try:
            cfg = get_preset(opts.preset, opts.ablation)
        except KeyError as exc:
            raise InputError(None, str(exc.args[0]), "see minerf train --help") from None
        for key, value in opts.config_overrides.items():
            if not hasattr(cfg, key):
                raise InputError(None, f"unknown config field '{key}'", "see MINeRFConfig")
            setattr(cfg, key, value)
        total = opts.iterations or cfg.iterations
        torch.manual_seed(opts.seed)
        model = MINeRF(cfg, data.expression_dim, len(data.identity_names), data.num_latents).to(device)
        start = 0
        meta = _run_meta(data, opts.preset, opts.ablation, total)
        run = None
    run_dir.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    if run is not None and run.optimizer_state is not None:
        optimizer.load_state_dict(run.optimizer_state)
    logger = _Logger(run_dir)
    model.train()
    end = total if opts.stop_at is None else max(start, min(total, opts.stop_at))
    bar = tqdm(total=total, initial=start, desc="train", unit="steps", disable=not opts.progress, dynamic_ncols=True)
    started, step = time.time(), start
    window_loss = window_psnr = 0.0
    window_n = 0
    try:
        for step in range(start, end):
            smooth = 0 <= cfg.smoothing_start <= step
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step, total)
            loss, psnr = train_step(model, data, optimizer, generator, smooth, device)
            window_loss += loss
            window_psnr += psnr
            window_n += 1
            done = step + 1
            bar.update(1)
            if done % opts.log_every == 0 or done == total:
                bar.set_postfix(loss=f"{window_loss / window_n:.4f}", psnr=f"{window_psnr / window_n:.2f}")
                logger.write(done, {"loss": window_loss / window_n, "psnr": window_psnr / window_n, "lr": optimizer.param_groups[0]["lr"]})
                window_loss = window_psnr = 0.0
                window_n = 0
            if opts.validate_every and done % opts.validate_every == 0:
                write_validation_image(model, data, smooth, run_dir / "val" / f"step_{done:08d}.png")
            if done % opts.checkpoint_every == 0 and done != end:
                save_run_checkpoint(run_dir, model, optimizer, done, meta, generator.get_state())
    finally:
        bar.close()
    if start < end or latest_checkpoint(run_dir) is None:
        save_run_checkpoint(run_dir, model, optimizer, end, meta, generator.get_state())
    summary: dict[str, Any] = {"run_dir": str(run_dir), "iterations": end, "total_iterations": total, "resumed_from": start, "seconds": round(time.time() - started, 2), "device": str(device)}
    if opts.evaluate and end == total:
        smooth = 0 <= cfg.smoothing_start <= total
        result = evaluate_heldout(model, data, smooth, opts.eval_max_frames, opts.progress)
        result["iteration"] = total
        atomic_write_json(run_dir / "eval.json", result)
        logger.write(total, {"eval/psnr": result["psnr"], "eval/ssim": result["ssim"]})
        summary["eval"] = result
    logger.close()
    return summary
