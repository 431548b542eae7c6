"""A small synthetic multi-identity scene and one tiny-preset run trained on it (shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

IDENTITIES = 3
FRAMES = 20
SIZE = 32
# the synthetic clips' face box already bounds the whole rendered head (not just the inner
# face, as a tracker's box does), so the head box the rays are drawn in needs no margin
WHOLE_HEAD_BOX = {"head_margin": 0.0}


@pytest.fixture(scope="session")
def synthetic_clips(tmp_path_factory) -> list[Path]:
    from minerf.synthetic import write_synthetic_clip

    root = tmp_path_factory.mktemp("synthetic")
    return [write_synthetic_clip(root / f"head{i}", i, FRAMES, SIZE, source_frame=(48, 40, 10, 4)) for i in range(IDENTITIES)]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, synthetic_clips) -> tuple[Path, dict]:
    import torch

    from minerf.train.trainer import TrainOptions, train

    torch.set_num_threads(2)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    summary = train(synthetic_clips, run_dir, TrainOptions(preset="tiny", iterations=300, checkpoint_every=150, validate_every=300, progress=False, config_overrides=WHOLE_HEAD_BOX))
    return run_dir, summary
