"""(audio features, tracked expression) pairs from prepared clips, and what we measure on them.

The mouth opening of a frame is the distance of the inner-lip face-mesh points 13 and 14
divided by the outer eye-corner distance (33-263), from ``clip.landmarks2d``; it does not
change with the distance to the camera.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from audio2exp.audio import SILENCE_DBFS, array_source, measure_level, normalising_gain
from audio2exp.feature_cache import cached
from audio2exp.features import FeatureExtractor, stream_features
from minerf.prepare.expression_space import mouth_opening
from minerf_base.clip import PreparedClip, load_clip
from minerf_base.errors import InputError

log = logging.getLogger(__name__)

# A frame this far below its file's level (dB) is a pause for the rest-expression estimate.
PAUSE_BELOW_LEVEL_DB = 30.0
# Cross-validation: frames this close to a held-out block are not trained on either (the
# tracked expression of neighbouring frames is nearly the same).
FOLD_GAP_FRAMES = 5


def split_frames(num_frames: int, holdout: float = 0.1, fold: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) frame indices of a clip: the last ``holdout`` fraction is the test set
    (the paper's split; none with ``holdout`` 0), or with ``fold = (k, K)`` the k-th of K equal blocks, with
    ``FOLD_GAP_FRAMES`` left out on each side of it."""
    idx = np.arange(num_frames)
    if fold is None:
        if holdout <= 0:  # train on every frame (the held-out frames are other clips)
            return idx, idx[:0]
        n_test = max(1, int(round(num_frames * holdout)))
        return idx[:-n_test], idx[-n_test:]
    k, folds = int(fold[0]), int(fold[1])
    if not 0 <= k < folds or folds < 2:
        raise InputError(None, f"fold {k} of {folds} does not exist", "pass k in 0..K-1 with K >= 2")
    lo, hi = k * num_frames // folds, (k + 1) * num_frames // folds
    train = idx[(idx < lo - FOLD_GAP_FRAMES) | (idx >= hi + FOLD_GAP_FRAMES)]
    return train, idx[lo:hi]


def declared_mouth_components(meta: dict) -> list[int] | None:
    """The mouth components a clip's expression space declares (clip.json), if any."""
    comps = meta.get("expression_space", {}).get("mouth_components")
    return None if comps is None else [int(k) for k in comps]


def mouth_components_from_data(expression: np.ndarray, opening: np.ndarray, threshold: float = 0.3) -> list[int]:
    """Components whose |correlation| with the mouth opening reaches ``threshold`` (at least one).

    Fallback for expression spaces that do not declare their mouth components.
    ``expression (N, d)``, ``opening (N,)``.
    """
    e = expression - expression.mean(0)
    o = opening - opening.mean()
    corr = np.abs(e.T @ o) / (np.linalg.norm(e, axis=0) * np.linalg.norm(o) + 1e-12)
    picked = [int(k) for k in np.nonzero(corr >= threshold)[0]]
    return picked or [int(np.argmax(corr))]


@dataclass
class ClipData:
    """One clip's training material. Frame arrays have N rows (the clip's frames)."""

    name: str
    path: Path
    features: np.ndarray  # (N, F) audio features of each frame
    expression: np.ndarray  # (N, d) tracked expressions
    opening: np.ndarray  # (N,) tracked mouth opening
    frame_db: np.ndarray  # (N,) raw audio level of each frame, dBFS
    level_db: float  # the clip's speech level (95th percentile), dBFS
    valid: np.ndarray  # (N,) bool: the face was tracked
    train: np.ndarray  # frame indices used for training
    test: np.ndarray  # held-out frame indices (last 10 %)
    meta: dict

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def envelope(self) -> np.ndarray:
        """Level-normalised frame loudness (dB relative to the clip's level, floored at -60)."""
        ref = self.level_db if np.isfinite(self.level_db) else 0.0
        return np.maximum(self.frame_db - ref, -60.0)

    def pauses(self) -> np.ndarray:
        """(N,) bool: frames of silence (absolute) or far below the clip's level."""
        return (self.frame_db < SILENCE_DBFS) | (self.frame_db < self.level_db - PAUSE_BELOW_LEVEL_DB)


