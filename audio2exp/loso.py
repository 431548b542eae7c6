"""Leave-one-speaker-out evaluation of audio2exp, inside speech, against the baselines.

For every fold (one speaker, :mod:`audio2exp.speakers`) a network is trained on the clips of
all other speakers (every frame of them) and predicts every frame of the held-out speaker's
clips, from the clip's own mean expression (the dub knows the source video's mean). Three
baselines are fitted on the same training clips: the clip's mean expression, a linear
regression from the audio envelope (lags -2..2 frames, :func:`audio2exp.evaluate.envelope_design`)
and a ridge regression on the same audio features as the network (lags -2, 0, +2 frames).
All predict offsets from the held-out clip's mean.

Scored on speech frames (tracked, within ``SPEECH_WITHIN_DB`` of the clip's level): the
correlation of the predicted mouth opening with the tracked inner-lip gap (landmarks), per
speech-driven direction (:mod:`audio2exp.directions`) the correlation and R^2 of predicted vs
tracked values, the ratio of their standard deviations, and the MSE of the mouth
coefficients. Per clip, per speaker (its clips pooled) and pooled over all held-out frames
(each clip centred on its own means before pooling correlations).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from audio2exp.data import ClipData, load_training_clips, opening_readout
from audio2exp.directions import SpeechDirections, directions_for
from audio2exp.evaluate import PAUSE_BELOW_DB, SPEECH_WITHIN_DB, _auc, _corr, envelope_design
from audio2exp.features import FeatureConfig, make_extractor
from audio2exp.speakers import leave_one_speaker_out, speaker_of
from audio2exp.train import mouth_components_of

METHODS = ("audio2exp", "audio2exp_scaled", "mean_expression", "envelope_linear", "ridge_features")
SCALE_RANGE = (0.25, 4.0)
"""Bounds of the speaker scale that :func:`scale_calibrated` fits."""
RIDGE_LAGS = (-2, 0, 2)
RIDGE_LAMBDA = 1000.0
"""Ridge penalty per training frame relative to the standardised features' scale: the
regression minimises ``|Xw - y|^2 / N + RIDGE_LAMBDA * |w|^2 / dim``. Chosen for the ridge
on the leave-one-speaker-out folds themselves (100 / 1000 / 10000 / 100000 on 20 clips: 1000
gave the best opening correlation), so the baseline is favoured, not the network."""
PAUSE_CLIPS = ("news_anchor_german", "man_glasses")
"""Clips (name prefixes) whose speech-vs-pause separation is reported (non-English speech)."""


@dataclass
class LosoOptions:
    """What :func:`loso_evaluate` trains and how it splits."""

    preset: str = "speech"
    """Training preset (:data:`audio2exp.train.AUDIO2EXP_PRESETS`)."""
    features: FeatureConfig = field(default_factory=lambda: FeatureConfig(kind="whisper"))
    """Front end of the network and of the ridge baseline."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Settings changed from the preset (:func:`audio2exp.cross_validation.configured`)."""
    max_folds: int | None = None
    """None: one fold per speaker; else the speakers dealt into this many folds."""
    speakers: Mapping[str, str] = field(default_factory=dict)
    """{clip name: speaker} for clips whose names do not tell (:func:`audio2exp.speakers.speaker_of`)."""
    seed: int = 0
    """Training seed."""


def _speech(clip: ClipData) -> np.ndarray:
    """Frame indices of tracked speech."""
    return np.nonzero(clip.valid & (clip.frame_db >= clip.level_db - SPEECH_WITHIN_DB))[0]


