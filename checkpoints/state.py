"""Training state beside a checkpoint: optimizer, random generators and a trainer's own entries.

A :class:`TrainState` is a tree of dicts, lists, tuples, numbers, strings, tensors and numpy
arrays (an optimizer's ``state_dict()``, RNG states, an EMA copy of the weights...). It is
written as two files: ``train_state.safetensors`` holds every tensor (numpy arrays as raw
bytes), ``train_state.json`` holds the rest of the tree with a reference in place of each
tensor. Nothing is pickled.

JSON tags of the tree (every other JSON object is a dict with string keys)::

    {"$tensor": NAME}                       a tensor of the safetensors file
    {"$ndarray": NAME, "dtype", "shape"}    a numpy array (its bytes are tensor NAME)
    {"$tuple": [...]}                       a tuple
    {"$dict": [[KEY, VALUE], ...]}          a dict whose keys are not all strings (or start with $)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from checkpoints.store import CheckpointError
from minerf_base.atomic import atomic_path, atomic_write_json

STATE_JSON = "train_state.json"
STATE_TENSORS = "train_state.safetensors"
STATE_FORMAT = "train-state"
STATE_VERSION = 1
Generator = torch.Generator | np.random.Generator


@dataclass
class TrainState:
    """What a run needs, besides the model weights, to continue exactly where it stopped."""

    step: int
    """Optimisation steps taken."""
    optimizer: dict[str, Any] | None = None
    """``optimizer.state_dict()``; None for a trainer without one."""
    rng: dict[str, Any] = field(default_factory=dict)
    """Random states (:func:`capture_rng`): torch, numpy, python and the run's own generators."""
    extra: dict[str, Any] = field(default_factory=dict)
    """The trainer's own entries (an EMA copy of the weights, a loss history, a fingerprint)."""
    source: Path | None = None
    """The folder it was read from (for error messages); None for a state not read from disk."""


# ----------------------------------------------------------------------------- tree <-> files


