"""Personalization adds a person with the interaction module frozen and old identities intact."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from minerf.model import get_preset
from minerf.run import load_run
from minerf.synthetic import write_synthetic_clip
from minerf.train.personalize import personalize_defaults
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
