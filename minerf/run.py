"""An MI-NeRF run folder (the one run-folder layout of :mod:`checkpoints.run_folder`):
saving checkpoints, loading a model for rendering, the checkpoint to resume from.

``checkpoint.json`` (kind ``minerf``) carries the model config, the expression space
(id + d), the identity names, the clips (name, path, frames, identity, source SHA-256), the
number of latent codes and the iteration. Version 2 (written now): ``weights.safetensors``
is the model's state dict; the optimizer and the ray-sampling generator are in the step
folder's training state. Version 1 (the shipped ``minerf-grid8-fast`` and runs of older
versions) kept ``model.*``, ``optim.*`` and ``rng.train`` tensors in one file: it loads for
rendering and evaluation; to resume one, convert it (``python -m checkpoints.convert RUN``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from checkpoints import (
    CheckpointError,
    LoadedCheckpoint,
    RunFormat,
    TrainState,
    check_state_dict,
    latest_checkpoint,
    read_checkpoint,
    write_step,
)
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf_base.errors import InputError

KIND = "minerf"
VERSION = 2
RUN_FORMAT = RunFormat(kind=KIND, version=VERSION, readable=(1, VERSION), writer="minerf train")
REQUIRED = ("config", "expression_space", "identities", "clips", "iteration", "num_latents")
# written by save_run_checkpoint itself (or by older versions), never copied from a caller's meta
RESERVED = {"kind", "version", "weights_bytes", "iteration", "step", "config", "optimizer_param_groups"}

__all__ = ["KIND", "RUN_FORMAT", "VERSION", "LoadedRun", "checkpoint_record", "latest_checkpoint", "load_run", "run_from_checkpoint", "save_run_checkpoint"]


@dataclass
class LoadedRun:
    """A model restored from a run folder, with what it was trained on."""

    path: Path
    model: MINeRF
    config: MINeRFConfig
    meta: dict[str, Any]
    iteration: int
    checkpoint: Path
    """The checkpoint folder the model came from."""

    @property
    def identities(self) -> list[str]:
        return list(self.meta["identities"])

    @property
    def expression_space(self) -> dict[str, Any]:
        return dict(self.meta["expression_space"])

    @property
    def smoothing_active(self) -> bool:
        start = self.config.smoothing_start
        return start >= 0 and self.iteration >= start

    def identity_index(self, name: str) -> int:
        if name not in self.meta["identities"]:
            raise InputError(self.path, f"identity '{name}' is not in this model (it knows {self.identities})", "pass one of the listed names")
        return self.meta["identities"].index(name)


def checkpoint_record(model: MINeRF, iteration: int, meta: dict[str, Any]) -> dict[str, Any]:
    """``checkpoint.json`` content of ``model`` at ``iteration`` with the run's ``meta``."""
    return {**{k: v for k, v in meta.items() if k not in RESERVED}, "iteration": iteration, "config": model.cfg.to_dict()}


def save_run_checkpoint(run_dir: str | Path, model: MINeRF, iteration: int, meta: dict[str, Any], state: TrainState | None = None) -> Path:
    """Write checkpoint ``step_<iteration>`` of ``run_dir`` (weights only unless ``state``),
    point ``latest.json`` at it and prune older ones; returns the step folder."""
    record = {**checkpoint_record(model, iteration, meta), "step": iteration}
    return write_step(run_dir, RUN_FORMAT, model.state_dict(), record, state)


def _model_weights(ckpt: LoadedCheckpoint) -> dict[str, torch.Tensor]:
    """The model's state dict of a checkpoint (version 1 prefixed it with ``model.``)."""
    if int(ckpt.meta["version"]) == 1:
        return {k[len("model.") :]: v for k, v in ckpt.tensors.items() if k.startswith("model.")}
    return dict(ckpt.tensors)


def run_from_checkpoint(path: str | Path, ckpt: LoadedCheckpoint, device: str | torch.device = "cpu") -> LoadedRun:
    """The model of a loaded checkpoint, after checking that it is a complete MI-NeRF one."""
    meta_path = ckpt.folder / "checkpoint.json"
    meta = ckpt.meta
    for key in REQUIRED:
        if key not in meta:
            raise CheckpointError(meta_path, f"checkpoint lacks '{key}'", "the checkpoint was not written by minerf train")
    space = meta["expression_space"]
    if not isinstance(space, dict) or "id" not in space or "dim" not in space:
        raise CheckpointError(meta_path, "expression_space must hold 'id' and 'dim'", "the checkpoint was not written by minerf train")
    try:
        cfg = MINeRFConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(meta_path, f"invalid model config ({exc})", "the checkpoint was written by another version") from None
    model = MINeRF(cfg, int(space["dim"]), len(meta["identities"]), int(meta["num_latents"]))
    weights = _model_weights(ckpt)
    check_state_dict(ckpt.folder, model, weights)
    model.load_state_dict(weights)
    model.to(device)
    return LoadedRun(path=Path(path), model=model, config=cfg, meta=meta, iteration=int(meta["iteration"]), checkpoint=ckpt.folder)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Restore the model of a run folder (or of a checkpoint folder) and validate everything."""
    return run_from_checkpoint(run_dir, read_checkpoint(run_dir, RUN_FORMAT), device)
