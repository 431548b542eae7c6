"""SyncNet layout: the public model's tensors, and the options of the own expert."""

from __future__ import annotations

import torch

from lipsync.model import SyncNet, SyncNetConfig


def test_default_layout_is_the_reference_syncnet():
    from syncnet_python import SyncNetModel

    ours = SyncNet().state_dict()
    reference = SyncNetModel(num_layers_in_fc_layers=1024).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in reference.items()}


def test_expert_options_keep_the_input_contract_and_motion_ignores_static_appearance():
    torch.manual_seed(0)
    net = SyncNet(SyncNetConfig(embed_dim=32, width=0.125, lip_downsample=2, lip_top=64, lip_bottom=192, lip_motion=True)).eval()
    frames = torch.rand(2, 3, 5, 224, 224) * 255
    static = torch.rand(2, 3, 1, 224, 224) * 50  # the same change on every frame of a window
    with torch.no_grad():
        a, b = net.forward_lip(frames), net.forward_lip(frames + static)
        audio = net.forward_aud(torch.randn(2, 1, 13, 20))
    assert a.shape == audio.shape == (2, 32)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
