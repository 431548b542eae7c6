"""The MI-NeRF that ships (checkpoints/shipped/minerf-talk17-fast, the tri-plane ``fast``
preset on 17 rights-clear identities): loads through the normal path, recognises a GRID video
it was trained on (no personalization needed), renders that person's held-out frame close to
the real one, and its identity codes matter. The earlier hash-grid model
(minerf-grid8-fast, kept for the old-vs-new benchmarks) still loads and renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

from checkpoints import has_train_state
from checkpoints.shipped import SHIPPED, SHIPPED_DIR, shipped_checkpoint
from minerf.eval.metrics import psnr
from minerf.render.views import View, crop_box, render_view
from minerf.run import latest_checkpoint, load_run
from minerf_base.clip import load_clip
from minerf_dub.identity import known_identity

OLD = SHIPPED_DIR / "minerf-grid8-fast"
GRID = ["grid_bbaf2n", "grid_brbk7n", "grid_lbbc2a", "grid_lwbsza", "grid_s2_swwp2s", "grid_sbia1a", "grid_sbwe5n", "grid_swiz3n"]


def test_shipped_minerf_is_small_weights_only_and_knows_the_grid_identities():
    run = load_run(shipped_checkpoint("minerf"))
    assert shipped_checkpoint("minerf") == SHIPPED_DIR / SHIPPED["minerf"]
    assert set(GRID) <= set(run.identities) and len(run.identities) == 17
    assert "obama_address_a_47s_256px" in run.identities  # three sessions of one man: one identity
    assert not {"obama_address_b_30s_256px_30fps", "obama_address_c_20s_256px_30fps"} & set(run.identities)
    assert run.expression_space == {"id": "mp468-pca-v1", "dim": 24}
    assert run.config.field.encoding == "triplane" and run.model.occupancy is not None and run.model.occupancy.ready
    weights = latest_checkpoint(shipped_checkpoint("minerf")) / "weights.safetensors"
    # weights only (minerf export): no optimizer or sampler state; the occupancy grid travels with them
    assert not has_train_state(run.checkpoint)
    with safe_open(str(weights), "pt") as fh:
        names = set(fh.keys())
    assert "occupancy.density" in names and not any("exp_avg" in n for n in names)
    assert weights.stat().st_size < 12_000_000
    assert all(rec.get("source_sha256") for rec in run.meta["clips"])


def _render(run, clip, ident: int, offset: int, t: int) -> np.ndarray:
    model = run.model
    train_frames = clip.split(0.1)[0]
    latent = model.latent_codes[offset + train_frames[0] : offset + train_frames[-1] + 1].mean(dim=0)
    cond = model.condition(model.identity_codes[ident][None], torch.from_numpy(clip.expression[t][None, None]).float(), latent[None, None], False)[0]
    box = crop_box(clip.face_box[t], clip.resolution)
    with torch.no_grad():
        out = render_view(model, View.from_arrays(clip.pose[t], clip.intrinsics, cond, clip.background(t)), box)
    return out["rgb"].numpy(), box


@pytest.mark.parametrize("run_dir", [None, OLD], ids=["shipped", "old-hash-grid"])
@pytest.mark.parametrize("name", ["grid_swiz3n"])
def test_shipped_minerf_renders_a_known_person_on_a_held_out_frame(prepared_shared_clips, name, run_dir):
    torch.manual_seed(0)
    run = load_run(run_dir or shipped_checkpoint("minerf"))
    clip = load_clip(prepared_shared_clips[name])
    found = known_identity(run, clip)
    assert found is not None and found[0] == name  # same source video: no personalization
    ident, offset = run.identity_index(name), found[1]
    t = clip.num_frames - 1  # held out in training
    own, box = _render(run, clip, ident, offset, t)
    other, _ = _render(run, clip, run.identity_index(GRID[(GRID.index(name) + 4) % len(GRID)]), offset, t)
    x0, y0, x1, y1 = box
    real = clip.frame(t)[y0:y1, x0:x1].astype(np.float32) / 255
    assert psnr(own, real) > 23.0
    assert psnr(other, real) < psnr(own, real) - 2.0


def test_shipped_minerf_renders_the_same_frame_under_bfloat16_autocast(prepared_shared_clips, monkeypatch):
    """What CUDA renders with (the preset's bfloat16 autocast), here under the CPU's autocast:
    the trained field's picture stays within a grey level of float32 (the occupancy lookup once
    rounded its voxel index in bfloat16 and streaked the face). benchmarks/device_parity.py
    measures CUDA itself."""
    import minerf.model.mi_nerf as mi_nerf

    run = load_run(shipped_checkpoint("minerf"))
    clip = load_clip(prepared_shared_clips["grid_swiz3n"])
    offset = known_identity(run, clip)[1]
    t = clip.num_frames - 1
    full, box = _render(run, clip, run.identity_index("grid_swiz3n"), offset, t)
    monkeypatch.setattr(mi_nerf, "BF16_DEVICE_TYPES", ("cuda", "cpu"))
    assert run.model.cfg.mixed_precision
    half, _ = _render(run, clip, run.identity_index("grid_swiz3n"), offset, t)
    diff = np.abs(half - full) * 255
    assert 0 < diff.mean() < 0.5 and np.percentile(diff, 99) < 3.0
    x0, y0, x1, y1 = box
    real = clip.frame(t)[y0:y1, x0:x1].astype(np.float32) / 255
    assert abs(psnr(half, real) - psnr(full, real)) < 0.1
