"""Saving and loading of every model and file format of the toolkit, run folders and the
training loop that writes them.

Weights are stored as safetensors (never pickle) next to a JSON file that carries the
format name, its version and the model's configuration. Every write is atomic: a file is
written under a temporary name in the same folder and renamed into place, so a crash
never leaves a half-written file under the final name.

* :mod:`checkpoints.store`: one checkpoint folder (``weights.safetensors`` + ``checkpoint.json``).
* :mod:`checkpoints.state`: the training state beside it (optimizer, RNG, trainer entries).
* :mod:`checkpoints.run_folder`: the resumable run folder (``checkpoints/step_N/`` + ``latest.json``).
* :mod:`checkpoints.loop`: the training loop (steps, schedule, checkpoints, resume, log).
* :mod:`checkpoints.distributed`: several processes as one run (torchrun, DDP, the pieces of a step).
* :mod:`checkpoints.convert`: converting run folders of older layouts.
"""

from checkpoints.cache import cache_dir, find_weights
from checkpoints.run_folder import (
    POINTER,
    LoadedCheckpoint,
    RunFolder,
    RunFormat,
    checkpoint_folder,
    latest_checkpoint,
    read_checkpoint,
    write_step,
)
from checkpoints.state import TrainState, has_train_state, read_train_state
from checkpoints.store import (
    CheckpointError,
    check_state_dict,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)

__all__ = [
    "POINTER",
    "CheckpointError",
    "LoadedCheckpoint",
    "RunFolder",
    "RunFormat",
    "TrainState",
    "cache_dir",
    "check_state_dict",
    "checkpoint_folder",
    "find_weights",
    "has_train_state",
    "latest_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "read_checkpoint_meta",
    "read_train_state",
    "save_checkpoint",
    "write_step",
]