def features_of(samples: np.ndarray, extractor: FeatureExtractor, name: str = "<array>") -> tuple[np.ndarray, np.ndarray, float]:
    """``(features (T, F), frame_db (T,), level)`` of a short 16 kHz waveform, level-normalised.

    The same path as prediction (:func:`audio2exp.features.stream_features`), one chunk;
    cached by content (:mod:`audio2exp.feature_cache`).
    """

    def compute() -> tuple[np.ndarray, np.ndarray, float]:
        source = array_source(samples, name=name)
        level, frame_db = measure_level(source)
        feats = np.concatenate([f for _, f in stream_features(source, extractor, normalising_gain(level), chunk_frames=max(1, source.num_frames))])
        return feats, frame_db, level

    return cached(samples, extractor, compute)


def load_clip_data(path: str | Path, extractor: FeatureExtractor, holdout: float = 0.1, expression_space: str | None = None, fold: Sequence[int] | None = None) -> ClipData:
    """Load a prepared clip (with audio) and compute its features; frames split by
    :func:`split_frames`."""
    clip: PreparedClip = load_clip(path, expression_space=expression_space, check_files=False)
    if not clip.has_audio:
        raise InputError(clip.path, "this clip has no audio track, so it cannot teach speech -> expression", "leave it out of audio2exp training or prepare a video with speech")
    samples = clip.audio()
    feats, frame_db, level = features_of(samples, extractor, name=str(clip.path))
    n = clip.num_frames
    feats, frame_db = feats[:n], frame_db[:n]
    train, test = split_frames(n, holdout, fold)
    return ClipData(
        name=clip.name,
        path=clip.path,
        features=feats.astype(np.float32),
        expression=clip.expression.astype(np.float32),
        opening=mouth_opening(clip.landmarks2d).astype(np.float32),
        frame_db=frame_db,
        level_db=level,
        valid=clip.valid.astype(bool),
        train=train,
        test=test,
        meta=clip.meta,
    )


def load_training_clips(paths: Sequence[str | Path], extractor: FeatureExtractor, holdout: float = 0.1, fold: Sequence[int] | None = None) -> list[ClipData]:
    """Load every clip with audio (clips without are skipped with a warning); all must share
    one expression space."""
    if not paths:
        raise InputError(None, "no clips given", "pass one or more prepared clip folders (minerf prepare VIDEO -o CLIP_DIR)")
    with_audio = []
    for path in paths:
        if load_clip(path, check_files=False).has_audio:
            with_audio.append(path)
        else:
            log.warning("%s has no audio track: left out of audio2exp training", path)
    if not with_audio:
        raise InputError(paths[0], "none of the clips has an audio track", "prepare videos with speech")
    clips = [load_clip_data(with_audio[0], extractor, holdout, fold=fold)]
    space = clips[0].meta["expression_space"]["id"]
    for path in with_audio[1:]:
        clips.append(load_clip_data(path, extractor, holdout, expression_space=space, fold=fold))
    names = [c.name for c in clips]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise InputError(None, f"several clips share the name(s) {clash}", "give every clip folder its own name (the name identifies the speaker)")
    return clips


def opening_readout(clips: Sequence[ClipData], ridge: float = 1e-3) -> np.ndarray:
    """Linear map from expression to mouth opening fitted on training frames: (d + 1,) = w, b.

    Each clip is centred first, so the map is what expression changes do to the opening.
    """
    xs, ys = [], []
    for c in clips:
        idx = c.train[c.valid[c.train]]
        x = c.expression[idx] - c.expression[idx].mean(0)
        xs.append(x)
        ys.append(c.opening[idx] - c.opening[idx].mean())
    x = np.concatenate(xs).astype(np.float64)
    y = np.concatenate(ys).astype(np.float64)
    w = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ y)
    mean_e = np.concatenate([c.expression[c.train] for c in clips]).mean(0)
    mean_o = float(np.mean(np.concatenate([c.opening[c.train] for c in clips])))
    return np.concatenate([w, [mean_o - mean_e @ w]]).astype(np.float32)


def apply_readout(readout: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """Mouth opening predicted from expressions: (T, d) -> (T,)."""
    return expression @ readout[:-1] + readout[-1]
