"""Training one MI-NeRF on many clips: the job that the training loop
(:mod:`checkpoints.loop`) runs, resume checks and the final evaluation.

``train(...)`` is the library function behind ``minerf train``. A run folder that already
holds a checkpoint is resumed from it (model, Adam state, iteration; the rays of a step are
drawn from generators seeded by (seed, step, piece)), so a run killed at any moment
continues as if it had not been interrupted. Under torchrun every process trains the same
model in DistributedDataParallel on its own pieces of each step's rays (docs/distributed.md).
:class:`NeRFJob` (model, optimizer, one step) is also what personalization and the
benchmarks train with.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from checkpoints import LoadedCheckpoint, RunFolder
from checkpoints.distributed import (
    World,
    process_group,
    shard_generator,
    shard_range,
    sync_context,
    wrap,
)
from checkpoints.loop import LoopConfig, TrainJob, TrainLoop, exponential_decay
from minerf.data import MultiClipData, RayBatch, RayShares
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
    accumulate: int = 1
    """Ray batches each process renders per step (gradients accumulated): one process with
    ``accumulate`` N takes the same steps as N processes (docs/distributed.md)."""
    bf16: bool | None = None
    """bfloat16 autocast (CUDA only); None: the preset's ``mixed_precision``."""
    compile: bool = False
    """Run the step through ``torch.compile`` (CUDA only)."""


def learning_rate(cfg: MINeRFConfig, step: int, total: int) -> float:
    """Exponential decay from ``cfg.lr`` at step 0 to ``cfg.lr_final`` at ``total``."""
    return exponential_decay(cfg.lr, cfg.lr_final / cfg.lr, step, total)


