"""``audio2exp train``: fit the network on (audio, tracked expression) pairs of prepared clips.

The last ``holdout`` fraction of every clip is never trained on (the paper's test split).
Training is resumable: ``RUN/train_state`` holds the weights and the optimiser moments at the
last save and the run continues from there; ``RUN`` itself always holds a usable model.
Every random draw of step ``k`` comes from a generator seeded with ``(seed, k)``, so a resumed
run takes exactly the steps an uninterrupted one would.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audio2exp.av_offset import OpeningPredictor, estimate_offsets, shift_clip
from audio2exp.checkpoint import load_model, save_model
from audio2exp.data import (
    ClipData,
    apply_readout,
    declared_mouth_components,
    load_training_clips,
    mouth_components_from_data,
    opening_readout,
)
from audio2exp.features import FLOOR_DB, FeatureConfig, make_extractor, silence_features
from audio2exp.model import Audio2ExpConfig, Audio2ExpNet
from checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from minerf_base.errors import InputError

log = logging.getLogger(__name__)

STATE_DIR = "train_state"
STATE_KIND = "audio2exp-train"


@dataclass
class TrainConfig:
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
    cpu_threads: int | None = 1
    """torch CPU threads while training (restored afterwards). The network is small: one
    thread is the fastest on CPU, several only wait on each other. None = leave as is."""
    sync_correct: bool = False
    """Find each clip's audio/video offset first and train on the re-aligned clips
    (:mod:`audio2exp.av_offset`; costs one extra training per clip, at most ``av_offset.GROUPS``)."""


PRESETS: dict[str, tuple[TrainConfig, Audio2ExpConfig]] = {
    "default": (TrainConfig(), Audio2ExpConfig()),
    "tiny": (TrainConfig(steps=60, batch=8, crop=16, save_every=30), Audio2ExpConfig(hidden=16, dilations=(1, 2), smooth_margin=2, attention_dim=8, dropout=0.0, members=1)),
}


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

    def __init__(self, clips: Sequence[ClipData], config: TrainConfig, margin: int, silence: np.ndarray, logmel: bool, model: Audio2ExpNet):
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
        speaker = [(z[c.train] - b.numpy()) / sc.numpy() for z, c, b, sc in zip(self.standard, clips, base, scale.expand(len(clips), -1))]
        spread = np.array([float(np.mean(z**2)) for z in speaker])
        self.clip_weight = 1.0 / spread if config.balance_clips else np.ones(len(clips))
        self.clip_weight = self.clip_weight / np.average(self.clip_weight, weights=self.clip_prob)

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """features (B, L + 2m, F), targets (B, L, d) standardised, weights (B, L) (0 = frame
        not tracked), identity (B,)."""
        cfg, m, crop = self.config, self.margin, self.crop
        rng = np.random.default_rng([cfg.seed, step])
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


def _loss(model: Audio2ExpNet, batch: tuple[torch.Tensor, ...], weights: torch.Tensor, opening: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Training loss; ``weights`` (d,) per component, ``opening`` (d,): standardised
    expression -> mouth opening in units of its spread."""
    feats, target, mask, ids = batch
    # each member learns alone; errors in the speaker's units (offset from its mean / its scale)
    pred = model.member_offsets(feats)  # (K, B, L, d)
    target = (target - model.base(ids)[:, None, :]) / model.scale(ids)[:, None, :]
    err = (_penalty(pred - target, config.huber) * weights).mean(-1)
    loss = (err * mask).sum() / (mask.sum().clamp(min=1e-6) * pred.shape[0])
    if config.opening_weight > 0:
        oerr = _penalty(((pred - target) * model.scale(ids)[:, None, :]) @ opening, config.huber)
        loss = loss + config.opening_weight * (oerr * mask).sum() / (mask.sum().clamp(min=1e-6) * pred.shape[0])
    if config.velocity_weight > 0:
        vmask = mask[:, 1:] * (mask[:, :-1] > 0)
        verr = (_penalty((pred[:, :, 1:] - pred[:, :, :-1]) - (target[:, 1:] - target[:, :-1]), config.huber) * weights).mean(-1)
        loss = loss + config.velocity_weight * (verr * vmask).sum() / (vmask.sum().clamp(min=1e-6) * pred.shape[0])
    return loss


