"""K-fold cross-validation of audio2exp training settings on prepared clips.

A *variant* is a training preset with some fields of its ``Audio2ExpTrainConfig`` / ``Audio2ExpConfig``
changed (:func:`configured`). :func:`cross_validate` trains it K times, each time holding out
the k-th of K blocks of every clip (so every frame is held out once), and pools the held-out
comparison with the baselines (:func:`audio2exp.evaluate.heldout_comparison`).
``benchmarks/audio2exp_eval.py`` and ``benchmarks/audio2exp_variants.py`` report these.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

BASELINES = ("mean_expression", "envelope_linear", "envelope_linear_per_clip")
METHODS = ("audio2exp", *BASELINES)
POOLED_MEANS = ("relative_mouth_mse", "opening_corr_pooled", "opening_corr", "mouth_step")


def speech_clips(folder: str | Path) -> list[Path]:
    """The complete prepared clips directly in ``folder`` that have audio, sorted by name."""
    from minerf_base.clip import is_complete

    return _with_audio(p for p in sorted(Path(folder).iterdir()) if is_complete(p))


def prepared_speech_clips(videos: Path, work: Path, resolution: int = 128, progress: bool = True) -> tuple[list[Path], dict[str, str]]:
    """The videos of the folder ``videos`` prepared at ``resolution`` into ``work/clips``
    (:func:`minerf.prepare.batch.prepare_many`): the clips that have audio, sorted by name, and
    {video: error} of the videos that could not be prepared."""
    from minerf.prepare.batch import prepare_many
    from minerf.prepare.pipeline import PrepareOptions

    batch = prepare_many(videos, work / "clips", PrepareOptions(resolution=resolution), progress)
    return _with_audio(sorted(batch.clips)), batch.failures


def _with_audio(clips: Iterable[Path]) -> list[Path]:
    from minerf_base.clip import load_clip

    return [p for p in clips if load_clip(p, check_files=False).has_audio]


def configured(preset: str = "default", overrides: dict[str, Any] | None = None):
    """``(Audio2ExpTrainConfig, Audio2ExpConfig)`` of ``preset`` with ``overrides`` ({field: value}, each
    field of either dataclass) applied; an unknown field or a value of the wrong kind is a
    ValueError."""
    from audio2exp.train import AUDIO2EXP_PRESETS

    config, net = AUDIO2EXP_PRESETS[preset]
    overrides = dict(overrides or {})
    train_keys = {f.name for f in fields(config)}
    net_keys = {f.name for f in fields(net)}
    unknown = sorted(set(overrides) - train_keys - net_keys)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}: use fields of Audio2ExpTrainConfig or Audio2ExpConfig")
    for key, value in overrides.items():
        default = getattr(config if key in train_keys else net, key)
        if not _same_kind(default, value):
            raise ValueError(f"setting {key}={value!r}: expected a value like {default!r}")
    net = type(net).from_dict(net.to_dict() | {k: v for k, v in overrides.items() if k in net_keys})
    return replace(config, **{k: v for k, v in overrides.items() if k in train_keys}), net


def _same_kind(default: Any, value: Any) -> bool:
    """Whether ``value`` can stand for a setting whose default is ``default``."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def parse_variant(words: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``["NAME", "KEY=VALUE", ...]`` -> ``(NAME, {KEY: value})``; values are JSON, else text."""
    if not words:
        raise ValueError("--variant needs a name")
    name, settings = words[0], {}
    for word in words[1:]:
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise ValueError(f"--variant {name}: {word!r} is not KEY=VALUE")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return name, settings


def cross_validate(
    clips: Sequence[Path],
    folds: int,
    work: Path,
    methods: Sequence[str],
    sync_correct: bool = False,
    preset: str = "default",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``folds`` times into ``work/fold{k}`` (block k of every clip held out) and pool the
    held-out results of ``methods``; ``overrides``: settings changed from ``preset``
    (:func:`configured`)."""
    from audio2exp.evaluate import heldout_comparison
    from audio2exp.predict import Audio2ExpPredictor
    from audio2exp.train import train

    per_fold = []
    for k in range(folds):
        config, net = configured(preset, overrides)
        config = replace(config, fold=(k, folds), sync_correct=sync_correct)
        train(clips, work / f"fold{k}", train_config=config, net_config=net)
        per_fold.append(heldout_comparison(Audio2ExpPredictor.load(work / f"fold{k}"), clips))
    return pooled_folds(per_fold, methods)


def pooled_folds(per_fold: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """One result of several folds' held-out comparisons: the mouth MSE over all held-out
    frames, the mean over folds of the other measures and of each clip's mouth MSE."""
    folds = len(per_fold)
    frames = [h["heldout_frames"] for h in per_fold]
    out: dict[str, Any] = {"folds": folds, "heldout_frames": int(sum(frames))}
    for name in methods:
        out[name] = {
            "mouth_mse": round(float(sum(h[name]["mouth_mse"] * n for h, n in zip(per_fold, frames)) / sum(frames)), 4),
            **{key: round(sum(h[name][key] for h in per_fold) / folds, 4) for key in POOLED_MEANS},
            "mouth_mse_per_clip": {c: round(sum(h[name]["per_clip"][c]["mouth_mse"] for h in per_fold) / folds, 3) for c in per_fold[0]["clips"]},
        }
    out["tracked_mouth_step"] = round(sum(h["tracked_mouth_step"] for h in per_fold) / folds, 4)
    out["folds_where_audio2exp_mse_beats_every_baseline"] = sum(h["audio2exp"]["mouth_mse"] < min(h[b]["mouth_mse"] for b in BASELINES) for h in per_fold)
    return out


def beats_baselines(result: dict[str, Any]) -> bool:
    """The network's pooled MSE is below the clip mean's and the envelope regression's, and
    its opening correlation above the envelope regression's (the mean's is 0)."""
    net, mean, env = result["audio2exp"], result["mean_expression"], result["envelope_linear"]
    return net["mouth_mse"] < min(mean["mouth_mse"], env["mouth_mse"]) and net["opening_corr_pooled"] > max(0.0, env["opening_corr_pooled"])