class NeRFLoss(nn.Module):
    """The loss of one piece of a step's ray batch: photometric loss of the fine and coarse
    renders + code regularisers (Eq. 5). Its forward is the whole differentiable part of a
    step, so DistributedDataParallel wrapped around it sees every parameter a step uses."""

    def __init__(self, model: MINeRF):
        super().__init__()
        self.model = model

    def forward(self, batch: RayBatch, smooth: bool, generator: torch.Generator) -> tuple[Float[Tensor, ""], Float[Tensor, ""]]:
        """(loss, MSE of the fine render) of ``batch``; ``generator`` jitters the samples."""
        model = self.model
        with model.autocast(batch.target.device):
            cond = model.frame_condition(batch.identity, batch.expression, batch.latent, smooth)
            out = model.render_rays(Rays(batch.origins, batch.dirs, batch.near, batch.far, batch.background, cond[batch.slot]), perturb=True, generator=generator)
        mse = F.mse_loss(out["rgb"].float(), batch.target)
        loss = mse + (F.mse_loss(out["rgb_coarse"].float(), batch.target) if model.fine is not None else 0.0)
        loss = loss + model.code_regularizer(batch.identity, batch.latent[:, batch.latent.shape[1] // 2]) + model.render_regularizer(out)
        return loss, mse.detach()


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
    """How :class:`NeRFJob` steps: learning-rate schedule, code smoothing, lip rays, pieces."""

    total: int | None
    """Length of the exponential learning-rate schedule; None keeps the optimizer's rates."""
    smooth: bool | None = None
    """Latent-code smoothing; None: on from the config's ``smoothing_start`` step."""
    mouth_fraction: float | None = None
    """Share of rays on the lips (None: the config's)."""
    lower_fraction: float = 0.0
    """Share of rays on the lower face a dub re-renders (personalization for a dub)."""
    accumulate: int = 1
    """Ray batches (of the config's ``rays_per_step``) each process renders per step, their
    gradients accumulated: a step's global batch is ``processes * accumulate`` of them."""


class NeRFJob(TrainJob):
    """One MI-NeRF on a clip set for :class:`checkpoints.loop.TrainLoop`: the model, its
    optimizer (Adam at the config's rate unless given) and one step over the pieces of the
    step's global batch that this process (``world``) draws (:mod:`checkpoints.distributed`).
    ``meta`` goes into every checkpoint; ``validation`` = (every, folder) writes validation
    images (rank 0)."""

    def __init__(self, model: MINeRF, data: MultiClipData, rule: StepRule, optimizer: torch.optim.Optimizer | None = None, seed: int = 0, world: World = World()):
        self.model = model
        self.data = data
        self.rule = rule
        self.seed = seed
        self.world = world
        self.device = next(model.parameters()).device
        data.balanced = model.cfg.balance_identities
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=model.cfg.lr, betas=(0.9, 0.999), eps=1e-8)
        self.step_module: nn.Module = wrap(NeRFLoss(model), world)
        self.meta: dict[str, Any] = {}
        self.validation: tuple[int, Path] | None = None
        self.extra_loss: Callable[[], Tensor] | None = None
        """A loss on the parameters alone, added once per step (single process: DDP does not
        see it), e.g. personalization's plane smoothness."""

    def compile(self) -> None:
        """Run the step through ``torch.compile`` (CUDA)."""
        self.step_module = torch.compile(self.step_module)

    def smooth(self, step: int) -> bool:
        if self.rule.smooth is not None:
            return self.rule.smooth
        return 0 <= self.model.cfg.smoothing_start <= step

    def learning_rate(self, step: int) -> float | None:
        return None if self.rule.total is None else learning_rate(self.model.cfg, step, self.rule.total)

    def global_batch(self) -> dict[str, int]:
        """How many processes, pieces and rays make one step."""
        pieces = self.world.size * self.rule.accumulate
        return {"processes": self.world.size, "accumulate": self.rule.accumulate, "rays": pieces * self.model.cfg.rays_per_step}

    def train_step(self, step: int) -> dict[str, float]:
        cfg, smooth = self.model.cfg, self.smooth(step)
        mouth = cfg.mouth_fraction if self.rule.mouth_fraction is None else self.rule.mouth_fraction
        shares = RayShares(cfg.inside_fraction, cfg.head_margin, mouth, self.rule.lower_fraction)
        pieces = shard_range(self.world, self.rule.accumulate)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = mse_sum = 0.0
        for k, piece in enumerate(pieces):
            generator = shard_generator(self.seed, step, piece)
            batch = self.data.sample_batch(cfg.rays_per_step, cfg.frames_per_step, cfg.smoothing_window if smooth else 1, shares, generator).to(self.device)
            with sync_context(self.step_module, last=k == len(pieces) - 1):
                loss, mse = self.step_module(batch, smooth, generator)
                (loss / len(pieces)).backward()
            loss_sum, mse_sum = loss_sum + float(loss.item()), mse_sum + float(mse.item())
        if self.extra_loss is not None:
            extra = self.extra_loss()
            extra.backward()
            loss_sum += float(extra.item()) * len(pieces)
        self.optimizer.step()
        if occupancy_refresh.due(self.model, step + 1):  # the same grid on every process (DDP broadcasts rank 0's buffers)
            occupancy_refresh.refresh_occupancy(self.model, self.data, shard_generator(self.seed, step, occupancy_refresh.REFRESH_PIECE))
        return {"loss": loss_sum / len(pieces), "psnr": -10.0 * math.log10(max(mse_sum / len(pieces), 1e-10))}

    def checkpoint(self, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return self.model.state_dict(), checkpoint_record(self.model, step, self.meta)

    def extra_state(self) -> dict[str, Any]:
        return {"global_batch": self.global_batch()}

    def load_extra_state(self, extra: Mapping[str, Any]) -> None:
        before, now = extra.get("global_batch"), self.global_batch()
        if before is not None and int(before["rays"]) != now["rays"]:
            log.warning("the run's steps took %d rays (%d processes x %d pieces), they now take %d (%d x %d): the rest of the run differs from an uninterrupted one; see docs/distributed.md", int(before["rays"]), int(before["processes"]), int(before["accumulate"]), now["rays"], now["processes"], now["accumulate"])

    def after_step(self, step: int) -> None:
        if self.validation is not None and self.world.writes and step % self.validation[0] == 0:
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


def check_run_options(opts: TrainOptions, device: torch.device) -> None:
    """--bf16 and --compile are for CUDA devices (asked on another one, an error says so); --accumulate is at least 1."""
    asked = [name for name, on in (("--bf16", opts.bf16), ("--compile", opts.compile)) if on]
    if asked and device.type != "cuda":
        raise InputError(None, f"{' and '.join(asked)} run on CUDA only; this run trains on {device}", f"drop {' '.join(asked)} (CPU training runs in float32, uncompiled) or train on a GPU (--device cuda)")
    if opts.accumulate < 1:
        raise InputError(None, f"accumulate {opts.accumulate} is not a positive number of ray batches", "pass --accumulate 1 or more")


def train(clip_dirs: Sequence[str | Path], run_dir: str | Path, opts: TrainOptions | None = None) -> dict[str, Any]:
    """Train (or resume) one model on all ``clip_dirs``; returns a summary (and eval results).
    Started by torchrun, every process runs this and they train one model together
    (:mod:`checkpoints.distributed`); the summary of rank 0 carries the evaluation."""
    opts = opts or TrainOptions()
    with process_group(opts.device) as place:
        check_run_options(opts, place.device)
        return _train(clip_dirs, RunFolder(Path(run_dir), RUN_FORMAT), opts, place.world, place.device)


def _train(clip_dirs: Sequence[str | Path], run: RunFolder, opts: TrainOptions, world: World, device: torch.device) -> dict[str, Any]:
    data = MultiClipData.from_dirs([Path(p) for p in clip_dirs], opts.same_identity)
    resume = run.resume_point()
    model, meta = _fresh_start(data, opts, device) if resume is None else _resumed_start(run.path, resume, data, opts, device)
    if opts.bf16 is not None:
        model.cfg.mixed_precision = opts.bf16
    total = int(meta["total_iterations"])
    model.train()
    job = NeRFJob(model, data, StepRule(total=total, accumulate=opts.accumulate), seed=opts.seed, world=world)
    job.meta = meta
    if opts.compile:
        job.compile()
    if opts.validate_every:
        job.validation = (opts.validate_every, run.path / "val")
    config = LoopConfig(total_steps=total, checkpoint_every=opts.checkpoint_every, log_every=opts.log_every, stop_at=opts.stop_at, progress=opts.progress, rank=world.rank, world_size=world.size)
    with TrainLoop(job, config, run, None if resume is None else resume.state) as loop:
        result = loop.run()
        summary: dict[str, Any] = {"run_dir": str(run.path), "iterations": result.end, "total_iterations": total, "resumed_from": result.start, "seconds": result.seconds, "device": str(device), "rank": world.rank, "global_batch": job.global_batch()}
        if opts.evaluate and result.end == total and world.writes:
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
