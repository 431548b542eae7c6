"""Fixtures of the lipsync tests: random SyncNet weights in the public layout, media makers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync.model import SyncNet


def save_public_layout(net: torch.nn.Module, path: Path) -> Path:
    """Save ``net`` as the public syncnet_v2.model is laid out: a plain state dict."""
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A randomly initialised full-size SyncNet saved like syncnet_v2.model (with non-trivial
    batch-norm statistics so that the eval-mode normalisation is exercised)."""
    gen = torch.Generator().manual_seed(1234)
    net = SyncNet()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) + 0.5)
    return save_public_layout(net, tmp_path_factory.mktemp("weights") / "syncnet_v2.model")


def generated_crops(num_frames: int, seed: int = 0, size: int = 224) -> np.ndarray:
    """(T, size, size, 3) uint8 RGB frames: smooth random patterns that change every frame."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(num_frames, 14, 14, 3)).astype(np.uint8)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in small])


def generated_audio(num_samples: int, seed: int = 0) -> np.ndarray:
    """int16 (S,) noise bursts with a syllable-like 4 Hz envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return np.clip(rng.normal(0, 6000, num_samples) * envelope, -32768, 32767).astype(np.int16)
