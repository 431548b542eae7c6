"""``audio2exp train``: fit the network on (audio, tracked expression) pairs of prepared clips.

The last ``holdout`` fraction of every clip is never trained on (the paper's test split).
Training writes the one run-folder layout (:mod:`checkpoints.run_folder`) through the shared
training loop (:mod:`checkpoints.loop`): every step folder holds the usable model (the
weights' moving average) and the training state (raw and averaged weights, AdamW moments,
the run's fingerprint); the same command on the same folder resumes from the latest one.
Every random draw of step ``k`` comes from a generator seeded with ``(seed, k)``, so a
resumed run takes exactly the steps an uninterrupted one would.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audio2exp.av_offset import OpeningPredictor, estimate_offsets, shift_clip
from audio2exp.checkpoint import RUN_FORMAT
from audio2exp.data import (
    ClipData,
    apply_readout,
    declared_mouth_components,
    load_training_clips,
    mouth_components_from_data,
    opening_readout,
)
from audio2exp.directions import SpeechDirections, direction_spread, directions_for
from audio2exp.features import FLOOR_DB, FeatureConfig, make_extractor, silence_features
from audio2exp.model import Audio2ExpConfig, Audio2ExpNet
from checkpoints import CheckpointError, LoadedCheckpoint, RunFolder
from checkpoints.distributed import (
    Placement,
    World,
    process_group,
    shard_range,
    sync_context,
    wrap,
)
from checkpoints.loop import LoopConfig, TrainJob, TrainLoop, exponential_decay
from minerf_base.errors import InputError
from minerf_base.timebase import FPS

log = logging.getLogger(__name__)


@dataclass
class Audio2ExpTrainConfig:
    """How to train; recorded in the checkpoint."""

    steps: int = 600
    """Optimiser steps."""
    batch: int = 16
    """Crops per step."""
    crop: int = 24
    """Frames per crop (shorter clips give shorter crops)."""
    lr: float = 2e-3
    """Adam learning rate at the start; decays exponentially to lr * final_lr_factor."""
    final_lr_factor: float = 0.05
    """The learning rate at the last step, relative to ``lr``."""
    weight_decay: float = 1e-3
    """AdamW weight decay."""
    mouth_weight: float = 1.0
    """Loss weight of the mouth components relative to the others."""
    huber: float = 0.0
    """> 0: Huber loss with this threshold (standardised units) instead of squared error, so
    badly tracked frames pull less."""
    opening_weight: float = 0.0
    """Weight of the squared error of the mouth opening implied by the expressions (the
    opening readout, in units of the training frames' opening spread). Off by default: on
    validation frames of the real clips 1.0 lowered the mouth error (4.59 vs 4.81) but the
    mouth followed non-English speech less well (ROC AUC speech vs pauses 0.84 vs 0.90)."""
    direction_weight: float = 0.0
    """Weight of the squared error of the speech-driven directions (:mod:`audio2exp.directions`:
    opening, lip width, jaw), each in units of its spread within the training clips. With it,
    ``mouth_weight`` < 1 lets the other mouth directions follow the speaker's mean."""
    spread_weight: float = 0.0
    """Weight of a variance-matching term: per direction, the squared difference of the
    predicted and the tracked standard deviation within each crop (relative to the
    direction's spread), so that the loss does not shrink the motion towards the mean."""
    velocity_weight: float = 1.0
    """Weight of the frame-to-frame change loss (keeps predictions as smooth as real motion)."""
    balance_clips: bool = True
    """Weight each clip's frames by 1 / its expression variance, so clips whose tracking is
    noisy (high variance) do not dominate what the network learns."""
    silence_prob: float = 0.1
    """Share of crops replaced by silence whose target is the rest expression."""
    gain_jitter_db: float = 6.0
    """Random loudness change of a crop (log-mel features only)."""
    ema: float = 0.99
    """Decay of the exponential moving average of the weights; the saved model is the average
    (steadier than the last step's weights). 0 = save the raw weights."""
    holdout: float = 0.1
    """Last fraction of every clip that is never trained on (the test frames)."""
    fold: tuple[int, int] | None = None
    """Cross-validation instead: ``(k, K)`` holds out the k-th of K blocks of every clip
    (and a few frames on each side of it); see :func:`audio2exp.data.split_frames`."""
    save_every: int = 200
    """Steps between checkpoints (the run resumes from the last one)."""
    seed: int = 0
    """Seeds the initialisation and every random draw of training."""
    sync_correct: bool = False
    """Find each clip's audio/video offset first and train on the re-aligned clips
    (:mod:`audio2exp.av_offset`; costs one extra training per clip, at most ``av_offset.GROUPS``)."""


AUDIO2EXP_PRESETS: dict[str, tuple[Audio2ExpTrainConfig, Audio2ExpConfig]] = {
    "default": (Audio2ExpTrainConfig(), Audio2ExpConfig()),
    "speech": (
        Audio2ExpTrainConfig(mouth_weight=0.3, direction_weight=3.0, spread_weight=3.0),
        Audio2ExpConfig(members=3),  # 3 members: opening r 0.42 vs 0.40 on unseen speakers (docs/audio2exp.md)
    ),
    "tiny": (Audio2ExpTrainConfig(steps=60, batch=8, crop=16, save_every=30), Audio2ExpConfig(hidden=16, dilations=(1, 2), smooth_margin=2, attention_dim=8, dropout=0.0, members=1)),
}
"""(training, network) configurations by name (``audio2exp train --preset``)."""

# settings that may change when a run is resumed (not part of its fingerprint)
_RESUMABLE_CHANGES = ("steps", "save_every")


@dataclass
class TrainSession:
    """How one call of :func:`train` runs; not recorded, free to change between calls."""

    device: str = "cpu"
    """torch device."""
    progress: bool = False
    """Show a progress bar."""
    stop_at: int | None = None
    """End this call after this step (with a checkpoint); the next call continues the run."""
    accumulate: int = 1
    """Batches each process draws per step (gradients accumulated): one process with
    ``accumulate`` N takes the steps of N processes under torchrun (docs/distributed.md)."""


@dataclass
class _Recipe:
    """What every training of one :func:`train` call shares besides its clips."""

    train: Audio2ExpTrainConfig
    net: Audio2ExpConfig
    features: FeatureConfig
    extractor: Any
    mouth_components: list[int] = field(default_factory=list)
    device: str = "cpu"

    @property
    def logmel(self) -> bool:
        return self.features.kind == "logmel"


def _rest_offset(clips: Sequence[ClipData], model: Audio2ExpNet) -> torch.Tensor:
    """Mean (over clips) of pause-frame expression minus clip mean, in each clip's
    standardised speaker units (d,)."""
    diffs = []
    for i, c in enumerate(clips):
        idx = c.train[c.valid[c.train]]
        pauses = idx[c.pauses()[idx]]
        if pauses.size < 3:  # no pause in this clip: its most closed frames stand in
            pauses = idx[c.opening[idx] <= np.percentile(c.opening[idx], 20)]
        diff = torch.from_numpy(c.expression[pauses].mean(0) - c.expression[idx].mean(0))
        diffs.append(diff / model.expression_std / model.scale(torch.tensor([i]))[0])
    return torch.stack(diffs).mean(dim=0)


def _init_model(clips: Sequence[ClipData], net: Audio2ExpConfig, feature_dim: int, seed: int) -> Audio2ExpNet:
    d = clips[0].expression.shape[1]
    config = replace(net, feature_dim=feature_dim, expression_dim=d, num_identities=len(clips))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Audio2ExpNet(config)
    feats = np.concatenate([c.features[c.train] for c in clips])
    expr = np.concatenate([c.expression[c.train[c.valid[c.train]]] for c in clips])
    with torch.no_grad():
        model.feature_mean.copy_(torch.from_numpy(feats.mean(0)))
        model.feature_std.copy_(torch.from_numpy(feats.std(0) + 1e-3))
        model.expression_mean.copy_(torch.from_numpy(expr.mean(0)))
        model.expression_std.copy_(torch.from_numpy(expr.std(0) + 1e-6))
        for i, c in enumerate(clips):
            idx = c.train[c.valid[c.train]]
            model.identity_mean[i] = model.to_standard(torch.from_numpy(c.expression[idx].mean(0)))
            if model.config.speaker_scale:
                model.identity_scale[i] = model.spread_of(torch.from_numpy(c.expression[idx]))
        model.rest_offset.copy_(_rest_offset(clips, model))
    return model


class _Batches:
    """Random training crops. Step ``k``'s crops depend only on ``(seed, k)``."""

    def __init__(self, clips: Sequence[ClipData], config: Audio2ExpTrainConfig, margin: int, silence: np.ndarray, logmel: bool, model: Audio2ExpNet):
        self.clips = clips
        self.config = config
        self.margin = margin
        self.logmel = logmel
        model_mean = model.expression_mean.cpu().numpy()
        model_std = model.expression_std.cpu().numpy()
        self.standard = [(c.expression - model_mean) / model_std for c in clips]  # (N, d) each
        ids = torch.arange(len(clips))
        base, scale = model.base(ids), model.scale(ids)
        self.rest = (base + scale * model.rest_offset).cpu().numpy()  # (clips, d) silence targets
        pad = np.repeat(silence[None], margin, axis=0)
        self.padded = [np.concatenate([pad, c.features, pad]) for c in clips]
        self.starts = []  # per clip: crop starts s where train[s : s + crop] are consecutive frames
        lengths = [int(c.train.size) for c in clips]
        self.crop = max(2, min(config.crop, min(_longest_run(c.train) for c in clips)))
        for c in clips:
            t = c.train
            self.starts.append(np.nonzero(t[self.crop - 1 :] - t[: t.size - self.crop + 1] == self.crop - 1)[0])
        weights = np.array(lengths, dtype=np.float64)
        self.clip_prob = weights / weights.sum()
        self.silence = silence
        # the loss is in speaker units (offset / scale), so this is ~1 with speaker_scale
        offsets, scales = base.detach().cpu().numpy(), scale.expand(len(clips), -1).detach().cpu().numpy()  # the model may be on a GPU
        speaker = [(z[c.train] - b) / sc for z, c, b, sc in zip(self.standard, clips, offsets, scales)]
        spread = np.array([float(np.mean(z**2)) for z in speaker])
        self.clip_weight = 1.0 / spread if config.balance_clips else np.ones(len(clips))
        self.clip_weight = self.clip_weight / np.average(self.clip_weight, weights=self.clip_prob)

    def draw(self, step: int, piece: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """features (B, L + 2m, F), targets (B, L, d) standardised, weights (B, L) (0 = frame
        not tracked), identity (B,). ``piece``: which batch of the step (one per process and
        accumulation; piece 0 is the batch of a one-process run)."""
        cfg, m, crop = self.config, self.margin, self.crop
        rng = np.random.default_rng([cfg.seed, step] if piece == 0 else [cfg.seed, step, piece])
        feats, targets, masks, ids = [], [], [], []
        for _ in range(cfg.batch):
            i = int(rng.choice(len(self.clips), p=self.clip_prob))
            clip = self.clips[i]
            s = int(rng.choice(self.starts[i]))
            frames = clip.train[s : s + crop]
            f = self.padded[i][frames[0] : frames[0] + crop + 2 * m].copy()  # padded row j = frame j - m
            z = self.standard[i][frames]
            mask = clip.valid[frames].astype(np.float32) * np.float32(self.clip_weight[i])
            if rng.random() < cfg.silence_prob:
                f[:] = self.silence
                z = self.rest[i][None].repeat(crop, 0)
                mask = np.full(crop, self.clip_weight[i], np.float32)
            elif self.logmel and cfg.gain_jitter_db > 0:
                f = np.maximum(f + rng.uniform(-cfg.gain_jitter_db, cfg.gain_jitter_db), FLOOR_DB)
            feats.append(f)
            targets.append(z)
            masks.append(mask)
            ids.append(i)
        return (
            torch.from_numpy(np.stack(feats).astype(np.float32)),
            torch.from_numpy(np.stack(targets).astype(np.float32)),
            torch.from_numpy(np.stack(masks)),
            torch.tensor(ids),
        )


def _longest_run(frames: np.ndarray) -> int:
    """Length of the longest run of consecutive indices in sorted ``frames``."""
    breaks = np.nonzero(np.diff(frames) != 1)[0]
    edges = np.concatenate([[-1], breaks, [frames.size - 1]])
    return int(np.diff(edges).max()) if frames.size else 0


def _loss(model: Audio2ExpNet, batch: tuple[torch.Tensor, ...], weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor], config: Audio2ExpTrainConfig) -> torch.Tensor:
    """Training loss; ``weights``: per component (d,), standardised expression -> mouth
    opening in units of its spread (d,), -> speech-driven directions in units of their
    spreads (k, d)."""
    weights, opening, direction_map = weights
    feats, target, mask, ids = batch
    # each member learns alone; errors in the speaker's units (offset from its mean / its scale)
    pred = model.member_offsets(feats)  # (K, B, L, d)
    target = (target - model.base(ids)[:, None, :]) / model.scale(ids)[:, None, :]
    err = (_penalty(pred - target, config.huber) * weights).mean(-1)
    loss = (err * mask).sum() / (mask.sum().clamp(min=1e-6) * pred.shape[0])
    if config.opening_weight > 0:
        oerr = _penalty(((pred - target) * model.scale(ids)[:, None, :]) @ opening, config.huber)
        loss = loss + config.opening_weight * (oerr * mask).sum() / (mask.sum().clamp(min=1e-6) * pred.shape[0])
    if config.direction_weight > 0 or config.spread_weight > 0:
        loss = loss + _direction_loss(pred * model.scale(ids)[:, None, :], target * model.scale(ids)[:, None, :], mask, direction_map, config)
    if config.velocity_weight > 0:
        vmask = mask[:, 1:] * (mask[:, :-1] > 0)
        verr = (_penalty((pred[:, :, 1:] - pred[:, :, :-1]) - (target[:, 1:] - target[:, :-1]), config.huber) * weights).mean(-1)
        loss = loss + config.velocity_weight * (verr * vmask).sum() / (vmask.sum().clamp(min=1e-6) * pred.shape[0])
    return loss


def _direction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, direction_map: torch.Tensor, config: Audio2ExpTrainConfig) -> torch.Tensor:
    """Squared error of the speech-driven directions plus the variance-matching term.
    ``pred (K, B, L, d)``, ``target (B, L, d)`` standardised offsets, ``mask (B, L)``."""
    p, t = pred @ direction_map.T, target @ direction_map.T  # (K, B, L, k), (B, L, k)
    w = mask[..., None]
    total = w.sum().clamp(min=1e-6) * pred.shape[0]
    loss = config.direction_weight * (_penalty(p - t, config.huber) * w).sum() / (total * p.shape[-1])
    if config.spread_weight > 0:
        n = mask.sum(1, keepdim=True).clamp(min=1.0)[..., None]  # (B, 1, 1) frames per crop

        def crop_std(v: torch.Tensor) -> torch.Tensor:
            mean = (v * w).sum(-2, keepdim=True) / n
            return (((v - mean) ** 2 * w).sum(-2) / n[..., 0] + 1e-6).sqrt()  # (..., B, k)

        diff = crop_std(p) - crop_std(t)
        loss = loss + config.spread_weight * (diff**2).mean()
    return loss