def encode_tree(obj: Any, tensors: dict[str, torch.Tensor], name: str = "") -> Any:
    """JSON form of ``obj``; its tensors are added to ``tensors`` under path-like names."""
    if isinstance(obj, torch.Tensor):
        name = _unique(name, tensors)
        tensors[name] = obj.detach().cpu().contiguous().clone()
        return {"$tensor": name}
    if isinstance(obj, np.ndarray):
        name = _unique(name, tensors)
        raw = np.ascontiguousarray(obj)
        tensors[name] = torch.from_numpy(raw.view(np.uint8).reshape(-1).copy())
        return {"$ndarray": name, "dtype": raw.dtype.str, "shape": list(raw.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"$tuple": [encode_tree(v, tensors, _join(name, i)) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_tree(v, tensors, _join(name, i)) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: encode_tree(v, tensors, _join(name, k)) for k, v in obj.items()}
        return {"$dict": [[k, encode_tree(v, tensors, _join(name, k))] for k, v in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a training state (at '{name or '/'}')")


def _join(name: str, key: Any) -> str:
    return f"{name}/{key}" if name else str(key)


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    """``name``, or ``name#2``, ``name#3``... when a key containing '/' already made it."""
    candidate, k = name or "/", 1
    while candidate in taken:
        k += 1
        candidate = f"{name}#{k}"
    return candidate


def decode_tree(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_tree`; raises KeyError for a tensor the file lacks."""
    if isinstance(obj, list):
        return [decode_tree(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "$tensor" in obj:
        return tensors[obj["$tensor"]]
    if "$ndarray" in obj:
        raw = tensors[obj["$ndarray"]].numpy().tobytes()
        return np.frombuffer(raw, dtype=np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
    if "$tuple" in obj:
        return tuple(decode_tree(v, tensors) for v in obj["$tuple"])
    if "$dict" in obj:
        return {k: decode_tree(v, tensors) for k, v in obj["$dict"]}
    return {k: decode_tree(v, tensors) for k, v in obj.items()}


def write_train_state(folder: Path, state: TrainState) -> None:
    """Write ``state`` into ``folder`` (tensors first, the JSON that describes them last)."""
    tensors: dict[str, torch.Tensor] = {}
    tree = encode_tree({"optimizer": state.optimizer, "rng": state.rng, "extra": state.extra}, tensors)
    with atomic_path(folder / STATE_TENSORS) as tmp:
        save_file(tensors, str(tmp))
    size = (folder / STATE_TENSORS).stat().st_size
    atomic_write_json(folder / STATE_JSON, {"format": STATE_FORMAT, "version": STATE_VERSION, "step": state.step, "tensors_bytes": size, "state": tree})


def has_train_state(folder: Path) -> bool:
    """Whether the checkpoint folder ``folder`` carries a training state (exports do not)."""
    return (Path(folder) / STATE_JSON).is_file()


def read_train_state(folder: Path) -> TrainState:
    """Read and validate the training state of checkpoint folder ``folder``."""
    folder = Path(folder)
    meta_path, tensor_path = folder / STATE_JSON, folder / STATE_TENSORS
    fix = "resume from an earlier complete checkpoint (point latest.json at it) or start a new run folder"
    try:
        record = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(meta_path, "the checkpoint has no training state (weights only: an export, a shipped model or an older format)", "resume a run folder written by the train command, or convert an older one: python -m checkpoints.convert RUN") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(meta_path, f"corrupt training state ({exc})", fix) from None
    if not isinstance(record, dict) or record.get("format") != STATE_FORMAT or record.get("version") != STATE_VERSION:
        raise CheckpointError(meta_path, f"not a training state of version {STATE_VERSION} (format {record.get('format') if isinstance(record, dict) else None!r})", fix)
    if not tensor_path.is_file():
        raise CheckpointError(tensor_path, "the training state's tensors are missing", fix)
    if tensor_path.stat().st_size != record.get("tensors_bytes"):
        raise CheckpointError(tensor_path, f"{tensor_path.stat().st_size} bytes, the training state says {record.get('tensors_bytes')}: truncated or replaced", fix)
    try:
        tree = decode_tree(record["state"], load_file(str(tensor_path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(tensor_path, f"cannot read the training state's tensors ({exc})", fix) from None
    except (KeyError, TypeError) as exc:
        raise CheckpointError(meta_path, f"the training state refers to a tensor the file lacks ({exc})", fix) from None
    return TrainState(step=int(record["step"]), optimizer=tree["optimizer"], rng=tree["rng"], extra=tree["extra"], source=folder)


# ----------------------------------------------------------------------------- optimizer, RNG


def restore_optimizer(optimizer: torch.optim.Optimizer, saved: Mapping[str, Any]) -> None:
    """Load ``saved`` into ``optimizer``. A state converted from a layout that kept only the
    per-parameter slots (no ``param_groups``) takes the live optimizer's groups."""
    state = dict(saved)
    if "param_groups" not in state:
        state["param_groups"] = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict(state)


def capture_rng(generators: Mapping[str, Generator]) -> dict[str, Any]:
    """The global torch / CUDA / numpy / python random states and those of ``generators``."""
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "generators": {name: _generator_state(g) for name, g in generators.items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(rng: Mapping[str, Any], generators: Mapping[str, Generator], where: Path | None = None) -> None:
    """Set the random states captured by :func:`capture_rng` (global ones when present)."""
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if "numpy" in rng:
        np.random.set_state(rng["numpy"])
    if "python" in rng:
        random.setstate(rng["python"])
    saved = rng.get("generators", {})
    for name, generator in generators.items():
        if name not in saved:
            raise CheckpointError(where, f"the training state holds no state of the random generator '{name}'", "the run was written by another trainer; start a new run folder")
        if isinstance(generator, torch.Generator):
            generator.set_state(saved[name])
        else:
            generator.bit_generator.state = saved[name]


def _generator_state(generator: Generator) -> Any:
    if isinstance(generator, torch.Generator):
        return generator.get_state()
    return generator.bit_generator.state
