"""Paper Fig. 4 (left) at small scale: training needed to reach a held-out PSNR with ONE model for
N identities versus N single-identity models (same preset, same machine).

Every model trains with the same settings: preset ``--preset`` (default ``tiny``: 6-level hash
grid, 1x32 MLPs, 16 + 16 samples, 512 rays from 4 frames per step, lr 1e-2 -> 1e-3 decayed over
``--max-steps``), the same rays per step whether it knows 1 or 8 identities. Every
``--eval-every`` steps the held-out PSNR (face crop, first ``--eval-frames`` held-out frames of
each clip; ``minerf.eval.heldout.evaluate_heldout``) is measured; a joint model reaches the
target when the mean over its identities' held-out frames does. A run stops at the target or at
``--max-steps`` (then it is reported as not reached, with its best PSNR).

The CPU is usually shared, so three measures are reported for each run: steps to target,
wall-clock training seconds to target (evaluation excluded; noisy under load) and an estimate =
steps x the seconds per step measured for that configuration in a separate, interleaved timing
phase (``step_seconds``, best of its rounds; it also shows that a step costs the same for 1 and
8 identities).
Ratios are (sum over the N single-identity runs) / (the one joint run); N = 1 is the same model.

The 8 single-identity runs are trained once and summed over the first N clips; every finished
run is kept as JSON in ``--work`` and reused by a later call with the same settings. Prints JSON
(settings, step timing, per-run curves, rows with ratios) and writes a PNG plot.

    python benchmarks/identities_scaling.py --clips-dir /tmp/grid --counts 1 2 4 8 \\
        --target-psnr 20 21 --max-steps 600 --eval-every 25 --eval-frames 1 --plot scaling.png

Clips: ``--clips`` in the order given, else the prepared clips in ``--clips-dir`` (sorted by
name); when it holds none, the GRID videos of ../shared/data/videos are prepared there at
``--resolution`` first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from minerf.eval.scaling import scaling_row, summarize
from minerf.eval.timing import device_name
from minerf_base.atomic import atomic_write_json

VIDEOS = Path(os.environ.get("MINERF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "videos"


def prepared_clips(clips_dir: Path, resolution: int) -> list[Path]:
    """The complete prepared clips in ``clips_dir``; prepares the GRID videos there if it has none."""
    from minerf.prepare.batch import prepare_many
    from minerf.prepare.pipeline import PrepareOptions
    from minerf_base.clip import is_complete

    clips = sorted(p for p in clips_dir.glob("*") if p.is_dir() and is_complete(p)) if clips_dir.is_dir() else []
    if clips:
        return clips
    videos = sorted(VIDEOS.glob("grid_*.mpg"))
    if not videos:
        raise SystemExit(f"no prepared clips in {clips_dir} and no GRID videos in {VIDEOS}")
    return [Path(c) for c in prepare_many(videos, clips_dir, PrepareOptions(resolution=resolution), progress=False).clips]


def given_clips(paths: list[Path]) -> list[Path]:
    """``paths`` in the order given, each a complete prepared clip (else a clear exit)."""
    from minerf_base.clip import is_complete

    for path in paths:
        if not (path.is_dir() and is_complete(path)):
            raise SystemExit(f"{path}: not a complete prepared clip (minerf prepare VIDEO -o {path})")
    if len({p.name for p in paths}) != len(paths):
        raise SystemExit("--clips: two clips have the same folder name (the runs are stored by name)")
    return list(paths)


class Run:
    """A fresh model on ``clips`` (one identity per clip), trained by the package's training
    loop ``count`` steps at a time; the learning rate decays over ``total`` steps
    (default ``--max-steps``)."""

    def __init__(self, clips: list[Path], args: argparse.Namespace, total: int | None = None):
        from checkpoints.loop import LoopConfig, TrainLoop
        from minerf.data import MultiClipData
        from minerf.model import get_preset
        from minerf.train.trainer import NeRFJob, StepRule, fresh_model

        data = MultiClipData.from_dirs(clips)
        self.cfg = get_preset(args.preset)
        total = total or args.max_steps
        model = fresh_model(data, self.cfg, args.seed, torch.device("cpu"))
        self.job = NeRFJob(model, data, StepRule(total=total, smooth=False), seed=args.seed)
        self.loop = TrainLoop(self.job, LoopConfig(total_steps=total))

    @property
    def step(self) -> int:
        return self.loop.step

    def train_steps(self, count: int) -> float:
        """``count`` training steps; wall seconds."""
        start = time.perf_counter()
        self.loop.run(until=self.loop.step + count)
        return time.perf_counter() - start

    def heldout(self, frames: int) -> dict[str, Any]:
        from minerf.eval.heldout import evaluate_heldout

        return evaluate_heldout(self.job.model, self.job.data, False, frames)


def train_to_target(clips: list[Path], args: argparse.Namespace, label: str) -> list[dict[str, Any]]:
    """Train until the held-out PSNR reaches the highest ``--target-psnr`` or ``--max-steps``;
    the curve."""
    run = Run(clips, args)
    history: list[dict[str, Any]] = []
    seconds = 0.0
    while run.step < args.max_steps:
        seconds += run.train_steps(min(args.eval_every, args.max_steps - run.step))
        result = run.heldout(args.eval_frames)
        point = {
            "step": run.step,
            "train_seconds": round(seconds, 2),
            "psnr": round(result["psnr"], 3),
            "per_identity": {k: round(v["psnr"], 2) for k, v in result["identities"].items()},
        }
        history.append(point)
        print(json.dumps({"run": label, **{k: v for k, v in point.items() if k != "per_identity"}}), file=sys.stderr, flush=True)
        if point["psnr"] >= max(args.target_psnr):
            break
    return history


def step_seconds(clips: list[Path], counts: list[int], args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    """Seconds per training step of a model on the first N clips, for each N in ``counts``.

    The models are timed in turn (``--timing-rounds`` rounds of ``--timing-steps`` steps, after
    one warm-up round), so a change of machine load hits every N alike; the fastest round counts
    (other jobs on a shared CPU only ever add time). ``rounds`` keeps every round.
    """
    runs = {n: Run(clips[:n], args, total=(args.timing_rounds + 1) * args.timing_steps) for n in counts}
    times: dict[int, list[float]] = {n: [] for n in counts}
    for rnd in range(args.timing_rounds + 1):
        for n, run in runs.items():
            sec = run.train_steps(args.timing_steps) / args.timing_steps
            if rnd:
                times[n].append(sec)
    return {n: {"best": round(min(t), 4), "median": round(statistics.median(t), 4), "rounds": [round(x, 4) for x in t]} for n, t in times.items()}


def cached_curve(path: Path, settings: dict[str, Any], compute) -> list[dict[str, Any]]:
    """The curve stored at ``path`` when it was measured with ``settings``, else ``compute()``
    (then stored)."""
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("settings") == settings:
            return stored["history"]
    history = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"settings": settings, "history": history})
    return history


def plot(rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace, path: Path) -> None:
    """Training steps to each target vs N (a step costs the same whatever N, see
    ``step_seconds``): one joint model (solid) and the sum of N single models (dashed),
    annotated with the ratio. Runs that did not reach a target are not drawn (the JSON says
    so); where only single runs missed it, a triangle marks the lower bound of the singles' sum
    and the joint point carries the lower bound of the ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for k, (color, (target, target_rows)) in enumerate(zip(("C0", "C1", "C2", "C3", "C4"), rows.items())):
        for key, style, label in (("joint", "o-", "one model, N ids"), ("separate", "s--", "N single models (sum)")):
            pts = [(r["identities"], r[f"{key}_steps"]) for r in target_rows if r[f"{key}_steps"] is not None]
            if pts:
                ax.plot(*zip(*pts), style, color=color, label=f"{label}, {target} dB")
        bounds = [(r["identities"], r["separate_steps_at_least"]) for r in target_rows if r.get("separate_steps_at_least") is not None]
        if bounds:
            ax.plot(*zip(*bounds), "^", color=color, label=f"N single models, at least, {target} dB")
        for r in target_rows:
            ratio, prefix = (r["ratio_steps"], "x") if r["ratio_steps"] is not None else (r.get("ratio_steps_at_least"), "x>")
            if ratio is not None and r["identities"] > 1:
                ax.annotate(f"{prefix}{ratio:.2f}", (r["identities"], r["joint_steps"]), textcoords="offset points", xytext=(5, -11 - 9 * k), fontsize=7, color=color)
    counts = sorted({r["identities"] for target_rows in rows.values() for r in target_rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(n) for n in counts])
    ax.set_xlabel("identities N")
    ax.set_ylabel("training steps to the held-out PSNR target")
    ax.set_title(f"steps to target, preset '{args.preset}' (x = N single models / one joint model)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips-dir", type=Path, default=Path("/tmp/minerf-grid-128"))
    ap.add_argument("--clips", type=Path, nargs="+", help="prepared clips in this order (N takes the first N; default: those in --clips-dir, sorted by name)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/minerf-identities-scaling"), help="finished runs (JSON), reused")
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--target-psnr", type=float, nargs="+", default=[20.0, 21.0], help="held-out PSNR targets (dB); runs go on to the highest")
    ap.add_argument("--max-steps", type=int, default=600, help="step cap of every run (and its lr schedule)")
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--eval-frames", type=int, default=1, help="held-out frames per clip in each evaluation")
    ap.add_argument("--resolution", type=int, default=128, help="only used when the GRID clips are prepared")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timing-steps", type=int, default=10)
    ap.add_argument("--timing-rounds", type=int, default=5)
    ap.add_argument("--plot", type=Path, default=Path("identities_scaling.png"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    clips = given_clips(args.clips) if args.clips else prepared_clips(args.clips_dir, args.resolution)
    counts = sorted(n for n in set(args.counts) if n <= len(clips))
    if not counts:
        raise SystemExit(f"--counts {args.counts}: only {len(clips)} clips" + ("" if args.clips else f" in {args.clips_dir}"))
    settings = {k: v for k, v in vars(args).items() if k in ("preset", "target_psnr", "max_steps", "eval_every", "eval_frames", "seed", "threads")}

    timing = step_seconds(clips, counts, args)
    seconds = {n: timing[n]["best"] for n in counts}
    seconds.setdefault(1, seconds[counts[0]])
    curves: dict[str, list[dict[str, Any]]] = {}
    for k in range(max(counts)):
        key = {**settings, "clips": [clips[k].name]}
        curves[f"single_{clips[k].name}"] = cached_curve(args.work / f"single_{clips[k].name}.json", key, lambda k=k: train_to_target([clips[k]], args, f"single {clips[k].name}"))
    for n in counts:
        if n > 1:
            key = {**settings, "clips": [c.name for c in clips[:n]]}
            curves[f"joint_{n}"] = cached_curve(args.work / f"joint_{n}.json", key, lambda n=n: train_to_target(clips[:n], args, f"joint {n}"))
    rows: dict[str, list[dict[str, Any]]] = {}
    for target in sorted(args.target_psnr):
        singles = [summarize(curves[f"single_{clips[k].name}"], target, seconds[1]) for k in range(max(counts))]
        joint = {n: singles[0] if n == 1 else summarize(curves[f"joint_{n}"], target, seconds[n]) for n in counts}
        rows[f"{target:g}"] = [scaling_row(n, joint[n], singles[:n]) for n in counts]
    cfg = Run(clips[:1], args).cfg
    report = {
        "benchmark": "identities_scaling",
        "settings": {**settings, "clips_dir": str(args.clips_dir), "clips": [c.name for c in clips], "counts": counts},
        "model": {"rays_per_step": cfg.rays_per_step, "frames_per_step": cfg.frames_per_step, "samples": [cfg.coarse_samples, cfg.fine_samples], "lr": [cfg.lr, cfg.lr_final], "field": dataclasses.asdict(cfg.field)},
        "device": device_name(torch.device("cpu")),
        "step_seconds": {str(n): t for n, t in timing.items()},
        "rows": rows,
        "curves": curves,
        "plot": str(args.plot),
    }
    plot(rows, args, args.plot)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
