"""Rays in head space, sampling, volume rendering, and one training step of every variant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minerf.model import ABLATIONS, MINeRF, get_preset
from minerf.model.mi_nerf import MINeRFConfig
from minerf.model.rays import Rays, box_bounds, pixel_rays, sample_pixels
from minerf.model.render import importance_depths, stratified_depths, volume_render
from minerf_base.clip import HEAD_BOX


def _pose(yaw: float, t=(0.1, -0.2, 7.0)) -> torch.Tensor:
    c, s = np.cos(yaw), np.sin(yaw)
    pose = np.eye(4, dtype=np.float32)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    pose[:3, 3] = t
    return torch.from_numpy(pose)


def test_pixel_rays_hit_the_head_space_point_that_projects_there():
    K = torch.tensor([[70.0, 0, 16], [0, 70.0, 16], [0, 0, 1]])
    pose = _pose(0.3)
    X_head = torch.tensor([[0.2, -0.3, 0.4], [-0.5, 0.6, -0.1]])
    X_cam = X_head @ pose[:3, :3].T + pose[:3, 3]
    uv = (X_cam @ K.T)[:, :2] / X_cam[:, 2:]
    origins, dirs = pixel_rays(pose, K, uv - 0.5)  # pixel_rays adds the half-pixel centre
    # the head-space point lies on the ray: (X - o) is parallel to d
    v = X_head - origins
    cross = torch.linalg.cross(v, dirs)
    assert cross.norm(dim=-1).max() < 1e-4
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(2))
    # batched poses give the same rays
    o2, d2 = pixel_rays(pose.expand(2, 4, 4), K, uv - 0.5)
    torch.testing.assert_close(o2, origins)
    torch.testing.assert_close(d2, dirs)


def test_a_scaled_view_casts_the_rays_of_the_same_camera_at_a_finer_pixel_grid():
    from minerf.render.views import View

    K = torch.tensor([[70.0, 0, 16], [0, 70.0, 16], [0, 0, 1]])
    view = View(_pose(0.3), K, torch.zeros(4), torch.rand(32, 32, 3))
    big = view.scaled(4)
    assert big.background.shape == (128, 128, 3) and view.scaled(1) is view
    # pixel (x, y) of the view is the 4 x 4 block at (4x, 4y): its centre ray is the view's ray
    pix = torch.tensor([[3, 5], [20, 11]])
    o, d = pixel_rays(view.pose, view.intrinsics, pix)
    o4, d4 = pixel_rays(big.pose, big.intrinsics, pix * 4 + 1.5)
    torch.testing.assert_close(o4, o)
    torch.testing.assert_close(d4, d)
    # the background keeps its colours (resized, not replaced)
    torch.testing.assert_close(big.background.mean(), view.background.mean(), atol=1e-3, rtol=0)


def test_box_bounds_enter_and_leave_the_head_box():
    origins = torch.tensor([[0.0, 0.0, -10.0], [5.0, 5.0, -10.0]])
    dirs = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    near, far, hit = box_bounds(origins, dirs)
    assert hit.tolist() == [True, False]
    assert near[0].item() == pytest.approx(10 + HEAD_BOX[0, 2])
    assert far[0].item() == pytest.approx(10 + HEAD_BOX[1, 2])
    assert near[1] == far[1]


def test_95_percent_of_rays_in_face_box():
    g = torch.Generator().manual_seed(0)
    pix = sample_pixels(1000, 64, torch.tensor([10.0, 20.0, 30.0, 40.0]), g)
    inside = ((pix[:, 0] >= 10) & (pix[:, 0] < 30) & (pix[:, 1] >= 20) & (pix[:, 1] < 40)).float().mean()
    assert 0.95 <= inside.item() < 0.99
    assert pix.min() >= 0 and pix.max() < 64


def test_transparent_field_renders_exactly_the_background():
    R, S = 7, 16
    depths = stratified_depths(torch.full((R,), 2.0), torch.full((R,), 5.0), S, perturb=True)
    bg = torch.rand(R, 3)
    out = volume_render(torch.rand(R, S, 3), torch.zeros(R, S), depths, torch.full((R,), 5.0), bg)
    assert torch.equal(out["rgb"], bg)
    assert torch.equal(out["acc"], torch.zeros(R))


def test_opaque_first_sample_hides_the_background():
    R, S = 3, 8
    depths = stratified_depths(torch.zeros(R), torch.ones(R), S, perturb=False)
    sigma = torch.zeros(R, S)
    sigma[:, 0] = 1e4
    rgb = torch.zeros(R, S, 3)
    rgb[:, 0] = torch.tensor([0.2, 0.4, 0.6])
    out = volume_render(rgb, sigma, depths, torch.ones(R), torch.ones(R, 3))
    torch.testing.assert_close(out["rgb"], rgb[:, 0].expand(R, 3), atol=1e-5, rtol=0)


def test_importance_samples_follow_the_weights():
    depths = torch.linspace(0, 1, 33)[None, :32].expand(4, 32).contiguous()
    weights = torch.zeros(4, 32)
    weights[:, 20] = 1.0
    z = importance_depths(depths, weights, 64, perturb=True, generator=torch.Generator().manual_seed(0))
    lo, hi = 0.5 * (depths[0, 19] + depths[0, 20]), 0.5 * (depths[0, 20] + depths[0, 21])
    assert ((z >= lo - 1e-4) & (z <= hi + 1e-4)).float().mean() > 0.95


def _step(model: MINeRF, smooth: bool = False) -> tuple[torch.Tensor, dict]:
    g = torch.Generator().manual_seed(0)
    R, W = 64, model.cfg.smoothing_window if smooth else 1
    origins = torch.tensor([[0.0, 0.0, -7.0]]).expand(R, 3)
    dirs = torch.nn.functional.normalize(torch.randn(R, 3, generator=g) * 0.05 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    near, far, _ = box_bounds(origins, dirs)
    ident = torch.tensor([0, 1])
    expr = torch.randn(2, W, model.expression_dim, generator=g)
    lat = torch.randint(0, 10, (2, W), generator=g)
    cond = model.frame_condition(ident, expr, lat, smooth)
    slot = torch.arange(R) % 2
    out = model.render_rays(Rays(origins, dirs, near, far, torch.rand(R, 3, generator=g), cond[slot]), perturb=True, generator=g)
    loss = ((out["rgb"] - 0.5) ** 2).mean() + ((out["rgb_coarse"] - 0.5) ** 2).mean() + model.code_regularizer(ident, lat[:, W // 2])
    return loss, out


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_every_variant_trains_a_step(ablation):
    torch.manual_seed(0)
    model = MINeRF(get_preset("tiny", ablation), expression_dim=5, num_identities=2, num_latents=10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss, out = _step(model)
    assert torch.isfinite(loss) and out["rgb"].shape == (64, 3)
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("interaction.") for k in changed) or ablation == "baseline"
    assert "identity_codes" in changed


def test_gradients_reach_codes_module_and_smoother():
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    cfg.smoothing_start = 0
    model = MINeRF(cfg, expression_dim=5, num_identities=2, num_latents=10)
    loss, _ = _step(model, smooth=True)
    loss.backward()
    assert model.identity_codes.grad[:2].abs().sum() > 0
    assert model.latent_codes.grad.abs().sum() > 0
    for name, p in model.interaction.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in model.smoother.parameters())


def test_paper_preset_is_table5():
    cfg = get_preset("paper")
    f = cfg.field
    assert (f.encoding, f.depth, f.width, f.color_depth, f.color_width, f.pos_freqs, f.dir_freqs) == ("pe", 8, 256, 4, 128, 10, 4)
    assert (cfg.coarse_samples, cfg.fine_samples, cfg.rays_per_step, cfg.lr, cfg.lr_final) == (64, 128, 2048, 5e-4, 5e-5)
    assert (cfg.interaction.kind, cfg.interaction.rank, cfg.latent_dim, cfg.lambda_latent, cfg.lambda_identity) == ("M", 8, 32, 0.01, 1e-4)
    assert (cfg.smoothing_start, cfg.inside_fraction, cfg.frames_per_step) == (200_000, 0.95, 1)
    model = MINeRF(cfg, expression_dim=79, num_identities=2, num_latents=4)
    linears = [m for m in model.coarse.modules() if isinstance(m, torch.nn.Linear)]
    assert sum(1 for m in linears if m.out_features == 256 and m is not model.coarse.feature) == 8


def test_region_attention_starts_as_the_plain_field_and_its_gate_is_trainable():
    torch.manual_seed(0)
    plain_cfg = get_preset("tiny")
    gated_cfg = get_preset("tiny")
    gated_cfg.field.region_attention = True
    plain = MINeRF(plain_cfg, expression_dim=5, num_identities=2, num_latents=10)
    gated = MINeRF(gated_cfg, expression_dim=5, num_identities=2, num_latents=10)
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all(".attention." in k for k in missing) and missing
    torch.manual_seed(1)
    x = torch.rand(8, 6, 3) * torch.from_numpy(HEAD_BOX[1] - HEAD_BOX[0]).float() + torch.from_numpy(HEAD_BOX[0]).float()
    v = torch.nn.functional.normalize(torch.randn(8, 3), dim=-1)
    cond = torch.randn(8, gated.cond_dim)
    rgb_p, sigma_p = plain.coarse(x, v, cond)
    rgb_g, sigma_g = gated.coarse(x, v, cond)
    assert torch.allclose(rgb_p, rgb_g) and torch.allclose(sigma_p, sigma_g)  # zero-initialised gate = 1
    (rgb_g.sum() + sigma_g.sum()).backward()
    assert gated.coarse.attention.weight.grad.abs().sum() > 0
    with torch.no_grad():
        gated.coarse.attention.bias.normal_()
    rgb_g2, _ = gated.coarse(x, v, cond)
    assert not torch.allclose(rgb_g2, rgb_p)
    assert MINeRFConfig.from_dict(gated_cfg.to_dict()).field.region_attention is True


@pytest.mark.parametrize("preset", ["paper", "fast", "fast-hash", "tiny"])
def test_a_training_step_runs_under_bfloat16_autocast_and_matches_float32(preset, monkeypatch):
    """CUDA trains under the preset's bfloat16 autocast; here the CPU's autocast runs the same
    forward and backward: a finite loss near the float32 one and gradients on the codes."""
    import minerf.model.mi_nerf as mi_nerf

    torch.manual_seed(0)
    model = MINeRF(get_preset(preset), expression_dim=5, num_identities=2, num_latents=10)
    full, _ = _step(model)
    monkeypatch.setattr(mi_nerf, "BF16_DEVICE_TYPES", ("cuda", "cpu"))
    with model.autocast(torch.device("cpu")):
        half, out = _step(model)
    assert out["rgb"].dtype in (torch.bfloat16, torch.float32)
    half.backward()
    assert torch.isfinite(half) and abs(half.item() - full.item()) < 0.02 * full.item() + 1e-3
    assert model.identity_codes.grad is not None and model.identity_codes.grad.abs().sum() > 0
