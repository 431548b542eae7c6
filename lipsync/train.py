"""Training an own SyncNet expert on prepared clips (``lipsync train``).

Objective: for each lip window, the distance to the in-sync audio window must be the smallest
of its distances to audio windows at other offsets within ``max_offset`` frames (cross-entropy
over negative distances), the decision the scorer makes per window.

The run folder has the one layout of every trainer (:mod:`checkpoints.run_folder`): each step
folder holds the expert (a ``syncnet`` checkpoint: safetensors + checkpoint.json, what the
scorer loads) and its training state (Adam moments, the sampling generator, the loss
history). The shared loop (:mod:`checkpoints.loop`) writes one every ``checkpoint_every``
steps; running the same command again resumes from the latest.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from checkpoints import RunFolder, check_state_dict
from checkpoints.distributed import (
    Placement,
    World,
    process_group,
    shard_range,
    sync_context,
    wrap,
)
from checkpoints.loop import LoopConfig, TrainJob, TrainLoop
from lipsync.model import SyncNet, SyncNetConfig
from lipsync.weights import RUN_FORMAT
from minerf_base.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class SyncNetTrainConfig:
    """Expert training settings."""

    model: SyncNetConfig = field(default_factory=lambda: SyncNetConfig(embed_dim=256, width=0.25, lip_downsample=2, lip_top=64, lip_bottom=192, lip_motion=True))
    """Network size; the default is a quarter-width SyncNet that looks at the mouth and chin
    rows of the crop at half resolution (as Wav2Lip's expert sees the lower half of the
    face), as motion (each window minus its mean frame); it trains on a CPU."""
    steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-3
    max_offset: int = 8
    """Negatives: audio windows up to this many frames away from the in-sync one."""
    negatives: int = 6
    """Off-sync audio windows per lip window and step."""
    min_gap: int = 3
    """Negatives are at least this many frames away from the in-sync window (neighbouring
    windows overlap and look alike; with 1 training stalls at chance on small data)."""
    jitter: float = 0.05
    """Random crop shift and zoom, as a fraction of the face size."""
    checkpoint_every: int = 100
    seed: int = 0
    sample_by: str = "window"
    """How lip windows are drawn: ``window`` (every window of every clip equally often, so
    long clips dominate) or ``clip`` (every clip equally often, then a window in it)."""

    @classmethod
    def from_dict(cls, data: dict) -> "SyncNetTrainConfig":
        data = dict(data)
        data["model"] = SyncNetConfig(**data.get("model", {}))
        return cls(**data)

    def record(self) -> dict[str, Any]:
        """The ``config`` entry of the expert's checkpoint.json."""
        return {"model": asdict(self.model), "train": {k: v for k, v in asdict(self).items() if k != "model"}}


def _load_clips(clip_dirs: Sequence[Path], progress: bool):
    from tqdm import tqdm

    from lipsync.dataset import load_training_clip

    return [load_training_clip(p) for p in tqdm(clip_dirs, desc="loading clips", unit="clip", disable=not progress)]


def _check_settings(run: Path, meta: dict[str, Any], config: SyncNetTrainConfig) -> None:
    """Refuse to resume ``run`` with other settings than it was started with (``steps`` may change)."""
    saved = SyncNetTrainConfig.from_dict({**meta["config"]["train"], "model": meta["config"]["model"]})
    if asdict(saved) | {"steps": 0} != asdict(config) | {"steps": 0}:
        raise InputError(run, "this run folder was trained with other settings", "resume with the same options (only --steps may change) or pick a new -o folder")


