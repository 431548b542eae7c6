"""How good are predicted expressions? Held-out comparison with baselines, speech following.

* :func:`heldout_comparison`: on the held-out last 10 % of each clip, the network (as is, and
  with a speaker calibration fitted on the clip's training frames) against the clip's mean
  expression and a linear regression from the audio envelope (one for all clips, and one per
  clip; all fitted on the training frames): mean squared error of the mouth components (and of all), and correlation
  of the predicted mouth opening (expression -> opening readout) with the tracked one
  (landmarks). Also smoothness: mean frame-to-frame change of predicted vs tracked.
* :func:`speech_following`: on any speech file, does the predicted mouth opening separate
  speech frames from pauses (ROC AUC), and is it still in pauses?
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audio2exp.calibration import fit_calibration
from audio2exp.audio import SILENCE_DBFS, measure_level, open_audio
from audio2exp.av_offset import shift_clip, shift_samples
from audio2exp.data import ClipData, apply_readout, load_clip_data
from audio2exp.features import silence_features
from audio2exp.predict import Audio2ExpPredictor, PredictOptions

ENVELOPE_LAGS = (-2, -1, 0, 1, 2)
SPEECH_WITHIN_DB = 20.0  # speech frames: within this of the file's level
PAUSE_BELOW_DB = 30.0  # pause frames: this far below the level, or below SILENCE_DBFS


def envelope_design(clip: ClipData) -> np.ndarray:
    """(N, len(ENVELOPE_LAGS) + 1): lagged envelope (dB / 10) and a constant."""
    env = clip.envelope / 10.0
    n = env.size
    cols = [env[np.clip(np.arange(n) + lag, 0, n - 1)] for lag in ENVELOPE_LAGS]
    return np.stack(cols + [np.ones(n)], axis=1)


def envelope_baseline(clips: Sequence[ClipData], ridge: float = 1e-3, per_clip: bool = False) -> list[np.ndarray]:
    """Linear regression audio envelope -> expression offset from the clip mean.

    Fitted on the training frames of all clips together (one map for everybody) or, with
    ``per_clip``, of each clip alone (a map per speaker, like a calibrated network); returns
    each clip's prediction for all frames (N, d).
    """
    groups = [[c] for c in clips] if per_clip else [list(clips)]
    out = []
    for group in groups:
        xs, ys = [], []
        for c in group:
            idx = c.train[c.valid[c.train]]
            xs.append(envelope_design(c)[idx])
            ys.append(c.expression[idx] - c.expression[idx].mean(0))
        x, y = np.concatenate(xs), np.concatenate(ys)
        w = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ y)
        out.extend(c.expression[c.train[c.valid[c.train]]].mean(0) + envelope_design(c) @ w for c in group)
    return out


def calibrated(clips: Sequence[ClipData], predictions: Sequence[np.ndarray], mouth: Sequence[int]) -> list[np.ndarray]:
    """Each clip's predictions (N, d) after a speaker calibration fitted on its training frames."""
    out = []
    for c, p in zip(clips, predictions):
        idx = c.train[c.valid[c.train]]
        out.append(fit_calibration(p[idx], c.expression[idx], mouth).apply(p))
    return out


def mean_baseline(clips: Sequence[ClipData]) -> list[np.ndarray]:
    """Each clip's mean training expression, for all its frames (N, d)."""
    return [np.repeat(c.expression[c.train[c.valid[c.train]]].mean(0)[None], c.num_frames, 0) for c in clips]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant (a constant predicts nothing)."""
    a = a - a.mean()
    b = b - b.mean()
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def mean_step(values: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean absolute frame-to-frame change of (T, k) values (pairs of valid frames)."""
    steps = np.abs(np.diff(values, axis=0))
    if valid is not None:
        steps = steps[valid[1:] & valid[:-1]]
    return float(steps.mean()) if steps.size else 0.0


def score(clips: Sequence[ClipData], predictions: Sequence[np.ndarray], readout: np.ndarray, mouth: Sequence[int]) -> dict[str, Any]:
    """Held-out metrics of one method. ``predictions[i]`` is (N_i, d) for clip i."""
    mouth = list(mouth)
    sq_mouth, sq_all, corrs, weights, pred_open, true_open, steps = [], [], [], [], [], [], []
    per_clip = {}
    for c, p in zip(clips, predictions):
        idx = c.test[c.valid[c.test]]
        if idx.size == 0:
            continue
        err = (p[idx] - c.expression[idx]) ** 2
        sq_mouth.append(err[:, mouth])
        sq_all.append(err)
        po = apply_readout(readout, p[idx])
        corrs.append(_corr(po, c.opening[idx]))
        weights.append(idx.size)
        pred_open.append(po - apply_readout(readout, p[c.train]).mean())
        true_open.append(c.opening[idx] - c.opening[c.train].mean())
        steps.append(mean_step(p[:, mouth], c.valid))
        per_clip[c.name] = {"mouth_mse": float(sq_mouth[-1].mean()), "opening_corr": corrs[-1]}
    return {
        "mouth_mse": float(np.concatenate(sq_mouth).mean()),
        "all_mse": float(np.concatenate(sq_all).mean()),
        "opening_corr": float(np.average(corrs, weights=weights)),
        "opening_corr_pooled": _corr(np.concatenate(pred_open), np.concatenate(true_open)),
        "mouth_step": float(np.mean(steps)),
        "per_clip": per_clip,
    }


