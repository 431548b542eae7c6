"""Fixtures of the dubbing tests."""

from __future__ import annotations

import pytest

RES = 64


@pytest.fixture(scope="session")
def models(tmp_path_factory, demo_video):
    """A tiny MI-NeRF and a tiny audio2exp, both trained on the demo clip at 64 px."""
    from audio2exp.train import AUDIO2EXP_PRESETS
    from audio2exp.train import train as train_a2e
    from minerf.prepare.pipeline import PrepareOptions, prepare
    from minerf.train.trainer import TrainOptions
    from minerf.train.trainer import train as train_nerf
    from minerf_base.threads import torch_threads

    root = tmp_path_factory.mktemp("dub_models")
    clip = prepare(demo_video, root / "demo", PrepareOptions(resolution=RES), progress=False)
    train_nerf([clip.path], root / "nerf", TrainOptions(preset="tiny", iterations=60, validate_every=0, evaluate=False, progress=False, config_overrides={"rays_per_step": 256}))
    tc, nc = AUDIO2EXP_PRESETS["tiny"]
    with torch_threads(1):
        train_a2e([clip.path], root / "a2e", train_config=tc, net_config=nc)
    return root / "nerf", root / "a2e"