def sync_loss(net: SyncNet, lips: torch.Tensor, auds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, accuracy) of picking the in-sync audio window (index 0) by distance.

    lips (B, 3, 5, 224, 224) BGR 0..255; auds (B, O, 1, 13, 20), O audio windows per lip window.
    """
    b, o = auds.shape[:2]
    lip = net.forward_lip(lips)  # (B, E)
    aud = net.forward_aud(auds.flatten(0, 1)).view(b, o, -1)  # (B, O, E)
    logits = -torch.nn.functional.pairwise_distance(lip[:, None, :], aud)  # (B, O)
    target = torch.zeros(b, dtype=torch.long, device=logits.device)
    loss = torch.nn.functional.cross_entropy(logits, target)
    return loss, (logits.argmax(dim=1) == target).float().mean()


class _SyncLoss(torch.nn.Module):
    """:func:`sync_loss` of one batch (what DistributedDataParallel wraps)."""

    def __init__(self, net: SyncNet):
        super().__init__()
        self.net = net

    def forward(self, lips: torch.Tensor, auds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return sync_loss(self.net, lips, auds)


class _ExpertJob(TrainJob):
    """One expert for :class:`checkpoints.loop.TrainLoop`: Adam, the window sampler and its
    generator, the loss history (one entry per checkpoint). A step takes this process's
    pieces of the step's batches (:mod:`checkpoints.distributed`): piece 0 (a one-process
    run's batch) from the run's generator, piece k from one seeded by (seed, step, k)."""

    def __init__(self, net: SyncNet, pairs: Any, config: SyncNetTrainConfig, clips: list[str], world: World = World(), accumulate: int = 1):
        self.pieces = shard_range(world, accumulate)
        self.step_module = wrap(_SyncLoss(net), world)
        self.net = net
        self.pairs = pairs
        self.config = config
        self.clips = clips
        self.device = next(net.parameters()).device
        self.optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        self.rng = np.random.default_rng(config.seed)
        self.history: list[dict[str, float]] = []

    def generators(self) -> dict[str, np.random.Generator]:
        return {"sampling": self.rng}

    def train_step(self, step: int) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = acc_sum = 0.0
        for k, piece in enumerate(self.pieces):
            rng = self.rng if piece == 0 else np.random.default_rng([self.config.seed, step, piece])
            lips_np, auds_np = self.pairs.sample(rng, self.config.batch_size)
            lips = torch.from_numpy(np.ascontiguousarray(lips_np[..., ::-1])).to(self.device).permute(0, 4, 1, 2, 3).float()
            auds = torch.from_numpy(auds_np).to(self.device).unsqueeze(2)
            with sync_context(self.step_module, last=k == len(self.pieces) - 1):
                loss, acc = self.step_module(lips, auds)
                (loss / len(self.pieces)).backward()
            loss_sum, acc_sum = loss_sum + float(loss.detach()), acc_sum + float(acc)
        self.optimizer.step()
        return {"loss": loss_sum / len(self.pieces), "accuracy": acc_sum / len(self.pieces)}

    def on_log(self, step: int, record: dict[str, float]) -> None:
        self.history.append({"step": step, "loss": record["loss"], "accuracy": record["accuracy"]})

    def checkpoint(self, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return self.net.state_dict(), {"config": self.config.record(), "clips": self.clips, "history": self.history[-20:]}

    def extra_state(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        self.history = [dict(h) for h in extra["history"]]


def train_expert(clip_dirs: Sequence[Path], run: Path, config: SyncNetTrainConfig | None = None, *, device: str | None = None, progress: bool = True, accumulate: int = 1) -> dict:
    """Train (or resume) an expert in ``run`` on prepared clips; returns a summary dict.
    Started by torchrun, the processes train one expert together (docs/distributed.md);
    ``accumulate``: batches each process draws per step (gradients accumulated)."""
    with process_group(device) as place:
        return _train_expert(clip_dirs, Path(run), config or SyncNetTrainConfig(), place, (progress, accumulate))


def _train_expert(clip_dirs: Sequence[Path], run: Path, config: SyncNetTrainConfig, place: Placement, session: tuple[bool, int]) -> dict:
    from lipsync.dataset import SyncPairs

    (progress, accumulate), device = session, place.device
    folder = RunFolder(Path(run), RUN_FORMAT)
    resume = folder.resume_point()
    if resume is not None:
        _check_settings(folder.path, resume.meta, config)
    clips = _load_clips(clip_dirs, progress)
    try:
        pairs = SyncPairs(clips, config.max_offset, config.negatives, config.jitter, config.min_gap, by=config.sample_by)
    except ValueError as exc:
        raise InputError(clip_dirs[0] if len(clip_dirs) == 1 else None, str(exc), "use longer clips or a smaller --max-offset") from None
    torch.manual_seed(config.seed)
    net = SyncNet(config.model).to(device)
    if resume is not None:
        check_state_dict(resume.folder, net, resume.tensors)
        net.load_state_dict(resume.tensors)
    job = _ExpertJob(net, pairs, config, [c.name for c in clips], place.world, accumulate)
    loop_config = LoopConfig(total_steps=config.steps, checkpoint_every=config.checkpoint_every, log_every=config.checkpoint_every, progress=progress, description="training expert", rank=place.world.rank, world_size=place.world.size)
    net.train()
    with TrainLoop(job, loop_config, folder, None if resume is None else resume.state) as loop:
        result = loop.run()
    return {"run": str(run), "steps": result.end, "clips": job.clips, "windows": pairs.num_windows, "seconds": round(result.seconds, 1), "history": job.history}