def _design_features(clip: ClipData, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, F * len(RIDGE_LAGS) + 1) lagged standardised features and a constant."""
    x = (clip.features - mean) / std
    n = len(x)
    cols = [x[np.clip(np.arange(n) + lag, 0, n - 1)] for lag in RIDGE_LAGS]
    return np.concatenate(cols + [np.ones((n, 1), np.float32)], axis=1)


def _fit(designs: Sequence[np.ndarray], clips: Sequence[ClipData], lam: float) -> np.ndarray:
    """Ridge map design -> offset from the clip's mean expression, on tracked frames."""
    xs = [x[c.valid] for x, c in zip(designs, clips)]
    ys = [c.expression[c.valid] - c.expression[c.valid].mean(0) for c in clips]
    x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
    penalty = lam * len(x) / x.shape[1] * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def baselines(train: Sequence[ClipData], held: Sequence[ClipData]) -> dict[str, list[np.ndarray]]:
    """Each baseline's prediction (N, d) of every held-out clip, fitted on ``train``."""
    feats = np.concatenate([c.features for c in train])
    mean, std = feats.mean(0), feats.std(0) + 1e-3
    env_w = _fit([envelope_design(c) for c in train], train, 1e-3)
    ridge_w = _fit([_design_features(c, mean, std) for c in train], train, RIDGE_LAMBDA)
    out: dict[str, list[np.ndarray]] = {"mean_expression": [], "envelope_linear": [], "ridge_features": []}
    for c in held:
        base = c.expression[c.valid].mean(0)
        out["mean_expression"].append(np.repeat(base[None], c.num_frames, 0))
        out["envelope_linear"].append(base + envelope_design(c) @ env_w)
        out["ridge_features"].append(base + _design_features(c, mean, std) @ ridge_w)
    return out


def scale_calibrated(clip: ClipData, pred: np.ndarray, directions: SpeechDirections) -> np.ndarray:
    """``pred`` (N, d) with its offsets from the clip's mean scaled by the speaker's own motion:
    the ratio of tracked to predicted opening spread on the clip's speech frames, fitted on
    one half of the clip and applied to the other (both ways), so no frame is scaled by a fit
    that saw it. What a dub can do with the source video's own speech and tracked mouth."""
    base = clip.expression[clip.valid].mean(0)
    speech = _speech(clip)
    half = clip.num_frames // 2
    out = pred.copy()
    for fit, apply in ((speech[speech >= half], slice(0, half)), (speech[speech < half], slice(half, None))):
        if fit.size < 5:
            continue
        tracked = directions.values(clip.expression[fit])[:, 0].std()
        predicted = directions.values(pred[fit])[:, 0].std()
        scale = float(np.clip(tracked / max(predicted, 1e-9), *SCALE_RANGE))
        out[apply] = base + scale * (pred[apply] - base)
    return out


def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    """1 - SSE / SS of ``true`` about its mean (0: as good as the best constant)."""
    ss = float(((true - true.mean()) ** 2).sum())
    return 1.0 - float(((pred - true) ** 2).sum()) / ss if ss > 1e-12 else 0.0


def _measures(frames: Sequence[dict[str, np.ndarray]], names: Sequence[str]) -> dict[str, float]:
    """Measures of pooled frame sets (each a dict of per-frame arrays of one clip, centred)."""
    cat = {k: np.concatenate([f[k] for f in frames]) for k in frames[0]}
    out = {"frames": int(len(cat["mouth_err"])), "mouth_mse": float(cat["mouth_err"].mean()), "opening_r": _corr(cat["pred_opening"], cat["opening"])}
    for j, name in enumerate(names):
        p, t, own = cat["pred_dir"][:, j], cat["true_dir"][:, j], cat["pred_motion"][:, j]
        out[f"{name}_r"] = _corr(own, t)
        out[f"{name}_r2"] = _r2(p, t)
        out[f"{name}_std_ratio"] = float(own.std() / max(t.std(), 1e-12))
    return out


def _clip_frames(clip: ClipData, pred: np.ndarray, directions: SpeechDirections, mouth: Sequence[int]) -> dict[str, np.ndarray] | None:
    """Per-frame arrays of one clip's speech frames, each centred on the clip's speech mean
    (the tracked values; the prediction on its own mean, so pooled correlations measure
    motion within clips)."""
    idx = _speech(clip)
    if idx.size < 5:
        return None
    true_dir, pred_dir = directions.values(clip.expression[idx]), directions.values(pred[idx])
    centre = true_dir.mean(0)
    return {
        "mouth_err": ((pred[idx][:, mouth] - clip.expression[idx][:, mouth]) ** 2).mean(1),
        "opening": clip.opening[idx] - clip.opening[idx].mean(),
        "pred_opening": pred_dir[:, 0] - pred_dir[:, 0].mean(),
        "true_dir": true_dir - centre,
        "pred_dir": pred_dir - centre,
        "pred_motion": pred_dir - pred_dir.mean(0),
    }


