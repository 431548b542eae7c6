"""LipEmbedder: streamed crops give the embeddings of one batch, whatever the batch size."""

from __future__ import annotations

import torch

from lipsync.model import SyncNet, SyncNetConfig
from lipsync.sync import LipEmbedder, _lip_windows
from tests.lipsync.conftest import generated_crops

TINY = SyncNetConfig(embed_dim=16, width=0.125, lip_downsample=4)


def _net() -> SyncNet:
    torch.manual_seed(0)
    return SyncNet(TINY).eval()


def _streamed(net: SyncNet, crops, windows: int, batch_size: int) -> torch.Tensor:
    lips = LipEmbedder(net, windows, batch_size)
    for crop in crops:
        lips.add(crop)
    return lips.embeddings()


def test_batches_of_any_size_give_the_embeddings_of_all_windows_at_once():
    net, crops = _net(), generated_crops(17, seed=3)
    with torch.no_grad():
        whole = net.forward_lip(_lip_windows(crops, torch.device("cpu")))  # 13 windows
    for batch_size in (1, 3, 5, 20):
        out = _streamed(net, crops, 12, batch_size)
        assert out.shape == (12, TINY.embed_dim)
        torch.testing.assert_close(out, whole[:12], rtol=1e-5, atol=1e-5)


def test_crops_that_end_early_give_the_windows_they_hold():
    net, crops = _net(), generated_crops(9, seed=4)
    lips = LipEmbedder(net, 12, 3)
    for crop in crops:
        lips.add(crop)
    out = lips.embeddings()
    assert out.shape == (5, TINY.embed_dim) and lips.num_windows == 5
    with torch.no_grad():
        torch.testing.assert_close(out, net.forward_lip(_lip_windows(crops, torch.device("cpu"))), rtol=1e-5, atol=1e-5)