def _opening_direction(clips: Sequence[ClipData], readout: np.ndarray, model: Audio2ExpNet) -> torch.Tensor:
    """(d,): standardised expression -> opening readout, divided by the opening's spread on
    the training frames (each clip centred)."""
    spread = float(np.concatenate([c.opening[c.train] - c.opening[c.train].mean() for c in clips]).std()) + 1e-6
    return torch.from_numpy(readout[:-1]).float() * model.expression_std.cpu() / spread


def _direction_map(clips: Sequence[ClipData], directions: SpeechDirections, model: Audio2ExpNet) -> torch.Tensor:
    """(k, d): standardised expression offset -> each direction in units of its spread on the
    training frames (each clip centred)."""
    spread = direction_spread(directions, [c.expression[c.train[c.valid[c.train]]] for c in clips])
    return torch.from_numpy(directions.weights / spread[:, None]).float() * model.expression_std.cpu()[None, :]


def _penalty(diff: torch.Tensor, huber: float) -> torch.Tensor:
    if huber <= 0:
        return diff**2
    return 2.0 * torch.nn.functional.huber_loss(diff, torch.zeros_like(diff), reduction="none", delta=huber)


def _fingerprint(clips: Sequence[ClipData], recipe: _Recipe, net: Audio2ExpConfig) -> dict[str, Any]:
    """What a resumed run must share with the run in the folder (JSON-normalised)."""
    record = {
        "clips": [str(c.path.resolve()) for c in clips],
        "train": {k: v for k, v in asdict(recipe.train).items() if k not in _RESUMABLE_CHANGES},
        "network": net.to_dict(),
        "features": recipe.features.to_dict(),
    }
    return json.loads(json.dumps(record))


