"""Training one MI-NeRF on many clips: the job that the training loop
(:mod:`checkpoints.loop`) runs, resume checks and the final evaluation.

``train(...)`` is the library function behind ``minerf train``. A run folder that already
holds a checkpoint is resumed from it (model, Adam state, iteration and the sampling RNG),
so a run killed at any moment continues as if it had not been interrupted.
:class:`NeRFJob` (model, optimizer, sampling generator, one step) is also what
personalization and the benchmarks train with.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from checkpoints import LoadedCheckpoint, RunFolder
from checkpoints.loop import LoopConfig, TrainJob, TrainLoop, exponential_decay
from minerf.data import MultiClipData
from minerf.eval.heldout import evaluate_heldout, write_validation_image
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf.model.presets import get_preset
from minerf.model.rays import Rays
from minerf.train import occupancy_refresh
from minerf.run import RUN_FORMAT, checkpoint_record, run_from_checkpoint
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
    return exponential_decay(cfg.lr, cfg.lr_final / cfg.lr, step, total)


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
    loss = loss + model.code_regularizer(batch.identity, batch.latent[:, batch.latent.shape[1] // 2]) + model.render_regularizer(out)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.item()), -10.0 * math.log10(max(mse.item(), 1e-10))


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


def fresh_model(data: MultiClipData, cfg: MINeRFConfig, seed: int, device: torch.device) -> MINeRF:
    """A newly initialised model for ``data`` (initialisation seeded by ``seed``)."""
    torch.manual_seed(seed)
    return MINeRF(cfg, data.expression_dim, len(data.identity_names), data.num_latents).to(device)


@dataclass
class StepRule:
    """How :class:`NeRFJob` steps: learning-rate schedule, code smoothing, lip rays."""

    total: int | None
    """Length of the exponential learning-rate schedule; None keeps the optimizer's rates."""
    smooth: bool | None = None
    """Latent-code smoothing; None: on from the config's ``smoothing_start`` step."""
    mouth_fraction: float | None = None
    """Share of rays on the lips (None: the config's)."""


class NeRFJob(TrainJob):
    """One MI-NeRF on a clip set for :class:`checkpoints.loop.TrainLoop`: the model, its
    optimizer (Adam at the config's rate unless given), the ray-sampling generator and one
    step of :func:`train_step`. ``meta`` goes into every checkpoint; ``validation`` =
    (every, folder) writes validation images."""

    def __init__(self, model: MINeRF, data: MultiClipData, rule: StepRule, optimizer: torch.optim.Optimizer | None = None, seed: int = 0):
        self.model = model
        self.data = data
        self.rule = rule
        self.device = next(model.parameters()).device
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=model.cfg.lr, betas=(0.9, 0.999), eps=1e-8)
        self.generator = torch.Generator().manual_seed(seed)
        self.meta: dict[str, Any] = {}
        self.validation: tuple[int, Path] | None = None

    def smooth(self, step: int) -> bool:
        if self.rule.smooth is not None:
            return self.rule.smooth
        return 0 <= self.model.cfg.smoothing_start <= step

    def learning_rate(self, step: int) -> float | None:
        return None if self.rule.total is None else learning_rate(self.model.cfg, step, self.rule.total)

    def generators(self) -> dict[str, torch.Generator]:
        return {"sampling": self.generator}

    def train_step(self, step: int) -> dict[str, float]:
        loss, psnr = train_step(self.model, self.data, self.optimizer, self.generator, self.smooth(step), self.device, self.rule.mouth_fraction)
        if occupancy_refresh.due(self.model, step + 1):
            occupancy_refresh.refresh_occupancy(self.model, self.data, self.generator)
        return {"loss": loss, "psnr": psnr}

    def checkpoint(self, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return self.model.state_dict(), checkpoint_record(self.model, step, self.meta)

    def after_step(self, step: int) -> None:
        if self.validation is not None and step % self.validation[0] == 0:
            write_validation_image(self.model, self.data, self.smooth(step - 1), self.validation[1] / f"step_{step:08d}.png")


def _fresh_start(data: MultiClipData, opts: TrainOptions, device: torch.device) -> tuple[MINeRF, dict[str, Any]]:
    """A new model of the options' preset and the run's metadata."""
    try:
        cfg = get_preset(opts.preset, opts.ablation)
    except KeyError as exc:
        raise InputError(None, str(exc.args[0]), "see minerf train --help") from None
    for key, value in opts.config_overrides.items():
        if not hasattr(cfg, key):
            raise InputError(None, f"unknown config field '{key}'", "see MINeRFConfig")
        setattr(cfg, key, value)
    total = opts.iterations or cfg.iterations
    return fresh_model(data, cfg, opts.seed, device), _run_meta(data, opts.preset, opts.ablation, total)


def _resumed_start(run_dir: Path, resume: LoadedCheckpoint, data: MultiClipData, opts: TrainOptions, device: torch.device) -> tuple[MINeRF, dict[str, Any]]:
    """The model of the checkpoint to resume from and the run's metadata (after checking
    that the run matches the clips and options)."""
    run = run_from_checkpoint(run_dir, resume, device)
    _check_resume(run_dir, run.meta, data, opts)
    total = opts.iterations or int(run.meta["total_iterations"])
    log.info("resuming %s at step %d of %d", run_dir, run.iteration, total)
    return run.model, {**run.meta, "total_iterations": total}


def train(clip_dirs: Sequence[str | Path], run_dir: str | Path, opts: TrainOptions | None = None) -> dict[str, Any]:
    """Train (or resume) one model on all ``clip_dirs``; returns a summary (and eval results)."""
    opts = opts or TrainOptions()
    run = RunFolder(Path(run_dir), RUN_FORMAT)
    device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = MultiClipData.from_dirs([Path(p) for p in clip_dirs], opts.same_identity)
    resume = run.resume_point()
    model, meta = _fresh_start(data, opts, device) if resume is None else _resumed_start(run.path, resume, data, opts, device)
    total = int(meta["total_iterations"])
    job = NeRFJob(model, data, StepRule(total=total), seed=opts.seed)
    job.meta = meta
    if opts.validate_every:
        job.validation = (opts.validate_every, run.path / "val")
    config = LoopConfig(total_steps=total, checkpoint_every=opts.checkpoint_every, log_every=opts.log_every, stop_at=opts.stop_at, progress=opts.progress)
    model.train()
    with TrainLoop(job, config, run, None if resume is None else resume.state) as loop:
        result = loop.run()
        summary: dict[str, Any] = {"run_dir": str(run.path), "iterations": result.end, "total_iterations": total, "resumed_from": result.start, "seconds": result.seconds, "device": str(device)}
        if opts.evaluate and result.end == total:
            summary["eval"] = _final_evaluation(job, loop, total, opts)
    return summary


def _final_evaluation(job: NeRFJob, loop: TrainLoop, total: int, opts: TrainOptions) -> dict[str, Any]:
    """Held-out PSNR / SSIM of the finished run, written to ``eval.json`` and the log."""
    smooth = 0 <= job.model.cfg.smoothing_start <= total
    result = evaluate_heldout(job.model, job.data, smooth, opts.eval_max_frames, opts.progress)
    result["iteration"] = total
    atomic_write_json(Path(loop.run_folder.path) / "eval.json", result)
    loop.log(total, {"eval/psnr": result["psnr"], "eval/ssim": result["ssim"]})
    return result
