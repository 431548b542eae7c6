"""Training an own SyncNet expert on prepared clips (``lipsync train``).

Objective: for each lip window, the distance to the in-sync audio window must be the smallest
of its distances to audio windows at other offsets within ``max_offset`` frames (cross-entropy
over negative distances), the decision the scorer makes per window.

A run folder holds ``model/`` (a ``syncnet`` checkpoint: safetensors + checkpoint.json, what
the scorer loads) and ``train_state.pt`` (optimizer, step, random state; read with
``weights_only=True``). Both are rewritten atomically every ``checkpoint_every`` steps;
running the same command again resumes from them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from checkpoints import save_checkpoint
from lipsync.model import SyncNet, SyncNetConfig
from lipsync.weights import CHECKPOINT_KIND, CHECKPOINT_VERSION, load_expert
from minerf_base.atomic import atomic_path
from minerf_base.errors import InputError

log = logging.getLogger(__name__)
STATE_NAME = "train_state.pt"


@dataclass
class TrainConfig:
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

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["model"] = SyncNetConfig(**data.get("model", {}))
        return cls(**data)


def _load_clips(clip_dirs: Sequence[Path], progress: bool):
    from tqdm import tqdm

    from lipsync.dataset import load_training_clip

    return [load_training_clip(p) for p in tqdm(clip_dirs, desc="loading clips", unit="clip", disable=not progress)]


def _check_settings(run: Path, config: TrainConfig) -> None:
    """Refuse to resume ``run`` with other settings than it was started with (``steps`` may change)."""
    meta_path = run / "model" / "checkpoint.json"
    if not (run / STATE_NAME).is_file() or not meta_path.is_file():
        return
    meta = json.loads(meta_path.read_text())
    saved = TrainConfig.from_dict({**meta["config"]["train"], "model": meta["config"]["model"]})
    if asdict(saved) | {"steps": 0} != asdict(config) | {"steps": 0}:
        raise InputError(run, "this run folder was trained with other settings", "resume with the same options (only --steps may change) or pick a new -o folder")


def _resume(run: Path, config: TrainConfig, net: SyncNet, optimizer: torch.optim.Optimizer) -> tuple[int, np.random.Generator, list]:
    """Restore step, random state and loss history from ``run`` (fresh start if absent)."""
    state_path = run / STATE_NAME
    rng = np.random.default_rng(config.seed)
    if not state_path.is_file():
        return 0, rng, []
    net.load_state_dict(load_expert(run / "model").state_dict())
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = json.loads(state["rng"])
    return int(state["step"]), rng, list(state["history"])


def _save(run: Path, config: TrainConfig, net: SyncNet, optimizer, step: int, rng, history: list, clips: list[str]) -> None:
    meta = {
        "config": {"model": asdict(config.model), "train": {k: v for k, v in asdict(config).items() if k != "model"}},
        "step": step,
        "clips": clips,
        "history": history[-20:],
    }
    save_checkpoint(run / "model", net.state_dict(), kind=CHECKPOINT_KIND, version=CHECKPOINT_VERSION, meta=meta)
    state = {"optimizer": optimizer.state_dict(), "step": step, "rng": json.dumps(rng.bit_generator.state), "history": history}
    with atomic_path(run / STATE_NAME) as tmp:
        torch.save(state, tmp)


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


def train_expert(clip_dirs: Sequence[Path], run: Path, config: TrainConfig | None = None, *, device: str | None = None, progress: bool = True) -> dict:
    """Train (or resume) an expert in ``run`` on prepared clips; returns a summary dict."""
    from tqdm import tqdm

    from lipsync.dataset import SyncPairs

    config = config or TrainConfig()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    _check_settings(run, config)
    clips = _load_clips(clip_dirs, progress)
    try:
        pairs = SyncPairs(clips, config.max_offset, config.negatives, config.jitter, config.min_gap)
    except ValueError as exc:
        raise InputError(clip_dirs[0] if len(clip_dirs) == 1 else None, str(exc), "use longer clips or a smaller --max-offset") from None
    torch.manual_seed(config.seed)
    net = SyncNet(config.model).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    run.mkdir(parents=True, exist_ok=True)
    step, rng, history = _resume(run, config, net, optimizer)
    names = [c.name for c in clips]
    net.train()
    started = time.time()
    window_loss, window_acc = [], []
    bar = tqdm(total=config.steps, initial=step, desc="training expert", unit="step", disable=not progress)
    while step < config.steps:
        lips_np, auds_np = pairs.sample(rng, config.batch_size)
        lips = torch.from_numpy(np.ascontiguousarray(lips_np[..., ::-1])).to(device).permute(0, 4, 1, 2, 3).float()
        auds = torch.from_numpy(auds_np).to(device).unsqueeze(2)
        loss, acc = sync_loss(net, lips, auds)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        window_loss.append(float(loss.detach()))
        window_acc.append(float(acc))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(window_loss[-20:]):.3f}", acc=f"{np.mean(window_acc[-20:]):.2f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            history.append({"step": step, "loss": float(np.mean(window_loss)), "accuracy": float(np.mean(window_acc))})
            window_loss, window_acc = [], []
            _save(run, config, net, optimizer, step, rng, history, names)
    bar.close()
    return {
        "run": str(run),
        "steps": step,
        "clips": names,
        "windows": pairs.num_windows,
        "seconds": round(time.time() - started, 1),
        "history": history,
    }
