"""A training run folder: checkpoints (safetensors + JSON), resuming, loading for rendering.

Layout::

    RUN_DIR/
      checkpoints/step_00001000/   weights.safetensors (model.* and optim.* tensors) + checkpoint.json
      latest.json                  {"checkpoint": "step_00001000"}, replaced atomically after
                                   a checkpoint is complete, so a kill -9 at any moment leaves
                                   the previous complete checkpoint in charge
      log.jsonl, tb/, val/*.png, eval.json

``checkpoint.json`` carries the model config, the expression space (id + d), the identity
names, the clips (name, path, frames, identity) and the iteration.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from checkpoints import (
    CheckpointError,
    check_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf_base.atomic import atomic_write_json

KIND = "minerf"
VERSION = 1
LATEST = "latest.json"
KEEP = 2


@dataclass
class LoadedRun:
    """A model restored from a run folder, with what it was trained on."""

    path: Path
    model: MINeRF
    config: MINeRFConfig
    meta: dict[str, Any]
    iteration: int
    optimizer_state: dict[str, Any] | None

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
            from minerf_base.errors import InputError

            raise InputError(self.path, f"identity '{name}' is not in this model (it knows {self.identities})", "pass one of the listed names")
        return self.meta["identities"].index(name)


def _optimizer_tensors(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    tensors = {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value)
    return tensors, state["param_groups"]


def _optimizer_state(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": groups}


def save_run_checkpoint(run_dir: Path, model: MINeRF, optimizer: torch.optim.Optimizer | None, iteration: int, meta: dict[str, Any], rng_state: torch.Tensor | None = None) -> Path:
    """Write checkpoint ``step_<iteration>`` and point ``latest.json`` at it; prune older ones."""
    run_dir = Path(run_dir)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    reserved = {"kind", "version", "weights_bytes", "iteration", "config", "optimizer_param_groups"}
    record = {**{k: v for k, v in meta.items() if k not in reserved}, "iteration": iteration, "config": model.cfg.to_dict()}
    if optimizer is not None:
        opt_tensors, groups = _optimizer_tensors(optimizer.state_dict())
        tensors.update(opt_tensors)
        record["optimizer_param_groups"] = groups
    if rng_state is not None:
        tensors["rng.train"] = rng_state
    name = f"step_{iteration:08d}"
    folder = run_dir / "checkpoints" / name
    save_checkpoint(folder, tensors, kind=KIND, version=VERSION, meta=record)
    atomic_write_json(run_dir / LATEST, {"checkpoint": name, "iteration": iteration})
    older = sorted(p for p in (run_dir / "checkpoints").iterdir() if p.is_dir() and p.name.startswith("step_") and p.name < name)
    for stale in older[:-(KEEP - 1)] if KEEP > 1 else older:
        shutil.rmtree(stale, ignore_errors=True)
    return folder


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder ``latest.json`` names, or None when the run has no checkpoint yet."""
    pointer = Path(run_dir) / LATEST
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text())["checkpoint"]
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
        raise CheckpointError(pointer, f"corrupt pointer to the latest checkpoint ({exc})", "delete latest.json and point it at a folder in checkpoints/ by hand") from None
    return Path(run_dir) / "checkpoints" / name


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Restore the model of a run folder (or of a checkpoint folder) and validate everything."""
    run_dir = Path(run_dir)
    folder = run_dir if (run_dir / "checkpoint.json").is_file() else latest_checkpoint(run_dir)
    if folder is None:
        raise CheckpointError(run_dir, "no checkpoint in this run folder (latest.json is missing)", "train first: minerf train CLIP_DIR... -o RUN_DIR")
    tensors, meta = load_checkpoint(folder, kind=KIND, versions=(VERSION,))
    for key in ("config", "expression_space", "identities", "clips", "iteration", "num_latents"):
        if key not in meta:
            raise CheckpointError(folder / "checkpoint.json", f"checkpoint lacks '{key}'", "the checkpoint was not written by minerf train")
    space = meta["expression_space"]
    if not isinstance(space, dict) or "id" not in space or "dim" not in space:
        raise CheckpointError(folder / "checkpoint.json", "expression_space must hold 'id' and 'dim'", "the checkpoint was not written by minerf train")
    try:
        cfg = MINeRFConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(folder / "checkpoint.json", f"invalid model config ({exc})", "the checkpoint was written by another version") from None
    model = MINeRF(cfg, int(space["dim"]), len(meta["identities"]), int(meta["num_latents"]))
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    check_state_dict(folder, model, weights)
    model.load_state_dict(weights)
    model.to(device)
    opt_state = _optimizer_state(tensors, meta["optimizer_param_groups"]) if "optimizer_param_groups" in meta else None
    if opt_state is not None and "rng.train" in tensors:
        opt_state["rng"] = tensors["rng.train"]
    return LoadedRun(path=run_dir, model=model, config=cfg, meta=meta, iteration=int(meta["iteration"]), optimizer_state=opt_state)
