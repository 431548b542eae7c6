"""Which training frames a step draws: uniform over frames, or identity by identity."""

from __future__ import annotations

import numpy as np
import torch

from minerf.data import MultiClipData
from minerf.synthetic import write_synthetic_clip


def _draw_shares(data: MultiClipData, draws: int = 4000) -> np.ndarray:
    picks = data._pick_frames(draws, torch.Generator().manual_seed(0))
    owners = np.array([data.identity_of_clip[int(ci)] for ci in data._train_pairs[picks, 0]])
    return np.bincount(owners, minlength=len(data.identity_names)) / draws


def test_balanced_draws_give_every_identity_the_same_share_however_long_its_clips(tmp_path):
    long_clip = write_synthetic_clip(tmp_path / "long", 0, 60, 16)
    short_clip = write_synthetic_clip(tmp_path / "short", 1, 6, 16)
    data = MultiClipData.from_dirs([long_clip, short_clip])
    uniform = _draw_shares(data)
    assert abs(uniform[1] - 5 / 59) < 0.03  # 5 of the 54 + 5 training frames are the short clip's
    data.balanced = True
    balanced = _draw_shares(data)
    assert abs(balanced[0] - 0.5) < 0.03 and abs(balanced[1] - 0.5) < 0.03
    # every training frame of the short clip is drawn, and held-out frames never
    picks = data._pick_frames(2000, torch.Generator().manual_seed(1))
    short_frames = {int(t) for ci, t in data._train_pairs[picks] if ci == 1}
    assert short_frames == set(int(t) for t in data.splits[1][0])


def test_the_fast_preset_balances_and_the_job_applies_it(tmp_path):
    from minerf.model.presets import get_preset
    from minerf.train.trainer import NeRFJob, StepRule, fresh_model

    data = MultiClipData.from_dirs([write_synthetic_clip(tmp_path / "a", 0, 8, 16)])
    cfg = get_preset("fast")
    assert cfg.balance_identities and not get_preset("fast-hash").balance_identities
    NeRFJob(fresh_model(data, cfg, 0, torch.device("cpu")), data, StepRule(total=10))
    assert data.balanced