def _opening_direction(clips: Sequence[ClipData], readout: np.ndarray, model: Audio2ExpNet) -> torch.Tensor:
    """(d,): standardised expression -> opening readout, divided by the opening's spread on
    the training frames (each clip centred)."""
    spread = float(np.concatenate([c.opening[c.train] - c.opening[c.train].mean() for c in clips]).std()) + 1e-6
    return torch.from_numpy(readout[:-1]).float() * model.expression_std.cpu() / spread


def _penalty(diff: torch.Tensor, huber: float) -> torch.Tensor:
    if huber <= 0:
        return diff**2
    return 2.0 * torch.nn.functional.huber_loss(diff, torch.zeros_like(diff), reduction="none", delta=huber)


def _lr(config: TrainConfig, step: int) -> float:
    return config.lr * config.final_lr_factor ** (step / max(1, config.steps))


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"optim.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return out


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)


def _fingerprint(clips: Sequence[ClipData], train: TrainConfig, net: Audio2ExpConfig, features: FeatureConfig) -> dict[str, Any]:
    return {
        "clips": [str(c.path.resolve()) for c in clips],
        "train": {k: v for k, v in asdict(train).items() if k not in ("steps", "save_every", "cpu_threads")},
        "network": net.to_dict(),
        "features": features.to_dict(),
    }


