"""Saving and loading of every model and file format of the toolkit.

Weights are stored as safetensors (never pickle) next to a JSON file that carries the
format name, its version and the model's configuration. Every write is atomic: a file is
written under a temporary name in the same folder and renamed into place, so a crash
never leaves a half-written file under the final name.
"""

from checkpoints.cache import cache_dir, find_weights
from checkpoints.store import (
    CheckpointError,
    check_state_dict,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)

__all__ = [
    "CheckpointError",
    "check_state_dict",
    "load_checkpoint",
    "save_checkpoint",
    "read_checkpoint_meta",
    "cache_dir",
    "find_weights",
]
