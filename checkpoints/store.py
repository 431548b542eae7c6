"""Checkpoints: a folder with ``weights.safetensors`` and ``checkpoint.json``.

``checkpoint.json`` holds ``{"kind": ..., "version": ..., "config": {...}, ...}``; the kind
names which model the weights belong to (``minerf``, ``audio2exp``, ``syncnet``...). Loading
checks the kind, the version and that every tensor is present with the expected shape, and
raises :class:`CheckpointError` (an :class:`~minerf_base.errors.InputError`) with a fix otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from minerf_base.atomic import atomic_path, atomic_write_json
from minerf_base.errors import InputError

WEIGHTS_NAME = "weights.safetensors"
META_NAME = "checkpoint.json"


class CheckpointError(InputError):
    """A checkpoint that is missing, corrupt or of the wrong kind / version."""


def save_checkpoint(
    directory: str | Path,
    tensors: Mapping[str, torch.Tensor],
    *,
    kind: str,
    version: int,
    meta: Mapping[str, Any],
) -> Path:
    """Write ``tensors`` and ``meta`` to ``directory`` atomically; returns the directory.

    The weights are written first and the JSON last: a checkpoint whose JSON is present is
    complete. The JSON records the safetensors file's size so a truncated copy is detected.
    ``kind``, ``version`` and ``weights_bytes`` of ``meta`` (e.g. copied from a loaded
    checkpoint) are replaced by this write's.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(flat, str(tmp))
    size = (directory / WEIGHTS_NAME).stat().st_size
    record = {**dict(meta), "kind": kind, "version": version, "weights_bytes": size}
    atomic_write_json(directory / META_NAME, record)
    return directory


def read_checkpoint_meta(directory: str | Path, *, kind: str, versions: tuple[int, ...]) -> dict[str, Any]:
    """Read and validate ``checkpoint.json`` of ``directory`` without loading weights."""
    directory = Path(directory)
    meta_path = directory / META_NAME
    if not directory.exists():
        raise CheckpointError(directory, "checkpoint folder does not exist", "pass the folder that training wrote (it holds checkpoint.json)")
    if not meta_path.is_file():
        raise CheckpointError(directory, f"no {META_NAME} in this folder: not a checkpoint, or training never finished writing one", "pass a folder written by a train command")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(meta_path, f"corrupt checkpoint metadata ({exc})", "re-run training or restore the checkpoint from a backup") from None
    if meta.get("kind") != kind:
        raise CheckpointError(directory, f"this is a '{meta.get('kind')}' checkpoint, expected '{kind}'", f"pass a {kind} checkpoint")
    if meta.get("version") not in versions:
        raise CheckpointError(
            directory,
            f"checkpoint format version {meta.get('version')} is not supported (this toolkit reads {list(versions)})",
            "upgrade minerf-dub or re-train with this version",
        )
    return meta


def load_checkpoint(
    directory: str | Path,
    *,
    kind: str,
    versions: tuple[int, ...] = (1,),
    map_location: str | torch.device = "cpu",
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(tensors, meta)`` from ``directory`` after validating the metadata."""
    directory = Path(directory)
    meta = read_checkpoint_meta(directory, kind=kind, versions=versions)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(weights, "weights file is missing", "re-run training or copy the whole checkpoint folder")
    expected = meta.get("weights_bytes")
    if expected is not None and weights.stat().st_size != expected:
        raise CheckpointError(weights, f"weights file has {weights.stat().st_size} bytes, the checkpoint says {expected}: truncated or replaced", "copy the checkpoint again")
    try:
        tensors = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(weights, f"cannot read weights ({exc})", "the file is corrupt; re-run training or copy it again") from None
    return tensors, meta


def check_state_dict(path: Path, module: torch.nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`CheckpointError` unless ``tensors`` match ``module``'s parameters exactly."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise CheckpointError(path, f"weights do not fit the model: missing {missing[:5]}, unexpected {extra[:5]}", "the checkpoint was written by another model configuration")
    for name, value in own.items():
        if tuple(value.shape) != tuple(tensors[name].shape):
            raise CheckpointError(path, f"tensor '{name}' has shape {tuple(tensors[name].shape)}, the model expects {tuple(value.shape)}", "the checkpoint was written by another model configuration")
