"""Converting run folders of older layouts to the one run-folder layout (:mod:`checkpoints.run_folder`).

    python -m checkpoints.convert RUN [RUN ...]

Older layouts, one per trainer:

* **MI-NeRF, checkpoint version 1** (``minerf train`` before the one layout): the step folders
  and ``latest.json`` as now, but ``weights.safetensors`` held ``model.*`` (the model),
  ``optim.<param index>.<slot>`` (Adam) and ``rng.train`` (the ray-sampling generator), and
  ``checkpoint.json`` the optimizer's ``optimizer_param_groups``. Such a folder renders and
  evaluates as it is; converting it makes it resumable (version 2).
* **audio2exp**: the model as ``RUN/checkpoint.json`` + ``RUN/weights.safetensors``, and
  ``RUN/train_state/`` (kind ``audio2exp-train``: ``model.*``, ``average.*``, ``optim.*``
  tensors; ``step`` and ``fingerprint`` in its ``checkpoint.json``).
* **SyncNet expert** (``lipsync train``): ``RUN/model/`` (the ``syncnet`` checkpoint) and
  ``RUN/train_state.pt`` (read with ``torch.load(weights_only=True)``: optimizer state dict,
  step, the numpy generator's state as JSON, loss history).

A conversion writes the step folder of the run's last step with its training state (weights
unchanged), points ``latest.json`` at it, and only then removes the old files. Checkpoint
folders without a training state (the shipped models, exports) load as they are and are left
alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch

from checkpoints.run_folder import POINTER, RunFormat, latest_checkpoint, write_step
from checkpoints.state import TrainState, has_train_state
from checkpoints.store import META_NAME, CheckpointError, load_checkpoint

MINERF = RunFormat(kind="minerf", version=2, readable=(1, 2), writer="minerf train")
AUDIO2EXP = RunFormat(kind="audio2exp", version=1, readable=(1,), writer="audio2exp train")
SYNCNET = RunFormat(kind="syncnet", version=1, readable=(1,), writer="lipsync train")


def _prefixed(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer(tensors: Mapping[str, torch.Tensor], groups: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """An optimizer state dict from ``optim.<index>.<slot>`` tensors (None when there are none)."""
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in _prefixed(tensors, "optim.").items():
        index, key = name.split(".", 1)
        slots.setdefault(int(index), {})[key] = value
    if not slots:
        return None
    return {"state": slots} if groups is None else {"state": slots, "param_groups": groups}


def _convert_minerf_v1(run_dir: Path, folder: Path) -> dict[str, Any]:
    tensors, meta = load_checkpoint(folder, kind=MINERF.kind, versions=(1,))
    optimizer = _optimizer(tensors, meta.get("optimizer_param_groups"))
    if optimizer is None:
        return {"run": str(run_dir), "converted": False, "reason": "a weights-only MI-NeRF checkpoint (an export): it loads as it is and cannot be resumed"}
    rng = {"generators": {"sampling": tensors["rng.train"]}} if "rng.train" in tensors else {}
    step = int(meta["iteration"])
    record = {k: v for k, v in meta.items() if k != "optimizer_param_groups"}
    new = write_step(run_dir, MINERF, _prefixed(tensors, "model."), record, TrainState(step=step, optimizer=optimizer, rng=rng))
    return {"run": str(run_dir), "converted": True, "layout": "minerf checkpoint version 1", "step": step, "checkpoint": str(new)}


def _convert_audio2exp(run_dir: Path) -> dict[str, Any]:
    _, meta = load_checkpoint(run_dir, kind=AUDIO2EXP.kind, versions=(1,))
    tensors, state_meta = load_checkpoint(run_dir / "train_state", kind="audio2exp-train", versions=(1,))
    step = int(state_meta["step"])
    ema = float(meta.get("training", {}).get("config", {}).get("ema", 0.99))
    model, average = _prefixed(tensors, "model."), _prefixed(tensors, "average.")
    record = {**meta, "training": {**meta.get("training", {}), "step": step}}
    state = TrainState(step=step, optimizer=_optimizer(tensors, None), extra={"fingerprint": state_meta["fingerprint"], "model": model, "average": average})
    new = write_step(run_dir, AUDIO2EXP, average if ema > 0 else model, record, state)
    for old in (run_dir / META_NAME, run_dir / "weights.safetensors"):
        old.unlink(missing_ok=True)
    shutil.rmtree(run_dir / "train_state")
    return {"run": str(run_dir), "converted": True, "layout": "audio2exp RUN/checkpoint.json + RUN/train_state/", "step": step, "checkpoint": str(new)}


def _convert_syncnet(run_dir: Path) -> dict[str, Any]:
    tensors, meta = load_checkpoint(run_dir / "model", kind=SYNCNET.kind, versions=(1,))
    state_path = run_dir / "train_state.pt"
    try:
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        step, rng, history = int(saved["step"]), json.loads(saved["rng"]), list(saved["history"])
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(state_path, f"cannot read the training state ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", "the run cannot be resumed; train again in a new -o folder (RUN/model still scores)") from None
    if int(meta.get("step", -1)) != step:
        raise CheckpointError(state_path, f"the training state is at step {step}, the expert in model/ at step {meta.get('step')}: the run was stopped while saving", "train again in a new -o folder (RUN/model still scores)")
    state = TrainState(step=step, optimizer=saved["optimizer"], rng={"generators": {"sampling": rng}}, extra={"history": history})
    new = write_step(run_dir, SYNCNET, tensors, meta, state)
    shutil.rmtree(run_dir / "model")
    state_path.unlink()
    return {"run": str(run_dir), "converted": True, "layout": "lipsync RUN/model/ + RUN/train_state.pt", "step": step, "checkpoint": str(new)}


def convert_run(run_dir: str | Path) -> dict[str, Any]:
    """Convert the run folder ``run_dir`` in place when it has an older layout; returns what
    was done (``converted`` False, with the reason, when there was nothing to convert)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(run_dir, "no such folder", "pass a run folder written by minerf train, audio2exp train or lipsync train")
    if (run_dir / POINTER).is_file():
        folder = latest_checkpoint(run_dir)
        meta = json.loads((folder / META_NAME).read_text()) if (folder / META_NAME).is_file() else {}
        if meta.get("kind") == MINERF.kind and meta.get("version") == 1:
            return _convert_minerf_v1(run_dir, folder)
        reason = "already in the current layout" if has_train_state(folder) else "a weights-only checkpoint (an export): it loads as it is"
        return {"run": str(run_dir), "converted": False, "reason": reason}
    if (run_dir / "train_state").is_dir() and (run_dir / META_NAME).is_file():
        return _convert_audio2exp(run_dir)
    if (run_dir / "train_state.pt").is_file() and (run_dir / "model" / META_NAME).is_file():
        return _convert_syncnet(run_dir)
    if (run_dir / META_NAME).is_file() or (run_dir / "model" / META_NAME).is_file():
        return {"run": str(run_dir), "converted": False, "reason": "a checkpoint folder without a training state: it loads as it is"}
    raise CheckpointError(run_dir, f"not a run folder of any layout this toolkit wrote (no {POINTER}, {META_NAME}, train_state/ or model/)", "pass the -o folder of minerf train, audio2exp train or lipsync train")


def main() -> None:
    import click

    from minerf_base.cli_support import emit, report_errors, verbosity_options

    @click.command(context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
    @verbosity_options
    @report_errors
    def convert(runs: tuple[Path, ...], as_json: bool) -> None:
        """Convert run folders of older layouts (MI-NeRF checkpoint version 1, audio2exp
        RUN/train_state/, lipsync RUN/train_state.pt) to the one run-folder layout, in place."""
        results = [convert_run(run) for run in runs]
        lines = [f"{r['run']}: converted ({r['layout']}) at step {r['step']}" if r["converted"] else f"{r['run']}: nothing to convert, {r['reason']}" for r in results]
        emit(results, as_json, "\n".join(lines))

    convert()


if __name__ == "__main__":
    main()