def pause_separation(clip: ClipData, opening: np.ndarray) -> dict[str, float] | None:
    """ROC AUC of ``opening`` (N,) for the clip's speech vs pause frames."""
    speech = clip.frame_db >= clip.level_db - SPEECH_WITHIN_DB
    pause = clip.frame_db < clip.level_db - PAUSE_BELOW_DB
    if speech.sum() < 5 or pause.sum() < 5:
        return None
    return {"auc": _auc(opening[speech], opening[pause]), "speech_frames": int(speech.sum()), "pause_frames": int(pause.sum())}


def _fold_predictions(train_paths: Sequence[Path], held: Sequence[ClipData], run: Path, options: LosoOptions) -> list[np.ndarray]:
    """Train on ``train_paths`` into ``run``; the network's prediction (N, d) of each held clip."""
    from audio2exp.cross_validation import configured
    from audio2exp.predict import Audio2ExpPredictor, Speaker
    from audio2exp.train import train

    config, net = configured(options.preset, options.overrides)
    train(list(train_paths), run, train_config=replace(config, holdout=0.0, fold=None, seed=options.seed), net_config=net, feature_config=options.features)
    predictor = Audio2ExpPredictor.load(run)
    return [predictor.predict_features(c.features, (c.frame_db, c.level_db), Speaker(reference_expressions=c.expression[c.valid])) for c in held]


def loso_evaluate(clip_paths: Sequence[str | Path], work: str | Path, options: LosoOptions = LosoOptions()) -> dict[str, Any]:
    """Leave-one-speaker-out over ``clip_paths`` (runs written under ``work``): per clip,
    per speaker and pooled measures of the network and the baselines (module docstring)."""
    extractor = make_extractor(options.features)
    clips = {c.name: c for c in load_training_clips([Path(p) for p in clip_paths], extractor, holdout=0.0)}
    first = next(iter(clips.values()))
    directions = directions_for(first.meta["expression_space"]["id"], first.expression.shape[1], opening_readout(list(clips.values())))
    mouth = mouth_components_of(list(clips.values()), None)
    predictions: dict[str, dict[str, np.ndarray]] = {}
    for k, (train_names, held_names) in enumerate(leave_one_speaker_out(list(clips), options.speakers, options.max_folds)):
        held = [clips[n] for n in held_names]
        train_clips = [clips[n] for n in train_names]
        net = _fold_predictions([c.path for c in train_clips], held, Path(work) / f"fold{k}", options)
        base = baselines(train_clips, held)
        for i, c in enumerate(held):
            predictions[c.name] = {"audio2exp": net[i], **{m: base[m][i] for m in base}}
    return score_loso(list(clips.values()), predictions, directions, mouth, options)


def score_loso(clips: Sequence[ClipData], predictions: Mapping[str, Mapping[str, np.ndarray]], directions: SpeechDirections, mouth: Sequence[int], options: LosoOptions) -> dict[str, Any]:
    """The report of :func:`loso_evaluate` from each clip's predictions {clip: {method: (N, d)}}."""
    names = list(directions.names)
    predictions = {c.name: {**predictions[c.name], "audio2exp_scaled": scale_calibrated(c, predictions[c.name]["audio2exp"], directions)} for c in clips}
    frames: dict[str, dict[str, Any]] = {m: {} for m in METHODS}  # method -> clip -> frame arrays
    for c in clips:
        for m in METHODS:
            f = _clip_frames(c, predictions[c.name][m], directions, mouth)
            if f is not None:
                frames[m][c.name] = f
    scored = [c.name for c in clips if c.name in frames["audio2exp"]]
    speakers: dict[str, list[str]] = {}
    for name in scored:
        speakers.setdefault(speaker_of(name, options.speakers), []).append(name)
    report: dict[str, Any] = {"protocol": "leave-one-speaker-out" if options.max_folds is None else f"{options.max_folds} speaker-disjoint folds", "directions": names, "clips": len(scored), "speakers": len(speakers)}
    for m in METHODS:
        per_clip = {n: _measures([frames[m][n]], names) for n in scored}
        report[m] = {
            "pooled": _measures([frames[m][n] for n in scored], names),
            "clip_average": {k: float(np.mean([v[k] for v in per_clip.values()])) for k in per_clip[scored[0]]},
            "per_speaker": {s: _measures([frames[m][n] for n in group], names) for s, group in speakers.items()},
            "per_clip": per_clip,
        }
    report["speakers_where_audio2exp_beats"] = _wins(report, names)
    report["speech_vs_pause"] = _pauses(clips, predictions, directions)
    return report


