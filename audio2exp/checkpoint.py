"""audio2exp checkpoints: weights + the front end, expression space and identities they need.

``audio2exp train`` writes a run folder (:mod:`checkpoints.run_folder`: ``checkpoints/step_N/``
+ ``latest.json``); :func:`load_model` takes such a run folder or one checkpoint folder (the
shipped ``audio2exp-whisper-pd19`` / ``audio2exp-grid8``, a run folder of an older version, which held the checkpoint
files at its top). ``checkpoint.json`` (kind ``audio2exp``, version 1) carries::

    config             Audio2ExpConfig (network shape)
    features           FeatureConfig (logmel / hf encoder, layer / whisper encoder)
    expression_space   {"id", "dim", "mouth_components"} of the training clips
    identities         names of the training clips, in identity-index order
    opening_readout    (d + 1) linear map expression -> mouth opening (w..., b)
    speech_directions  {"names", "weights" (k x d)}: the speech-driven readouts trained toward
                       (audio2exp.directions; absent in older checkpoints)
    training           step, steps, loss, clips, hold-out fraction, config (, av_offsets)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from audio2exp.model import Audio2ExpConfig, Audio2ExpNet
from checkpoints import (
    CheckpointError,
    RunFormat,
    check_state_dict,
    read_checkpoint,
    save_checkpoint,
)

KIND = "audio2exp"
VERSION = 1
RUN_FORMAT = RunFormat(kind=KIND, version=VERSION, readable=(VERSION,), writer="audio2exp train")


def save_model(directory: str | Path, model: Audio2ExpNet, meta: dict[str, Any]) -> Path:
    """Write ``model`` with ``meta`` (features, expression_space, identities, ...) atomically
    as one checkpoint folder (weights only)."""
    record = {"config": model.config.to_dict(), **meta}
    return save_checkpoint(directory, model.state_dict(), kind=KIND, version=VERSION, meta=record)


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> tuple[Audio2ExpNet, dict[str, Any]]:
    """Load a trained network and its metadata from a run folder (its latest checkpoint) or a
    checkpoint folder; raise CheckpointError naming what is wrong."""
    loaded = read_checkpoint(directory, RUN_FORMAT)
    directory, tensors, meta = loaded.folder, loaded.tensors, loaded.meta
    for key in ("config", "features", "expression_space", "identities", "opening_readout"):
        if key not in meta:
            raise CheckpointError(directory, f"checkpoint.json lacks '{key}'", "re-train with `audio2exp train`")
    model = Audio2ExpNet(Audio2ExpConfig.from_dict(meta["config"]))
    check_state_dict(directory, model, tensors)
    model.load_state_dict(tensors)
    return model.to(device).eval(), meta


def check_expression_space(checkpoint: str | Path, meta: dict[str, Any], clip_meta: dict[str, Any], clip_path: str | Path) -> None:
    """Raise unless the clip and the checkpoint use the same expression space (id and dim)."""
    want, have = meta["expression_space"], clip_meta["expression_space"]
    if want["id"] != have["id"] or int(want["dim"]) != int(have["dim"]):
        raise CheckpointError(
            checkpoint,
            f"this audio2exp checkpoint predicts expression space '{want['id']}' (d={want['dim']}) but clip {clip_path} uses '{have['id']}' (d={have['dim']})",
            "train audio2exp on clips prepared with the same expression space, or prepare the clip with the space the checkpoint was trained on",
        )


def check_features(checkpoint: str | Path, meta: dict[str, Any], extractor: Any) -> None:
    """Raise unless ``extractor`` is the kind of front end the checkpoint was trained on
    (``meta["features"]["kind"]``) and gives its number of features per frame."""
    want = str(meta["features"].get("kind", "logmel"))
    have = str(extractor.config.kind)
    if want != have:
        raise CheckpointError(
            checkpoint,
            f"this audio2exp checkpoint was trained on '{want}' features, not '{have}'",
            f"predict with the '{want}' front end it records, or train a checkpoint on '{have}' features (`audio2exp train --features {have}`)",
        )
    dim = int(meta["config"]["feature_dim"])
    if int(extractor.dim) != dim:
        raise CheckpointError(
            checkpoint,
            f"the '{have}' front end gives {extractor.dim} features per frame, the checkpoint was trained on {dim}",
            "use the encoder the checkpoint was trained with (e.g. Whisper base: 512 per frame)",
        )
