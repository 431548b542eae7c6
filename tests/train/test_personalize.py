"""Personalization adds a person with the interaction module frozen and old identities intact."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from minerf.model import MINeRF, get_preset
from minerf.run import load_run
from minerf.synthetic import write_synthetic_clip
from minerf.train.personalize import personalize_defaults, plane_change_penalty
from minerf_dub.cli import minerf


def test_personalize_new_identity(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    clip = write_synthetic_clip(tmp_path / "newcomer", 7, 20, 32)
    out = tmp_path / "personal"
    result = CliRunner().invoke(minerf, ["personalize", str(run_dir), str(clip), "-o", str(out), "--iters", "30", "--json", "-q"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["eval"]["psnr"] > info["eval_before"]["psnr"]
    base, new = load_run(run_dir), load_run(out)
    assert new.identities == base.identities + ["newcomer"]
    for name, value in base.model.interaction.state_dict().items():
        assert torch.equal(value, new.model.interaction.state_dict()[name]), name
    torch.testing.assert_close(new.model.identity_codes[:3], base.model.identity_codes, rtol=0, atol=0)
    assert not torch.equal(new.model.coarse.density.weight, base.model.coarse.density.weight)
    # hash-grid fields: lr 1e-3 and a quarter of the rays on the lips while tuning; the saved
    # config is still the base run's (the mouth share is a sampling setting of this tuning only)
    assert (new.meta["personalization"]["field_lr"], new.meta["personalization"]["mouth_fraction"]) == (1e-3, 0.25)
    assert new.config.to_dict() == base.config.to_dict()
    again = CliRunner().invoke(minerf, ["personalize", str(run_dir), str(clip), "-o", str(out), "--iters", "1", "-q"])
    assert again.exit_code == 2 and "already holds a run" in again.output


def test_personalize_defaults_follow_the_field():
    assert personalize_defaults(get_preset("paper")) == (1e-5, 0.0)  # the paper's learning rate
    assert personalize_defaults(get_preset("fast")) == (1e-3, 0.33)  # the preset's own lip share
    assert personalize_defaults(get_preset("fast-hash")) == (1e-3, 0.25)
    tiny = get_preset("tiny")
    tiny.mouth_fraction = 0.4
    assert personalize_defaults(tiny) == (1e-3, 0.4)


def test_plane_change_penalty_is_zero_at_the_start_and_grows_with_rough_changes():
    torch.manual_seed(0)
    model = MINeRF(get_preset("fast"), expression_dim=5, num_identities=2, num_latents=4)
    assert plane_change_penalty(model, 0.0) is None
    assert plane_change_penalty(MINeRF(get_preset("tiny"), 5, 2, 4), 1.0) is None  # a hash-grid field has no planes
    penalty = plane_change_penalty(model, 2.0)
    assert float(penalty()) == 0.0  # the planes have not moved
    with torch.no_grad():
        model.coarse.pos_enc.planes[0].add_(1.0)  # a constant shift is a smooth change: free
    assert float(penalty()) == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        plane = model.coarse.pos_enc.planes[0]
        i, j = torch.meshgrid(torch.arange(plane.shape[1]), torch.arange(plane.shape[2]), indexing="ij")
        plane.add_(((-1.0) ** (i + j))[None, :, :, None])  # a +-1 checkerboard on every cell
    # plane_roughness of a +-1 checkerboard: neighbours differ by 2 -> 4 along each side
    assert float(penalty()) == pytest.approx(2.0 * 8.0)
    penalty().backward()
    assert model.coarse.pos_enc.planes[0].grad.abs().sum() > 0


def test_personalize_is_reproducible_whatever_the_process_drew_before(tiny_run, tmp_path):
    from minerf.train.personalize import personalize

    run_dir, _ = tiny_run
    clip = write_synthetic_clip(tmp_path / "newcomer", 7, 12, 32)
    runs = {}
    for name, draw_first, seed in (("a", 0, 0), ("b", 5, 0), ("c", 0, 1)):
        torch.manual_seed(123 + draw_first)  # other work in the process moves the global RNG
        torch.randn(draw_first + 1)
        info = personalize(run_dir, clip, tmp_path / name, iterations=3, seed=seed, lower_fraction=0.5, identity_init="random", progress=False, evaluate=False)
        runs[name] = load_run(info["run_dir"])
    a, b, c = (runs[k].model.state_dict() for k in "abc")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert not torch.equal(a["identity_codes"][-1], c["identity_codes"][-1])  # another seed: another draw
    assert runs["a"].meta["personalization"]["lower_fraction"] == 0.5


def test_the_new_identity_code_starts_at_the_mean_of_the_trained_ones(tiny_run, tmp_path):
    from minerf.train.personalize import personalize

    run_dir, _ = tiny_run
    base = load_run(run_dir).model.identity_codes.detach()
    clip = write_synthetic_clip(tmp_path / "newcomer", 7, 12, 32)
    codes = {}
    for init in ("mean", "random"):
        # a code learning rate of 1e-12: one Adam step moves the codes by about that much
        info = personalize(run_dir, clip, tmp_path / init, iterations=1, code_lr=1e-12, identity_init=init, progress=False, evaluate=False)
        tuned = load_run(info["run_dir"])
        codes[init] = tuned.model.identity_codes.detach()
        assert tuned.meta["personalization"]["identity_init"] == init
        torch.testing.assert_close(codes[init][:-1], base, rtol=0, atol=1e-9)  # the trained identities keep their codes
    torch.testing.assert_close(codes["mean"][-1], base.mean(dim=0), rtol=0, atol=1e-6)
    assert float((codes["random"][-1] - base.mean(dim=0)).norm()) > 0.5  # a unit-variance draw is far from it
    with pytest.raises(ValueError, match="identity_init"):
        personalize(run_dir, clip, tmp_path / "other", iterations=1, identity_init="median", progress=False, evaluate=False)