def _wins(report: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Per direction: the speakers whose correlation the network beats, per baseline and both."""
    out: dict[str, Any] = {}
    speakers = list(report["audio2exp"]["per_speaker"])
    for name in [f"{n}_r" for n in names] + ["opening_r"]:
        net = {s: report["audio2exp"]["per_speaker"][s][name] for s in speakers}
        env = {s: report["envelope_linear"]["per_speaker"][s][name] for s in speakers}
        ridge = {s: report["ridge_features"]["per_speaker"][s][name] for s in speakers}
        out[name] = {
            "over_envelope": sum(net[s] > env[s] for s in speakers),
            "over_ridge": sum(net[s] > ridge[s] for s in speakers),
            "over_both": sum(net[s] > max(env[s], ridge[s]) for s in speakers),
            "of": len(speakers),
        }
    out["mouth_mse_below_clip_mean"] = sum(report["audio2exp"]["per_speaker"][s]["mouth_mse"] <= report["mean_expression"]["per_speaker"][s]["mouth_mse"] for s in speakers)
    return out


def _pauses(clips: Sequence[ClipData], predictions: Mapping[str, Mapping[str, np.ndarray]], directions: SpeechDirections) -> dict[str, Any]:
    """Speech-vs-pause AUC of the predicted opening on the :data:`PAUSE_CLIPS` (and of the
    tracked opening, for reference)."""
    out = {}
    for c in clips:
        if not c.name.startswith(PAUSE_CLIPS):
            continue
        entry = {m: pause_separation(c, directions.values(predictions[c.name][m])[:, 0]) for m in ("audio2exp", "envelope_linear", "ridge_features") if m in predictions[c.name]}
        entry["tracked"] = pause_separation(c, np.where(c.valid, c.opening, np.median(c.opening)))
        out[c.name] = entry
    return out


def evaluate_on_unseen(checkpoint: str | Path, train_paths: Sequence[str | Path], held_paths: Sequence[str | Path], speakers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A trained checkpoint on the clips of speakers it never heard (``held_paths``), scored
    like one leave-one-speaker-out fold; the baselines are fitted on ``train_paths`` (the
    checkpoint's training clips)."""
    from audio2exp.predict import Audio2ExpPredictor, Speaker

    predictor = Audio2ExpPredictor.load(checkpoint)
    train_clips = load_training_clips(list(train_paths), predictor.extractor, holdout=0.0)
    held = load_training_clips(list(held_paths), predictor.extractor, holdout=0.0)
    heard = {speaker_of(n, speakers) for n in predictor.identities}
    overlap = sorted(c.name for c in held if speaker_of(c.name, speakers) in heard)
    if overlap:
        raise ValueError(f"the checkpoint was trained on the speakers of {overlap}")
    base = baselines(train_clips, held)
    predictions = {}
    for i, c in enumerate(held):
        net = predictor.predict_features(c.features, (c.frame_db, c.level_db), Speaker(reference_expressions=c.expression[c.valid]))
        predictions[c.name] = {"audio2exp": net, **{m: base[m][i] for m in base}}
    report = score_loso(held, predictions, predictor.speech_directions, predictor.mouth_components, LosoOptions(speakers=dict(speakers or {})))
    report["protocol"] = f"checkpoint {checkpoint} on unseen speakers"
    return report