def train(
    clip_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    train_config: TrainConfig = TrainConfig(),
    net_config: Audio2ExpConfig = Audio2ExpConfig(),
    feature_config: FeatureConfig = FeatureConfig(),
    mouth_components: Sequence[int] | None = None,
    device: str = "cpu",
    progress: bool = False,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train on ``clip_paths`` into ``out_dir`` (resuming a run found there). Returns a summary.

    ``mouth_components``: which coefficients move the mouth; default: what the clips'
    expression space declares, else those correlated with the tracked mouth opening.
    ``stop_after``: stop (with a save) after this many steps in this call (tests, time slices).
    """
    out_dir = Path(out_dir)
    extractor = make_extractor(feature_config, device)
    clips = load_training_clips(clip_paths, extractor, train_config.holdout, train_config.fold)
    space = clips[0].meta["expression_space"]
    d = clips[0].expression.shape[1]
    if mouth_components is None:
        mouth_components = declared_mouth_components(clips[0].meta)
    if mouth_components is None:
        expr = np.concatenate([c.expression[c.train] - c.expression[c.train].mean(0) for c in clips])
        opening = np.concatenate([c.opening[c.train] - c.opening[c.train].mean() for c in clips])
        mouth_components = mouth_components_from_data(expr, opening)
    mouth_components = sorted(int(k) for k in mouth_components)
    if not mouth_components or min(mouth_components) < 0 or max(mouth_components) >= d:
        raise InputError(None, f"mouth components {mouth_components} do not fit the expression dimension {d}", f"pass indices in 0..{d - 1}")

    threads = torch.get_num_threads()
    if train_config.cpu_threads:
        torch.set_num_threads(train_config.cpu_threads)
    try:
        offsets = None
        if train_config.sync_correct:
            offsets = _saved_offsets(out_dir, clips)
            silence = silence_features(extractor)
            if offsets is None:
                predictor = _opening_predictor(train_config, net_config, extractor, silence, feature_config.kind == "logmel", mouth_components, device)
                offsets = estimate_offsets(clips, predictor)
            clips = [shift_clip(c, o["offset"], silence) for c, o in zip(clips, offsets)]
            log.info("audio/video offsets (frames): %s", {c.name: o["offset"] for c, o in zip(clips, offsets)})
        model, loss_weights, batches, readout = _setup(clips, train_config, net_config, extractor, feature_config.kind == "logmel", mouth_components, device)
        opt = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
        fingerprint = _fingerprint(clips, train_config, model.config, feature_config)
        average = copy.deepcopy(model)
        step = _resume(out_dir / STATE_DIR, model, opt, fingerprint, average)
        step, loss_value = _train_and_save(out_dir, clips, model, average, opt, batches, loss_weights, readout, fingerprint, offsets, train_config, feature_config, mouth_components, step, stop_after, progress)
    finally:
        torch.set_num_threads(threads)
    summary = {"run": str(out_dir), "step": step, "steps": train_config.steps, "loss": loss_value, "clips": len(clips), "frames": int(sum(c.train.size for c in clips)), "mouth_components": mouth_components, "expression_space": space["id"], "dim": d}
    if offsets is not None:
        summary["av_offsets"] = {c.name: o["offset"] for c, o in zip(clips, offsets)}
    return summary


def _saved_offsets(out_dir: Path, clips: Sequence[ClipData]) -> list[dict] | None:
    """The offsets that a run in ``out_dir`` found for these clips, so that resuming it does
    not search again (whether the rest of the run matches is checked when it is resumed)."""
    try:
        _, meta = load_model(out_dir)
    except CheckpointError:
        return None
    training = meta.get("training", {})
    saved = training.get("av_offsets")
    if saved is None or training.get("clips") != [str(c.path.resolve()) for c in clips] or set(saved) != {c.name for c in clips}:
        return None
    return [saved[c.name] for c in clips]


def _setup(clips: Sequence[ClipData], train_config: TrainConfig, net_config: Audio2ExpConfig, extractor: Any, logmel: bool, mouth_components: Sequence[int], device: str) -> tuple[Audio2ExpNet, tuple[torch.Tensor, torch.Tensor], "_Batches", np.ndarray]:
    """A fresh model for ``clips`` and what its loss needs: (model, (component weights,
    opening direction), batches, expression -> opening readout)."""
    model = _init_model(clips, net_config, extractor.dim, train_config.seed).to(device)
    weights = torch.ones(model.config.expression_dim)
    weights[list(mouth_components)] = train_config.mouth_weight
    weights = (weights / weights.mean()).to(device)
    readout = opening_readout(clips)
    opening = _opening_direction(clips, readout, model).to(device)
    batches = _Batches(clips, train_config, model.config.margin, silence_features(extractor), logmel, model)
    return model, (weights, opening), batches, readout


def _opening_predictor(train_config: TrainConfig, net_config: Audio2ExpConfig, extractor: Any, silence: np.ndarray, logmel: bool, mouth_components: Sequence[int], device: str) -> OpeningPredictor:
    """Trains a network in memory on some clips and predicts the mouth opening of others
    from their audio (for :func:`audio2exp.av_offset.estimate_offsets`); ``silence`` pads
    the audio beyond a clip's ends."""

    def predict(train_clips: Sequence[ClipData], other_clips: Sequence[ClipData]) -> list[np.ndarray]:
        model, loss_weights, batches, readout = _setup(train_clips, train_config, net_config, extractor, logmel, mouth_components, device)
        opt = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
        average = copy.deepcopy(model)
        model.train()
        _run_steps(model, average, opt, batches, loss_weights, train_config, 0, train_config.steps, lambda *_: None, False)
        net = average if train_config.ema > 0 else model
        net.eval()
        pad = np.repeat(silence[None], net.config.margin, axis=0)
        out = []
        with torch.no_grad():
            for c in other_clips:
                feats = torch.from_numpy(np.concatenate([pad, c.features, pad]).astype(np.float32))[None].to(device)
                out.append(apply_readout(readout, net(feats)[0].cpu().numpy()))
        return out

    return predict


def _train_and_save(out_dir: Path, clips: Sequence[ClipData], model: Audio2ExpNet, average: Audio2ExpNet, opt: torch.optim.Optimizer, batches: "_Batches", loss_weights: tuple[torch.Tensor, torch.Tensor], readout: np.ndarray, fingerprint: dict[str, Any], offsets: list[dict] | None, train_config: TrainConfig, feature_config: FeatureConfig, mouth_components: Sequence[int], step: int, stop_after: int | None, progress: bool) -> tuple[int, float]:
    """Optimiser steps from ``step`` (saving as it goes) and the final save; returns the step
    reached and the last loss."""
    d = model.config.expression_dim
    space = clips[0].meta["expression_space"]
    meta = {
        "features": feature_config.to_dict(),
        "expression_space": {"id": space["id"], "dim": d, "mouth_components": mouth_components},
        "identities": [c.name for c in clips],
        "opening_readout": readout.tolist(),
        "fps": 25,
    }

    training = {"holdout": train_config.holdout, "clips": fingerprint["clips"], "config": asdict(train_config)}
    if offsets is not None:
        training["av_offsets"] = {c.name: o for c, o in zip(clips, offsets)}

    def save(at: int, last_loss: float) -> None:
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | {f"average.{k}": v for k, v in average.state_dict().items()} | _optimizer_tensors(opt)
        save_checkpoint(out_dir / STATE_DIR, tensors, kind=STATE_KIND, version=1, meta={"step": at, "fingerprint": fingerprint})
        save_model(out_dir, average if train_config.ema > 0 else model, meta | {"training": {"step": at, "steps": train_config.steps, "loss": last_loss} | training})

    end = train_config.steps if stop_after is None else min(train_config.steps, step + stop_after)
    model.train()
    loss_value = _run_steps(model, average, opt, batches, loss_weights, train_config, step, end, save, progress)
    if not (out_dir / "checkpoint.json").is_file():
        save(end, loss_value)
    model.eval()
    return end, loss_value


def _run_steps(model: Audio2ExpNet, average: Audio2ExpNet, opt: torch.optim.Optimizer, batches: "_Batches", weights: tuple[torch.Tensor, torch.Tensor], train_config: TrainConfig, step: int, end: int, save: Any, progress: bool) -> float:
    """Optimiser steps ``step..end-1``; saves every ``save_every`` steps and at ``end``. Returns the last loss."""
    from tqdm import tqdm

    device = weights[0].device
    loss_value = float("nan")
    with tqdm(total=train_config.steps, initial=step, unit="steps", desc="audio2exp train", disable=not progress, dynamic_ncols=True) as bar:
        while step < end:
            batch = tuple(t.to(device) for t in batches.draw(step))
            for group in opt.param_groups:
                group["lr"] = _lr(train_config, step)
            with torch.random.fork_rng(devices=[]):  # dropout draws from (seed, step) too
                torch.manual_seed(train_config.seed * 1_000_003 + step)
                loss = _loss(model, batch, *weights, train_config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for avg, new in zip(average.parameters(), model.parameters()):
                    avg.lerp_(new, 1.0 - train_config.ema)
            step += 1
            loss_value = float(loss.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
            if step % train_config.save_every == 0 or step == end:
                save(step, loss_value)
    return loss_value


def _resume(state_dir: Path, model: Audio2ExpNet, opt: torch.optim.Optimizer, fingerprint: dict[str, Any], average: Audio2ExpNet) -> int:
    """Load the saved state into ``model``, ``opt`` and ``average``; return its step (0 when none)."""
    if not (state_dir / "checkpoint.json").is_file():
        return 0
    tensors, meta = load_checkpoint(state_dir, kind=STATE_KIND, versions=(1,))
    if json.loads(json.dumps(meta.get("fingerprint"))) != json.loads(json.dumps(fingerprint)):
        raise CheckpointError(state_dir.parent, "this run folder holds a run with other clips or settings", "pass a new -o folder, or the same clips and settings to resume")
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    average.load_state_dict({k[len("average.") :]: v for k, v in tensors.items() if k.startswith("average.")})
    _load_optimizer(opt, tensors)
    log.info("resuming %s at step %d", state_dir.parent, meta["step"])
    return int(meta["step"])