class _Audio2ExpLoss(torch.nn.Module):
    """The loss of one batch (what DistributedDataParallel wraps in a multi-process run)."""

    def __init__(self, model: Audio2ExpNet, weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor], config: Audio2ExpTrainConfig):
        super().__init__()
        self.model = model
        self.weights = weights
        self.config = config

    def forward(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return _loss(self.model, batch, self.weights, self.config)


class _Audio2ExpJob(TrainJob):
    """One network on ``clips`` for :class:`checkpoints.loop.TrainLoop`: AdamW, the moving
    average of the weights, the crops and the loss; a checkpoint holds the average. Each
    step takes this process's pieces of the step's batches (:mod:`checkpoints.distributed`)."""

    def __init__(self, clips: Sequence[ClipData], recipe: _Recipe, world: World = World(), accumulate: int = 1):
        self.world = world
        self.pieces = shard_range(world, accumulate)
        self.config = recipe.train
        self.model = _init_model(clips, recipe.net, recipe.extractor.dim, recipe.train.seed).to(recipe.device)
        weights = torch.ones(self.model.config.expression_dim)
        weights[list(recipe.mouth_components)] = recipe.train.mouth_weight
        self.readout = opening_readout(clips)
        opening = _opening_direction(clips, self.readout, self.model).to(recipe.device)
        self.directions = directions_for(clips[0].meta["expression_space"]["id"], self.model.config.expression_dim, self.readout)
        direction_map = _direction_map(clips, self.directions, self.model).to(recipe.device)
        self.loss_weights = ((weights / weights.mean()).to(recipe.device), opening, direction_map)
        self.batches = _Batches(clips, recipe.train, self.model.config.margin, silence_features(recipe.extractor), recipe.logmel, self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=recipe.train.lr, weight_decay=recipe.train.weight_decay)
        self.average = copy.deepcopy(self.model)
        self.step_module = wrap(_Audio2ExpLoss(self.model, self.loss_weights, recipe.train), world)
        self.fingerprint = _fingerprint(clips, recipe, self.model.config)
        self.record: dict[str, Any] = {}
        """``checkpoint.json`` content besides the network config and the step's training record."""
        self.last_loss = float("nan")

    @property
    def net(self) -> Audio2ExpNet:
        """The network that is saved and predicts: the average (or the raw weights, ema 0)."""
        return self.average if self.config.ema > 0 else self.model

    def learning_rate(self, step: int) -> float:
        return exponential_decay(self.config.lr, self.config.final_lr_factor, step, self.config.steps)

    def train_step(self, step: int) -> dict[str, float]:
        cfg, total = self.config, 0.0
        self.optimizer.zero_grad(set_to_none=True)
        for k, piece in enumerate(self.pieces):
            batch = tuple(t.to(self.loss_weights[0].device) for t in self.batches.draw(step, piece))
            with torch.random.fork_rng(devices=[]), sync_context(self.step_module, last=k == len(self.pieces) - 1):
                torch.manual_seed(cfg.seed * 1_000_003 + step if piece == 0 else int(np.random.SeedSequence([cfg.seed, step, piece]).generate_state(1)[0]))  # dropout draws from (seed, step, piece) too
                loss = self.step_module(batch)
                (loss / len(self.pieces)).backward()
            total += float(loss.detach())
        self.optimizer.step()
        with torch.no_grad():
            for avg, new in zip(self.average.parameters(), self.model.parameters()):
                avg.lerp_(new, 1.0 - cfg.ema)
        self.last_loss = total / len(self.pieces)
        return {"loss": self.last_loss}

    def checkpoint(self, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        training = {**self.record.get("training", {}), "step": step, "steps": self.config.steps, "loss": self.last_loss}
        return self.net.state_dict(), {"config": self.net.config.to_dict(), **self.record, "training": training}

    def extra_state(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "model": self.model.state_dict(), "average": self.average.state_dict()}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        self.model.load_state_dict(extra["model"])
        self.average.load_state_dict(extra["average"])


def mouth_components_of(clips: Sequence[ClipData], given: Sequence[int] | None) -> list[int]:
    """``given``, else what the clips' expression space declares, else the components that
    correlate with the tracked mouth opening; checked against the expression dimension."""
    d = clips[0].expression.shape[1]
    components = given if given is not None else declared_mouth_components(clips[0].meta)
    if components is None:
        expr = np.concatenate([c.expression[c.train] - c.expression[c.train].mean(0) for c in clips])
        opening = np.concatenate([c.opening[c.train] - c.opening[c.train].mean() for c in clips])
        components = mouth_components_from_data(expr, opening)
    components = sorted(int(k) for k in components)
    if not components or min(components) < 0 or max(components) >= d:
        raise InputError(None, f"mouth components {components} do not fit the expression dimension {d}", f"pass indices in 0..{d - 1}")
    return components


def train(
    clip_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    train_config: Audio2ExpTrainConfig = Audio2ExpTrainConfig(),
    net_config: Audio2ExpConfig = Audio2ExpConfig(),
    feature_config: FeatureConfig = FeatureConfig(),
    mouth_components: Sequence[int] | None = None,
    session: TrainSession = TrainSession(),
) -> dict[str, Any]:
    """Train on ``clip_paths`` into the run folder ``out_dir`` (resuming a run found there).
    Returns a summary.

    ``mouth_components``: which coefficients move the mouth; default: what the clips'
    expression space declares, else those correlated with the tracked mouth opening.
    Started by torchrun, the processes train one network together (docs/distributed.md).
    """
    with process_group(session.device) as place:
        return _train(clip_paths, RunFolder(Path(out_dir), RUN_FORMAT), (train_config, net_config, feature_config), mouth_components, session, place)


def _train(clip_paths: Sequence[str | Path], run: RunFolder, configs: tuple[Audio2ExpTrainConfig, Audio2ExpConfig, FeatureConfig], mouth_components: Sequence[int] | None, session: TrainSession, place: Placement) -> dict[str, Any]:
    train_config, net_config, feature_config = configs
    resume = run.resume_point()
    extractor = make_extractor(feature_config, str(place.device))
    clips = load_training_clips(clip_paths, extractor, train_config.holdout, train_config.fold)
    recipe = _Recipe(train_config, net_config, feature_config, extractor, mouth_components_of(clips, mouth_components), str(place.device))
    offsets = None
    if train_config.sync_correct:
        clips, offsets = _sync_corrected(clips, recipe, resume)
    job = _Audio2ExpJob(clips, recipe, place.world, session.accumulate)
    job.record = _checkpoint_record(clips, recipe, job, offsets)
    if resume is not None:
        if resume.state.extra.get("fingerprint") != job.fingerprint:
            raise CheckpointError(run.path, "this run folder holds a run with other clips or settings", "pass a new -o folder, or the same clips and settings to resume")
        log.info("resuming %s at step %d", run.path, resume.state.step)
    config = LoopConfig(total_steps=train_config.steps, checkpoint_every=train_config.save_every, stop_at=session.stop_at, progress=session.progress, description="audio2exp train", rank=place.world.rank, world_size=place.world.size)
    job.model.train()
    with TrainLoop(job, config, run, None if resume is None else resume.state) as loop:
        result = loop.run()
    job.model.eval()
    space = clips[0].meta["expression_space"]
    summary = {"run": str(run.path), "step": result.end, "steps": train_config.steps, "loss": job.last_loss, "clips": len(clips), "frames": int(sum(c.train.size for c in clips)), "mouth_components": recipe.mouth_components, "expression_space": space["id"], "dim": job.model.config.expression_dim}
    if offsets is not None:
        summary["av_offsets"] = {c.name: o["offset"] for c, o in zip(clips, offsets)}
    return summary


def _checkpoint_record(clips: Sequence[ClipData], recipe: _Recipe, job: _Audio2ExpJob, offsets: list[dict] | None) -> dict[str, Any]:
    """What every checkpoint of the run records besides the network config and the step."""
    space = clips[0].meta["expression_space"]
    training: dict[str, Any] = {"holdout": recipe.train.holdout, "clips": job.fingerprint["clips"], "config": asdict(recipe.train)}
    if offsets is not None:
        training["av_offsets"] = {c.name: o for c, o in zip(clips, offsets)}
    return {
        "features": recipe.features.to_dict(),
        "expression_space": {"id": space["id"], "dim": job.model.config.expression_dim, "mouth_components": recipe.mouth_components},
        "identities": [c.name for c in clips],
        "opening_readout": job.readout.tolist(),
        "speech_directions": job.directions.to_json(),
        "fps": FPS,
        "training": training,
    }


def _sync_corrected(clips: list[ClipData], recipe: _Recipe, resume: LoadedCheckpoint | None) -> tuple[list[ClipData], list[dict]]:
    """The clips re-aligned by their audio/video offsets (found now, or the ones the run
    being resumed found) and the offsets."""
    silence = silence_features(recipe.extractor)
    offsets = _saved_offsets(resume, clips)
    if offsets is None:
        offsets = estimate_offsets(clips, _opening_predictor(recipe, silence))
    shifted = [shift_clip(c, o["offset"], silence) for c, o in zip(clips, offsets)]
    log.info("audio/video offsets (frames): %s", {c.name: o["offset"] for c, o in zip(shifted, offsets)})
    return shifted, offsets


def _saved_offsets(resume: LoadedCheckpoint | None, clips: Sequence[ClipData]) -> list[dict] | None:
    """The offsets that the run being resumed found for these clips, so that resuming it does
    not search again (whether the rest of the run matches is checked when it is resumed)."""
    if resume is None:
        return None
    training = resume.meta.get("training", {})
    saved = training.get("av_offsets")
    if saved is None or training.get("clips") != [str(c.path.resolve()) for c in clips] or set(saved) != {c.name for c in clips}:
        return None
    return [saved[c.name] for c in clips]


def _opening_predictor(recipe: _Recipe, silence: np.ndarray) -> OpeningPredictor:
    """Trains a network in memory on some clips and predicts the mouth opening of others
    from their audio (for :func:`audio2exp.av_offset.estimate_offsets`); ``silence`` pads
    the audio beyond a clip's ends."""

    def predict(train_clips: Sequence[ClipData], other_clips: Sequence[ClipData]) -> list[np.ndarray]:
        job = _Audio2ExpJob(train_clips, recipe)
        job.model.train()
        TrainLoop(job, LoopConfig(total_steps=recipe.train.steps)).run()
        net = job.net
        net.eval()
        pad = np.repeat(silence[None], net.config.margin, axis=0)
        out = []
        with torch.no_grad():
            for c in other_clips:
                feats = torch.from_numpy(np.concatenate([pad, c.features, pad]).astype(np.float32))[None].to(recipe.device)
                out.append(apply_readout(job.readout, net(feats)[0].cpu().numpy()))
        return out

    return predict