def heldout_comparison(predictor: Audio2ExpPredictor, clip_paths: Sequence[str | Path]) -> dict[str, Any]:
    """The network vs. the mean-expression and audio-envelope baselines on held-out frames
    (the checkpoint's: its hold-out fraction, or its cross-validation fold).

    Clips the checkpoint was trained on are predicted with their own identity; others with
    the mean expression of their training frames as base. Clips that training re-aligned
    (``audio2exp train --sync-correct``) are scored with the same offset, for every method.
    """
    training = predictor.meta.get("training", {})
    holdout = float(training.get("holdout", 0.1))
    fold = training.get("config", {}).get("fold")
    offsets = {name: int(o["offset"]) for name, o in training.get("av_offsets", {}).items()}
    silence = silence_features(predictor.extractor)
    clips = []
    for path in clip_paths:
        clip = load_clip_data(path, predictor.extractor, holdout, fold=fold)
        predictor.check_clip(clip.meta, clip.path)
        # a training clip found out of sync is scored re-aligned, by every method alike
        clips.append(shift_clip(clip, offsets.get(clip.name, 0), silence))
    net = []
    for c in clips:
        speaker = predictor.speaker_for(c.name, c.expression[c.train[c.valid[c.train]]])
        net.append(predictor.predict(shift_samples(_audio(c), offsets.get(c.name, 0)), speaker=speaker)[: c.num_frames])
    readout = predictor.readout
    mouth = predictor.mouth_components
    tracked_step = float(np.mean([mean_step(c.expression[:, mouth], c.valid) for c in clips]))
    methods = {
        "audio2exp": score(clips, net, readout, mouth),
        "audio2exp_calibrated": score(clips, calibrated(clips, net, mouth), readout, mouth),
        "mean_expression": score(clips, mean_baseline(clips), readout, mouth),
        "envelope_linear": score(clips, envelope_baseline(clips), readout, mouth),
        "envelope_linear_per_clip": score(clips, envelope_baseline(clips, ridge=1e-2, per_clip=True), readout, mouth),
    }
    reference = methods["mean_expression"]["per_clip"]
    for result in methods.values():
        # each clip's error relative to its mean-expression error, averaged: no single badly
        # tracked clip dominates this one
        result["relative_mouth_mse"] = float(np.mean([v["mouth_mse"] / max(reference[k]["mouth_mse"], 1e-12) for k, v in result["per_clip"].items()]))
    return {
        "clips": [c.name for c in clips],
        "av_offsets": {c.name: offsets.get(c.name, 0) for c in clips},
        "heldout_frames": int(sum(c.test.size for c in clips)),
        "train_frames": int(sum(c.train.size for c in clips)),
        "mouth_components": mouth,
        # how well the expression -> opening readout reproduces the tracked (landmark) opening
        # from the tracked expressions on the held-out frames: the ceiling of opening_corr
        "readout_corr_on_tracked": score(clips, [c.expression for c in clips], readout, mouth)["opening_corr_pooled"],
        **methods,
        "tracked_mouth_step": tracked_step,
    }


def _audio(clip: ClipData) -> np.ndarray:
    from minerf_base.clip import load_clip

    return load_clip(clip.path, check_files=False).audio()


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(random positive > random negative), ties counted half."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def speech_following(predictor: Audio2ExpPredictor, audio_paths: Sequence[str | Path], silence_gate_on: bool = True) -> dict[str, Any]:
    """Does the predicted mouth opening follow speech? Per file and overall.

    Speech frames are within ``SPEECH_WITHIN_DB`` of the file's level, pauses at least
    ``PAUSE_BELOW_DB`` below it (or below ``SILENCE_DBFS``). Reports the ROC AUC of opening
    for speech vs. pause frames, mean opening in each, and the mean frame-to-frame change in
    pauses relative to speech (a still mouth has a small ratio).
    """
    files = {}
    for path in audio_paths:
        source = open_audio(path)
        level, frame_db = measure_level(source)
        opening = predictor.opening(predictor.predict_source(source, options=PredictOptions(silence_gate=silence_gate_on)))
        speech = frame_db >= level - SPEECH_WITHIN_DB
        pause = (frame_db < level - PAUSE_BELOW_DB) | (frame_db < SILENCE_DBFS)
        if speech.sum() < 5 or pause.sum() < 5:
            continue
        step = np.abs(np.diff(opening))
        files[Path(path).name] = {
            "auc": _auc(opening[speech], opening[pause]),
            "speech_opening": float(opening[speech].mean()),
            "pause_opening": float(opening[pause].mean()),
            "pause_step_over_speech_step": float(step[pause[1:] & pause[:-1]].mean() / max(step[speech[1:] & speech[:-1]].mean(), 1e-9)),
            "speech_frames": int(speech.sum()),
            "pause_frames": int(pause.sum()),
        }
    aucs = [f["auc"] for f in files.values()]
    return {"files": files, "mean_auc": float(np.mean(aucs)) if aucs else float("nan"), "min_auc": float(np.min(aucs)) if aucs else float("nan"), "silence_gate": silence_gate_on}
