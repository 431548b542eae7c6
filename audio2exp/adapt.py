"""Per-speaker calibration: fit the network's mouth motion to one speaker's own tracked motion.

A dubbing job always has the source clip: the person's own speech and their tracked
expressions. :func:`fit_calibration` fits, on those frames only, a ridge-regularised affine
map from the predicted mouth coefficients (standardised) to the tracked ones;
:meth:`SpeakerCalibration.apply` then corrects predictions for new speech of that person.
The other coefficients are left as predicted.

A source video whose sound is out of step with its lips (common in clips from the web)
pairs each frame with the wrong speech and teaches the calibration to damp the mouth. With
``align``, :func:`calibrate_on_clip` first finds the clip's audio/video offset, the shift at
which the predicted mouth opening correlates best with the tracked one (the rule of
:mod:`audio2exp.av_offset`: kept only when it beats no shift clearly), fits on the
re-aligned pairs and records the ``offset``. It is off by default: on a few seconds of real
speech the correlation curve of one clip is noisy enough to peak at a wrong shift.

    calibration = calibrate_on_clip(predictor, "clips/may")        # or a frame subset
    calibration.save("may.calibration.json")
    e = predictor.predict_file("speech_es.wav", Speaker(reference_expressions=..., calibration=calibration))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audio2exp.calibration import DEFAULT_RIDGE, SpeakerCalibration, fit_calibration
from audio2exp.predict import Audio2ExpPredictor
from minerf_base.errors import InputError

__all__ = ["SpeakerCalibration", "calibrate_on_clip", "fit_calibration"]


def calibrate_on_clip(predictor: Audio2ExpPredictor, clip: Any, frames: np.ndarray | None = None, ridge: float = DEFAULT_RIDGE, align: bool = False) -> SpeakerCalibration:
    """Calibration of ``predictor`` for the speaker of a prepared clip (path or PreparedClip),
    fitted on its tracked ``frames`` (indices; default all) with their own speech; with
    ``align`` the clip's audio/video offset is found and undone first (module doc)."""
    from audio2exp.av_offset import lag_correlations, pick_offset
    from minerf.prepare.expression_space import mouth_opening
    from minerf_base.clip import load_clip

    if not hasattr(clip, "expression"):
        clip = load_clip(clip, check_files=False)
    predictor.check_clip(clip.meta, clip.path)
    if not clip.has_audio:
        raise InputError(clip.path, "the clip has no audio track, so the network's output cannot be paired with its expressions", "calibrate on a clip of the speaker talking")
    use = np.arange(clip.num_frames) if frames is None else np.asarray(frames)
    use = use[clip.valid.astype(bool)[use]]
    predicted = predictor.predict(clip.audio(), speaker=predictor.speaker_for(clip.name, clip.expression[use]))[: clip.num_frames]
    offset = 0
    if align:
        tracked = np.nan_to_num(mouth_opening(clip.landmarks2d).astype(np.float64))
        offset = pick_offset(lag_correlations(tracked, predictor.opening(predicted).astype(np.float64), use))
    use = use[(use + offset >= 0) & (use + offset < len(predicted))]
    calibration = fit_calibration(predicted[use + offset], clip.expression[use], predictor.mouth_components, ridge)
    calibration.offset = offset
    return calibration
