"""The training loop that every trainer runs: steps, learning-rate schedule, a checkpoint every
K steps, resume from the last one, ``log.jsonl`` + TensorBoard.

A trainer builds its data, model and optimizer itself and hands the loop a :class:`TrainJob`
(one optimisation step, the learning rate of a step, what a checkpoint holds). The loop never
touches the model, so a model wrapped in DistributedDataParallel runs through it unchanged.
In a multi-process run (:mod:`checkpoints.distributed`; ``LoopConfig.rank`` and
``world_size``) every rank runs the same steps, only rank 0 writes checkpoints and logs and
shows progress, and a log record holds the metrics averaged over the ranks.

Usage::

    job = MyJob(model, optimizer, data)              # a TrainJob
    run = RunFolder(out_dir, MY_FORMAT)
    resume = run.resume_point()                      # None for a fresh folder
    if resume is not None:
        model.load_state_dict(resume.tensors)        # the trainer restores its model
    with TrainLoop(job, LoopConfig(total_steps=1000, checkpoint_every=100), run, resume and resume.state) as loop:
        result = loop.run()                          # optimizer, RNG, step restored by the loop
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from checkpoints.distributed import World, mean_over_ranks
from checkpoints.run_folder import RunFolder
from checkpoints.state import (
    Generator,
    TrainState,
    capture_rng,
    restore_optimizer,
    restore_rng,
)

log = logging.getLogger(__name__)
LOG_NAME = "log.jsonl"
TENSORBOARD_DIR = "tb"


class TrainJob(ABC):
    """What a trainer gives the loop. Subclasses set ``optimizer`` and implement
    :meth:`train_step` and :meth:`checkpoint`; the other hooks are optional."""

    optimizer: torch.optim.Optimizer

    @abstractmethod
    def train_step(self, step: int) -> Mapping[str, float]:
        """Optimisation step number ``step`` (0-based); returns its metrics (``loss``...)."""

    @abstractmethod
    def checkpoint(self, step: int) -> tuple[Mapping[str, torch.Tensor], dict[str, Any]]:
        """(weights, ``checkpoint.json`` metadata) of the model after ``step`` steps."""

    def learning_rate(self, step: int) -> float | None:
        """Learning rate of every parameter group at ``step``; None keeps the optimizer's."""
        return None

    def generators(self) -> Mapping[str, Generator]:
        """The job's own random generators, saved and restored with every checkpoint."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """The job's own training state (tensors allowed), saved with every checkpoint."""
        return {}

    def load_extra_state(self, extra: Mapping[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def on_log(self, step: int, record: Mapping[str, float]) -> None:
        """Called with every log record (metrics averaged since the last one, and ``lr``)."""

    def after_step(self, step: int) -> None:
        """Called after ``step`` steps are done (validation images...), on every rank."""


def exponential_decay(lr: float, final_factor: float, step: int, total: int) -> float:
    """``lr`` at step 0 decaying exponentially to ``lr * final_factor`` at ``total``."""
    return lr * final_factor ** min(1.0, step / max(1, total))


@dataclass
class LoopConfig:
    """How the loop runs one trainer."""

    total_steps: int
    """Steps of the whole run (the schedule's length)."""
    checkpoint_every: int = 0
    """Steps between checkpoints; 0: only at the end. One is always written at the end."""
    log_every: int = 25
    """Steps between log records (and at the end)."""
    stop_at: int | None = None
    """End this session after this step (with a checkpoint); a later session continues."""
    progress: bool = False
    """Show a progress bar."""
    description: str = "train"
    """Progress bar label."""
    rank: int = 0
    """Process rank; only rank 0 writes checkpoints and logs (multi-process runs)."""
    world_size: int = 1
    """Processes that run the same steps together (their metrics are averaged in the log)."""

    @property
    def world(self) -> World:
        return World(rank=self.rank, size=self.world_size)


@dataclass
class LoopResult:
    """What one :meth:`TrainLoop.run` did."""

    start: int
    end: int
    total: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    """Metrics of the last step taken (empty when none was)."""


class RunLog:
    """``log.jsonl`` (always) and TensorBoard (when the ``tensorboard`` package is installed)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOG_NAME
        self._tb: Any = None
        self._tb_tried = False

    def write(self, step: int, values: Mapping[str, float]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"step": step, "time": round(time.time(), 3), **values}) + "\n")
        tb = self._tensorboard()
        if tb is not None:
            for key, value in values.items():
                tb.add_scalar(key, value, step)

    def _tensorboard(self) -> Any:
        if not self._tb_tried:
            self._tb_tried = True
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR))
            except ImportError:
                log.info("tensorboard is not installed; logging to %s only", self.path)
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class _Window:
    """Running sums of metrics between two log records."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def take(self) -> dict[str, float]:
        means = {k: v / max(1, self.count) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def _every(step: int, period: int) -> bool:
    return period > 0 and step % period == 0


class TrainLoop:
    """Runs a :class:`TrainJob` from its current step; see the module docstring."""

    def __init__(self, job: TrainJob, config: LoopConfig, run: RunFolder | None = None, resume: TrainState | None = None):
        self.job = job
        self.config = config
        self.run_folder = run
        self.step = 0
        writer = run is not None and config.rank == 0
        self.log_file = RunLog(Path(run.path)) if writer else None
        if resume is not None:
            if resume.optimizer is not None:
                restore_optimizer(job.optimizer, resume.optimizer)
            restore_rng(resume.rng, job.generators(), resume.source)
            job.load_extra_state(resume.extra)
            self.step = resume.step

    def __enter__(self) -> "TrainLoop":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(self, until: int | None = None) -> LoopResult:
        """Steps from the current one to ``until`` (default: the end of the run or
        ``stop_at``), checkpointing every ``checkpoint_every`` steps and at the end."""
        from tqdm import tqdm

        cfg, start = self.config, self.step
        end = min(x for x in (cfg.total_steps, cfg.stop_at, until) if x is not None)
        end = max(start, end)
        window, metrics = _Window(), {}
        started = time.time()
        with tqdm(total=cfg.total_steps, initial=start, desc=cfg.description, unit="steps", disable=not cfg.progress or cfg.rank != 0, dynamic_ncols=True) as bar:
            for step in range(start, end):
                self._set_learning_rate(step)
                metrics = {k: float(v) for k, v in self.job.train_step(step).items()}
                window.add(metrics)
                self.step = step + 1
                bar.update(1)
                if _every(self.step, cfg.log_every) or self.step == end:
                    record = {**mean_over_ranks(window.take(), cfg.world), "lr": float(self.job.optimizer.param_groups[0]["lr"])}
                    bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()}, refresh=False)
                    self.job.on_log(self.step, record)
                    self.log(self.step, record)
                self.job.after_step(self.step)
                if _every(self.step, cfg.checkpoint_every) and self.step != end:
                    self.save()
        if self.run_folder is not None and (start < end or not self.run_folder.has_checkpoint()):
            self.save()
        return LoopResult(start=start, end=end, total=cfg.total_steps, seconds=round(time.time() - started, 2), metrics=metrics)

    def _set_learning_rate(self, step: int) -> None:
        lr = self.job.learning_rate(step)
        if lr is not None:
            for group in self.job.optimizer.param_groups:
                group["lr"] = lr

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 with a run folder only)."""
        if self.run_folder is None or self.config.rank != 0:
            return None
        weights, meta = self.job.checkpoint(self.step)
        state = TrainState(step=self.step, optimizer=self.job.optimizer.state_dict(), rng=capture_rng(self.job.generators()), extra=self.job.extra_state())
        return self.run_folder.save(weights, meta, state)

    def log(self, step: int, values: Mapping[str, float]) -> None:
        """Append a record to the run's log (also usable after :meth:`run`, e.g. for evaluation)."""
        if self.log_file is not None:
            self.log_file.write(step, values)

    def close(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
