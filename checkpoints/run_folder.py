"""Run folders: the one resumable layout that every trainer (MI-NeRF, audio2exp, SyncNet) writes.

Layout::

    RUN/
      latest.json                 {"checkpoint": "step_00001000", "step": 1000, "kind": ...};
                                  replaced last, atomically, once the step folder is complete
      checkpoints/
        step_00001000/
          weights.safetensors     the model's tensors (what inference loads)
          checkpoint.json         kind, version, step, the model config and what it needs
          train_state.safetensors optimizer slots, random states, the trainer's own tensors
          train_state.json        the rest of the training state (checkpoints.state)
        step_00000500/            the previous one (``KEEP`` step folders are kept)
      log.jsonl, tb/              the training log (checkpoints.loop)

A step folder is written under a temporary name (``checkpoints/.step_N.partial``) and renamed
into place when complete; ``latest.json`` is written after that, so a kill -9 at any moment
leaves the previous complete checkpoint in charge. A step folder without ``train_state.*`` (an
export, a shipped model) loads for inference but cannot be resumed. A folder that holds
``checkpoint.json`` itself is a checkpoint folder (shipped models, exports of older versions)
and loads as one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from checkpoints.state import TrainState, read_train_state, write_train_state
from checkpoints.store import (
    META_NAME,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from minerf_base.atomic import atomic_write_json

POINTER = "latest.json"
STEPS_DIR = "checkpoints"
KEEP = 2
CONVERT = "python -m checkpoints.convert"
_STEP = re.compile(r"step_\d{8,}")


@dataclass(frozen=True)
class RunFormat:
    """What a trainer's checkpoints are: the kind, the version it writes and those it reads."""

    kind: str
    """``checkpoint.json`` kind (``minerf``, ``audio2exp``, ``syncnet``)."""
    version: int
    """Version written."""
    readable: tuple[int, ...]
    """Versions read."""
    writer: str
    """The command that writes such runs (named in error messages), e.g. ``minerf train``."""


@dataclass
class LoadedCheckpoint:
    """One checkpoint folder read and validated."""

    folder: Path
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    state: TrainState | None = None
    """The training state, when it was asked for."""


def step_name(step: int) -> str:
    return f"step_{step:08d}"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The step folder that ``latest.json`` names, or None when the run has no pointer yet."""
    run_dir = Path(run_dir)
    pointer = run_dir / POINTER
    if not pointer.is_file():
        return None
    fix = f'write {{"checkpoint": "step_XXXXXXXX"}} naming a complete folder of {run_dir / STEPS_DIR}'
    try:
        name = json.loads(pointer.read_text())["checkpoint"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(pointer, f"corrupt pointer to the latest checkpoint ({type(exc).__name__}: {exc})", fix) from None
    if not isinstance(name, str) or not _STEP.fullmatch(name):
        raise CheckpointError(pointer, f"names {name!r}, not a step folder (step_XXXXXXXX)", fix)
    folder = run_dir / STEPS_DIR / name
    if not folder.is_dir():
        raise CheckpointError(folder, f"{POINTER} names this checkpoint, but it is missing: the run folder is incomplete", f"copy the whole run folder again, or {fix}")
    return folder


def checkpoint_folder(path: str | Path, fmt: RunFormat) -> Path:
    """The checkpoint folder to load for ``path``: a run folder's latest step, or ``path``
    itself when it is a checkpoint folder."""
    path = Path(path)
    fix = f"pass a run folder written by `{fmt.writer} ... -o RUN` (it holds {POINTER}) or a checkpoint folder (it holds {META_NAME})"
    if not path.is_dir():
        raise CheckpointError(path, "no such folder" if not path.exists() else "a file, not a run folder", fix)
    folder = latest_checkpoint(path)
    if folder is not None:
        return folder
    if (path / META_NAME).is_file():
        return path
    if (path / STEPS_DIR).is_dir():
        raise CheckpointError(path / POINTER, "missing: the run never completed a checkpoint, or the pointer was deleted", f"train again with the same -o folder, or {fix}")
    raise CheckpointError(path, f"not a run folder: it holds neither {POINTER} nor {META_NAME}", fix)


def read_checkpoint(path: str | Path, fmt: RunFormat, *, with_state: bool = False, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Load the weights and metadata of ``path`` (a run or checkpoint folder) after validating
    kind, version and file sizes; with ``with_state`` also its training state."""
    folder = checkpoint_folder(path, fmt)
    tensors, meta = load_checkpoint(folder, kind=fmt.kind, versions=fmt.readable, map_location=map_location)
    state = read_train_state(folder) if with_state else None
    return LoadedCheckpoint(folder=folder, tensors=tensors, meta=meta, state=state)


def write_step(run_dir: str | Path, fmt: RunFormat, weights: Mapping[str, torch.Tensor], meta: Mapping[str, Any], state: TrainState | None = None) -> Path:
    """Write checkpoint ``step_<step>`` (``state.step``, else ``meta["step"]``) of ``run_dir``
    atomically, point ``latest.json`` at it, prune older step folders; returns the folder."""
    run_dir = Path(run_dir)
    step = state.step if state is not None else int(meta["step"])
    steps = run_dir / STEPS_DIR
    steps.mkdir(parents=True, exist_ok=True)
    name = step_name(step)
    partial = steps / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    save_checkpoint(partial, weights, kind=fmt.kind, version=fmt.version, meta={**meta, "step": step})
    if state is not None:
        write_train_state(partial, state)
    folder = steps / name
    _replace_folder(partial, folder)
    atomic_write_json(run_dir / POINTER, {"checkpoint": name, "step": step, "kind": fmt.kind})
    _prune(steps, name)
    return folder


def _replace_folder(new: Path, final: Path) -> None:
    """Rename the complete folder ``new`` to ``final`` (moving an older ``final`` aside first)."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(steps: Path, current: str) -> None:
    """Keep ``current`` and the ``KEEP - 1`` step folders before it; drop crashed partials."""
    older = sorted(p for p in steps.iterdir() if p.is_dir() and _STEP.fullmatch(p.name) and p.name < current)
    for stale in older[: max(0, len(older) - (KEEP - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    for leftover in steps.glob(".step_*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _older_layout(path: Path) -> list[str]:
    """What of an older run-folder layout ``path`` holds (empty when none)."""
    marks = [META_NAME, "train_state", "train_state.pt", f"model/{META_NAME}"]
    return [mark for mark in marks if (path / mark).exists()]


@dataclass(frozen=True)
class RunFolder:
    """A trainer's run folder: where its checkpoints go and where it resumes from."""

    path: Path
    fmt: RunFormat

    def resume_point(self) -> LoadedCheckpoint | None:
        """The latest checkpoint with its training state, or None for a fresh folder.

        Raises :class:`CheckpointError` for a folder of another kind, a truncated one, a
        weights-only checkpoint and a run of an older layout (with the command converting it).
        """
        path = Path(self.path)
        if latest_checkpoint(path) is None:
            older = _older_layout(path)
            if older:
                raise CheckpointError(path, f"this run folder has an older layout ({', '.join(older)}): this version resumes step folders (checkpoints/step_N + {POINTER})", f"convert it once: {CONVERT} {path} (or pass a new -o folder)")
            return None
        return read_checkpoint(path, self.fmt, with_state=True)

    def save(self, weights: Mapping[str, torch.Tensor], meta: Mapping[str, Any], state: TrainState | None) -> Path:
        """Write one checkpoint (see :func:`write_step`)."""
        return write_step(self.path, self.fmt, weights, meta, state)

    def has_checkpoint(self) -> bool:
        return (Path(self.path) / POINTER).is_file()
