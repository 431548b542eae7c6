"""Which MI-NeRF identity speaks in a dub: the run's own when it was trained on this very
video, otherwise a personalized one (``minerf.train.personalize``, paper Sec. 3.4), cached
per (run checkpoint, video) so the next dub of the same video reuses it."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from minerf.run import LoadedRun, latest_checkpoint, load_run
from minerf.train.export import clip_source_sha
from minerf.render.conditioning import frame_latent_codes
from minerf_base.clip import PreparedClip

log = logging.getLogger(__name__)


def run_fingerprint(run: LoadedRun) -> str:
    """Short id of the exact checkpoint a run folder holds."""
    record = json.dumps({k: run.meta.get(k) for k in ("iteration", "identities", "num_latents", "weights_bytes", "clips")}, sort_keys=True, default=str)
    return hashlib.sha256(record.encode()).hexdigest()[:12]


def known_identity(run: LoadedRun, clip: PreparedClip) -> tuple[str, int] | None:
    """(identity name, latent offset of that clip) when ``run`` was trained on this very video
    (same source file content and frame count), else None."""
    sha = clip.source_sha256
    offset = 0
    for record in run.meta["clips"]:
        if sha and int(record["num_frames"]) == clip.num_frames and clip_source_sha(record) == sha:
            return record["identity"], offset
        offset += int(record["num_frames"])
    return None


PERSONALIZATION_VERSION = 3
"""Part of the cache key: raised when the same settings start to give another model (2: the
new person's codes are drawn from the personalization's seed, no longer from whatever the
process had drawn before; 3: the new identity code starts at the mean of the trained ones)."""


def personalized_folder(run: LoadedRun, clip: PreparedClip, steps: int, cache: Path, seed: int = 0) -> Path:
    """Where the personalization of ``clip``'s person from ``run`` with ``steps`` steps and
    ``seed`` is cached (one folder per base checkpoint, video content, resolution and settings)."""
    from minerf.train.personalize import personalize_defaults

    sha = (clip.source_sha256 or "nosha")[:16]
    field_lr, mouth = personalize_defaults(run.config)
    seeded = f"-seed{seed}" if seed else ""
    return cache / f"{run_fingerprint(run)}-{sha}-{clip.resolution}-s{steps}-lr{field_lr:g}-m{mouth:g}{seeded}-v{PERSONALIZATION_VERSION}"


def pending_steps(run: LoadedRun, clip: PreparedClip, steps: int, cache: Path, seed: int = 0) -> int:
    """Personalization steps :func:`resolve_identity` will train: 0 when ``run`` knows the
    person or the personalized model is cached, else ``steps``."""
    if known_identity(run, clip) is not None or latest_checkpoint(personalized_folder(run, clip, steps, cache, seed)) is not None:
        return 0
    return steps


def resolve_identity(run: LoadedRun, clip: PreparedClip, steps: int, cache: Path, progress: bool, seed: int = 0) -> tuple[LoadedRun, str, int, bool]:
    """(run, identity, latent offset, personalized?) for the person of ``clip``; a person the
    run does not know is personalized (``steps`` steps, ``seed``) once per video and the
    result cached in ``cache``."""
    from minerf.train.personalize import personalize, personalize_defaults

    found = known_identity(run, clip)
    if found is not None:
        return run, found[0], found[1], False
    field_lr, mouth = personalize_defaults(run.config)
    folder = personalized_folder(run, clip, steps, cache, seed)
    device = run.model.identity_codes.device
    if latest_checkpoint(folder) is None:
        personalize(run.path, clip.path, folder, iterations=steps, field_lr=field_lr, mouth_fraction=mouth, seed=seed, device=str(device), progress=progress, evaluate=False)
    else:
        log.info("reusing the personalized model in %s", folder)
    tuned = load_run(folder, device)
    found = known_identity(tuned, clip)
    if found is None:  # pragma: no cover - personalize always appends the clip
        raise RuntimeError(f"{folder} does not hold the personalized clip {clip.path}")
    return tuned, found[0], found[1], True


def frame_latents(run: LoadedRun, clip: PreparedClip, offset: int, frames: np.ndarray) -> torch.Tensor | None:
    """Latent codes (T, 32) for ``frames`` of ``clip``, whose codes start at ``offset``: the
    renderer's rule (:func:`minerf.render.conditioning.frame_latent_codes`): held-out frames,
    whose codes never trained, take the mean trained code."""
    if not run.config.use_latent:
        return None
    trained = len(clip.split(float(run.meta.get("holdout", 0.1)))[0])
    return frame_latent_codes(run.model, offset, trained, frames, clip.num_frames, 1)[:, 0].detach()
