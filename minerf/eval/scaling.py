"""Scaling curves (the paper's Fig. 4, left): when a held-out PSNR curve reaches a target, and
the joint-versus-separate rows built from such curves (``benchmarks/identities_scaling.py``).

A curve (``history``) is a list of evaluations in step order, each a dict with at least
``step``, ``psnr`` and ``train_seconds`` (wall-clock training seconds up to that step,
evaluation excluded). A run that never reaches the target within its step cap is reported as
not reached, with its best PSNR; sums and ratios are only given when every run they add up
reached the target. When the joint run reached it and some single runs did not, a single run
that stopped at its cap needed more steps than it ran, so the row also gives the lower bounds
``separate_steps_at_least`` and ``ratio_steps_at_least`` (those runs counted at their
``steps_run``).
"""

from __future__ import annotations

from typing import Any, Sequence


def first_reaching(history: Sequence[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The first evaluation whose ``psnr`` is at least ``target`` (None if there is none)."""
    for point in history:
        if point["psnr"] >= target:
            return point
    return None


def summarize(history: Sequence[dict[str, Any]], target: float, step_seconds: float) -> dict[str, Any]:
    """Steps, wall seconds and estimated seconds (steps x ``step_seconds``) to ``target``.

    Not reached: ``reached`` False, ``steps`` / ``wall_seconds`` / ``estimated_seconds`` None,
    ``steps_run`` says how far the run went. ``best_psnr`` is always the curve's maximum.
    """
    hit = first_reaching(history, target)
    best = max((p["psnr"] for p in history), default=None)
    steps_run = history[-1]["step"] if history else 0
    if hit is None:
        return {"reached": False, "steps": None, "wall_seconds": None, "estimated_seconds": None, "best_psnr": best, "steps_run": steps_run}
    return {
        "reached": True,
        "steps": hit["step"],
        "wall_seconds": hit["train_seconds"],
        "estimated_seconds": round(hit["step"] * step_seconds, 2),
        "psnr": hit["psnr"],
        "best_psnr": best,
        "steps_run": steps_run,
    }


def _ratio(separate: float | None, joint: float | None) -> float | None:
    if separate is None or joint is None or joint <= 0:
        return None
    return round(separate / joint, 3)


def _total(runs: Sequence[dict[str, Any]], key: str) -> float | None:
    if not runs or not all(r["reached"] for r in runs):
        return None
    return round(sum(r[key] for r in runs), 2)


def scaling_row(n: int, joint: dict[str, Any], singles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row of Fig. 4 (left): ONE model for ``n`` identities (``joint``, a :func:`summarize`
    result) against the ``n`` single-identity models ``singles`` (their sums).

    ``ratio_*`` = separate / joint (> 1: the joint model needs less); None unless the joint run
    and every single run reached the target. When the joint run reached it and only single runs
    missed it, the row also holds the lower bounds ``separate_steps_at_least`` and
    ``ratio_steps_at_least``.
    """
    if len(singles) != n:
        raise ValueError(f"{n} identities need {n} single-identity runs, got {len(singles)}")
    row: dict[str, Any] = {"identities": n, "joint_reached": joint["reached"], "separate_reached": all(s["reached"] for s in singles)}
    for key in ("steps", "estimated_seconds", "wall_seconds"):
        separate = _total(singles, key)
        row[f"joint_{key}"] = joint[key]
        row[f"separate_{key}"] = separate
        row[f"ratio_{key}"] = _ratio(separate, joint[key])
    if joint["reached"] and not row["separate_reached"]:
        at_least = sum(s["steps"] if s["reached"] else s["steps_run"] for s in singles)
        row["separate_steps_at_least"] = at_least
        row["ratio_steps_at_least"] = _ratio(at_least, joint["steps"])
    row["joint_best_psnr"] = joint["best_psnr"]
    row["separate_best_psnr"] = [s["best_psnr"] for s in singles]
    return row
