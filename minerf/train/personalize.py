"""Personalization (paper Sec. 3.4): adapt a trained MI-NeRF to one (new or known) person.

The interaction module stays frozen. For a new person a fresh identity code and one latent
code per frame of the new clip are learned (at the preset's learning rate) while the fields
are fine-tuned at a small learning rate. The result is a new run folder that knows every old
identity plus the new one, so ``minerf render`` works on it unchanged.

Defaults depend on the field (:func:`personalize_defaults`): the paper's MLP fields keep the
paper's 1e-5 and the run's ray sampling. Grid fields (tri-plane ``fast``, ``fast-hash``, ``tiny``) are tuned for a
CPU budget of hundreds of steps: at 1e-5 their grids hardly move in that time, and an unseen
face stays a smeared mix of the training people, so they use 1e-3 and send a quarter of the
rays to the lips (docs/minerf-model.md has the measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from checkpoints.loop import LoopConfig, TrainLoop
from minerf.data import MultiClipData
from minerf.eval.heldout import evaluate_heldout
from minerf.model.encodings import plane_roughness
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf.run import LoadedRun, latest_checkpoint, load_run, save_run_checkpoint
from minerf.train.trainer import NeRFJob, StepRule
from minerf_base.clip import PreparedClip, load_clip
from minerf_base.errors import InputError


@dataclass
class PersonalizeOptions:
    """How to personalize (the model comes from the base run)."""

    iterations: int = 1000
    """Fine-tuning steps."""
    field_lr: float | None = None
    """Learning rate of the fields (default: :func:`personalize_defaults`)."""
    code_lr: float | None = None
    """Learning rate of the new identity and latent codes (default: the preset's)."""
    mouth_fraction: float | None = None
    """Share of rays on the lips while tuning (default: :func:`personalize_defaults`)."""
    lower_fraction: float = 0.0
    """Share of rays on the lower face that a dub re-renders (:func:`minerf.data.lower_face_box`),
    besides the lips' share."""
    smoothness: float = 0.0
    """Weight of the penalty on rough changes of the feature planes (:func:`plane_change_penalty`;
    0: none, the default: at 1 it cost the field's mouth following on a real clip)."""
    seed: int = 0
    """Seed of the ray sampling and of the new codes' initialisation."""
    identity_init: str = "mean"
    """Where the new identity code starts: ``"mean"`` (the default), the mean of the run's
    trained identity codes; ``"random"``, drawn as the model initialises codes (from ``seed``).
    On the unseen `vox_00015` (docs/dubbing.md) a random start let the seed move the held-out
    frames' opening r from 0.75 to 0.04; from the mean it was 0.82 / 0.84 for seeds 0 / 1."""
    device: str | None = None
    """``cpu``, ``cuda`` ... (default: cuda when available)."""
    progress: bool = True
    """Show a progress bar."""
    evaluate: bool = True
    """Report held-out PSNR / SSIM before and after (renders the held-out frames)."""
    name: str | None = None
    """The new identity's name (default: the clip's name, made unique with -2, -3...)."""


def personalize_defaults(config: MINeRFConfig) -> tuple[float, float]:
    """(field learning rate, mouth ray fraction) used when :func:`personalize` is not told."""
    if config.field.encoding in ("hash", "triplane"):
        return 1e-3, max(config.mouth_fraction, 0.25)
    return 1e-5, config.mouth_fraction


def plane_change_penalty(model: MINeRF, weight: float) -> Callable[[], torch.Tensor] | None:
    """``weight`` x the roughness (:func:`~minerf.model.encodings.plane_roughness`) of how far
    each feature plane of the fields has moved from its value now, summed over the planes;
    None for ``weight`` 0 or a field without planes. Fine-tuned on one short video, the planes
    pick up cell-sized changes that only that video's frames constrain, which show as
    speckle on the cheeks under an expression the video holds few of; a smooth change is free."""
    planes = [p for name, p in model.named_parameters() if "planes" in name.split(".") and p.requires_grad]
    if weight <= 0 or not planes:
        return None
    start = [p.detach().clone() for p in planes]
    return lambda: weight * sum(plane_roughness(p - p0) for p, p0 in zip(planes, start))


def _new_identity_name(base: LoadedRun, clip: PreparedClip, name: str | None) -> str:
    new_name = name or clip.name
    if name is None:
        k = 1
        while new_name in base.identities:
            k += 1
            new_name = f"{clip.name}-{k}"
    if new_name in base.identities:
        raise InputError(clip.path, f"identity '{new_name}' is already in the model", "choose another name")
    return new_name


IDENTITY_INITS = ("mean", "random")
"""The choices of :attr:`PersonalizeOptions.identity_init`."""


def _extended_model(base: LoadedRun, new_frames: int, device: torch.device, seed: int, identity_init: str) -> MINeRF:
    """The base model with one more identity code and ``new_frames`` more latent codes
    (copied weights; the new codes drawn as the model initialises them, from ``seed``, so a
    personalization does not depend on what else the process drew before; with
    ``identity_init`` "mean" the new identity code is then set to the mean of the trained
    ones), its interaction module frozen."""
    model = MINeRF(base.config, base.expression_space["dim"], len(base.identities) + 1, int(base.meta["num_latents"]) + new_frames).to(device)
    state = base.model.state_dict()
    draw = torch.Generator().manual_seed(seed)
    init_std = {"identity_codes": base.config.identity_init_std, "latent_codes": base.config.latent_init_std}
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name in init_std:
                old = state[name].shape[0]
                value[:old] = state[name]
                value[old:] = (torch.randn(value[old:].shape, generator=draw) * init_std[name]).to(value)
            else:
                value.copy_(state[name])
        if identity_init == "mean":
            model.identity_codes[-1] = model.identity_codes[:-1].mean(dim=0)
    for p in model.interaction.parameters():
        p.requires_grad_(False)
    return model


def _personalized_meta(base: LoadedRun, clip: PreparedClip, names: list[str], settings: dict[str, Any]) -> dict[str, Any]:
    record = {"name": clip.name, "path": str(clip.path.resolve()), "source_sha256": clip.source_sha256, "num_frames": clip.num_frames, "identity": names[-1]}
    return {
        **base.meta,
        "identities": names,
        "num_latents": int(base.meta["num_latents"]) + clip.num_frames,
        "clips": base.meta["clips"] + [record],
        "personalized_from": str(Path(base.path).resolve()),
        "personalization": settings,
    }


def personalize(run_dir: str | Path, clip_dir: str | Path, out_dir: str | Path, options: PersonalizeOptions | None = None, **overrides: Any) -> dict[str, Any]:
    """Add the person of ``clip_dir`` to the run in ``run_dir``; write the result to ``out_dir``.

    ``overrides``: fields of :class:`PersonalizeOptions` to change (``iterations=200``...)."""
    opts = replace(options or PersonalizeOptions(), **overrides)
    if opts.identity_init not in IDENTITY_INITS:
        raise ValueError(f"identity_init must be one of {IDENTITY_INITS}, not {opts.identity_init!r}")
    out_dir = Path(out_dir)
    if latest_checkpoint(out_dir) is not None:
        raise InputError(out_dir, "already holds a run", "choose an empty output folder")
    dev = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base = load_run(run_dir, dev)
    clip = load_clip(clip_dir, expression_space=base.expression_space["id"])
    names = base.identities + [_new_identity_name(base, clip, opts.name)]
    default_lr, default_mouth = personalize_defaults(base.config)
    field_lr = default_lr if opts.field_lr is None else opts.field_lr
    mouth_fraction = default_mouth if opts.mouth_fraction is None else opts.mouth_fraction
    model = _extended_model(base, clip.num_frames, dev, opts.seed, opts.identity_init)
    optimizer = torch.optim.Adam([{"params": [model.identity_codes, model.latent_codes], "lr": opts.code_lr or base.config.lr}, {"params": model.field_parameters(), "lr": field_lr}])
    data = MultiClipData([clip], names, [len(names) - 1], float(base.meta.get("holdout", 0.1)), latent_base=int(base.meta["num_latents"]))
    job = NeRFJob(model, data, StepRule(total=None, smooth=base.smoothing_active, mouth_fraction=mouth_fraction, lower_fraction=opts.lower_fraction), optimizer, opts.seed)
    job.extra_loss = plane_change_penalty(model, opts.smoothness)
    before = evaluate_heldout(model, data, base.smoothing_active) if opts.evaluate else None
    model.train()
    result = TrainLoop(job, LoopConfig(total_steps=opts.iterations, progress=opts.progress, description="personalize")).run()
    settings = {"iterations": opts.iterations, "field_lr": field_lr, "mouth_fraction": mouth_fraction, "lower_fraction": opts.lower_fraction, "smoothness": opts.smoothness, "identity_init": opts.identity_init, "identity": names[-1]}
    save_run_checkpoint(out_dir, model, base.iteration, _personalized_meta(base, clip, names, settings))
    after = evaluate_heldout(model, data, base.smoothing_active) if opts.evaluate else None
    return {"run_dir": str(out_dir), "identity": names[-1], "seconds": result.seconds, "eval_before": before, "eval": after}
