"""The shapes written in the signatures of minerf.model and minerf.render are checked during the
test run (tests/conftest.py installs the jaxtyping import hook), and only there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from jaxtyping import TypeCheckError

from minerf.model import MINeRF, Rays, get_preset
from minerf.model.render import stratified_depths, volume_render
from minerf.render.composite import paste_into_frame
from minerf.render.video import FrameSequence, render_frames
from minerf.render.views import View, render_view

ROOT = Path(__file__).resolve().parents[2]


def test_matching_shapes_pass():
    R, S = 4, 6
    depths = stratified_depths(torch.zeros(R), torch.ones(R), S, perturb=False)
    out = volume_render(torch.rand(R, S, 3), torch.rand(R, S), depths, torch.ones(R), torch.rand(R, 3))
    assert depths.shape == (R, S) and out["rgb"].shape == (R, 3)


def test_a_dimension_must_agree_across_arguments():
    R, S = 4, 6
    depths = torch.linspace(0, 1, S).expand(R, S)
    with pytest.raises(TypeCheckError, match="samples"):  # sigma has one sample fewer than rgb
        volume_render(torch.rand(R, S, 3), torch.rand(R, S - 1), depths, torch.ones(R), torch.rand(R, 3))
    with pytest.raises(TypeCheckError, match="rays"):  # one background colour too many
        volume_render(torch.rand(R, S, 3), torch.rand(R, S), depths, torch.ones(R), torch.rand(R + 1, 3))


def test_fixed_sizes_and_dtypes_are_checked():
    with pytest.raises(TypeCheckError):  # far must be one depth per ray, not (R, 1)
        stratified_depths(torch.zeros(3), torch.ones(3, 1), 4, perturb=False)
    with pytest.raises(TypeCheckError):  # integer depths
        stratified_depths(torch.zeros(3), torch.ones(3, dtype=torch.int64), 4, perturb=False)
    frame = np.zeros((20, 30, 3), np.uint8)
    crop = np.full((8, 8, 3), 200, np.uint8)
    pasted = paste_into_frame(frame, crop, np.ones((8, 8), np.float32), (2, 3, 8))
    assert pasted.shape == frame.shape and pasted[3:11, 2:10].min() == 200
    with pytest.raises(TypeCheckError):  # a float image where uint8 pixels are expected
        paste_into_frame(frame.astype(np.float32), crop, np.ones((8, 8), np.float32), (2, 3, 8))


def test_dataclass_fields_are_checked_together():
    R = 5
    rays = Rays(torch.zeros(R, 3), torch.ones(R, 3), torch.zeros(R), torch.ones(R), torch.rand(R, 3), torch.rand(R, 7))
    assert rays.cond.shape == (R, 7)
    with pytest.raises(TypeCheckError, match="rays"):
        Rays(torch.zeros(R, 3), torch.ones(R, 3), torch.zeros(R), torch.ones(R), torch.rand(R, 3), torch.rand(R - 1, 7))
    with pytest.raises(TypeCheckError):  # a background that is not square
        View(torch.eye(4), torch.eye(3), torch.zeros(7), torch.zeros(8, 9, 3))
    with pytest.raises(TypeCheckError, match="frames"):  # three poses for two expressions
        FrameSequence(np.zeros((2, 5), np.float32), np.zeros((3, 4, 4), np.float32), np.eye(3), None, [])


def _tiny_model(dim: int = 5) -> MINeRF:
    torch.manual_seed(0)
    return MINeRF(get_preset("tiny"), expression_dim=dim, num_identities=2, num_latents=4).eval()


def test_model_entry_points_refuse_wrong_shapes():
    model = _tiny_model()
    F, W, d = 2, 1, model.expression_dim
    cond = model.condition(model.identity_codes[:F], torch.zeros(F, W, d), torch.zeros(F, W, model.cfg.latent_dim), smooth=False)
    assert cond.shape == (F, model.cond_dim)
    with pytest.raises(TypeCheckError, match="expr"):  # expressions of another expression space
        model.condition(model.identity_codes[:F], torch.zeros(F, W, d + 1), torch.zeros(F, W, model.cfg.latent_dim), smooth=False)
    assert render_view(model, View(torch.eye(4), torch.eye(3), cond[0], torch.zeros(8, 8, 3)))["rgb"].shape == (8, 8, 3)
    with pytest.raises(TypeCheckError):  # the conditioning of all frames where one frame's is expected
        View(torch.eye(4), torch.eye(3), cond, torch.zeros(8, 8, 3))


def test_render_frames_checks_its_arguments_before_rendering():
    model = _tiny_model()
    frames = FrameSequence(np.zeros((1, 5), np.float32), np.eye(4, dtype=np.float32)[None], np.eye(3, dtype=np.float32), torch.zeros(1, 32), [np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(TypeCheckError):  # an identity code of the wrong expression dimension is refused
        next(render_frames(model, torch.zeros(5, 1), frames, False))


def test_production_imports_check_nothing():
    """Without the test hook the annotations cost nothing: the same wrong call is not refused."""
    code = (
        "import torch\n"
        "from minerf.model.render import stratified_depths\n"
        "z = stratified_depths(torch.zeros(3), torch.ones(3, dtype=torch.int64), 4, perturb=False)\n"
        "print(tuple(z.shape))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 4)"
