"""SyncNet: an audio tower and a lip tower that embed 0.2 s of speech and 5 video frames.

The layer layout (module names ``netcnnaud``, ``netfcaud``, ``netcnnlip``, ``netfclip``) and
sizes at ``width=1`` are those of ``joonson/syncnet_python``'s ``SyncNetModel.S``, so the
public ``syncnet_v2.model`` state dict loads into :class:`SyncNet` as is. ``width`` scales
every channel count for the own, cheaper expert (``lipsync train``); the input sizes stay
the same, so the scoring pipeline does not depend on which weights are used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor, nn

CROP_SIZE = 224  # lip tower input: (B, 3, 5, 224, 224) BGR pixel values 0..255
WINDOW_FRAMES = 5  # video frames per lip window
WINDOW_MFCC = 20  # MFCC steps per audio window (0.2 s)


@dataclass
class SyncNetConfig:
    """Size of a SyncNet. The public weights are ``SyncNetConfig()``."""

    embed_dim: int = 1024
    """Length of the audio and lip embeddings compared by Euclidean distance."""
    width: float = 1.0
    """Channel multiplier of every convolution and hidden layer (1.0 = the public model)."""
    lip_downsample: int = 1
    """Average-pool the 224 x 224 lip crops by this factor first (1 = the public model)."""
    lip_top: int = 0
    """First crop row the lip tower sees (0 = the public model; the mouth is near row 125)."""
    lip_bottom: int = CROP_SIZE
    """One past the last crop row the lip tower sees (224 = the public model)."""
    lip_motion: bool = False
    """Subtract each window's mean frame first, so the lip tower sees motion rather than
    appearance (False = the public model)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _lip_final_kernel(config: SyncNetConfig) -> tuple[int, int]:
    """(height, width) reaching the last lip convolution ((6, 6) for 224 x 224 input)."""

    def shrink(size: int) -> int:
        size = (size - 7) // 2 + 1  # conv 7x7 stride 2
        size = (size - 3) // 2 + 1  # max pool 3 stride 2
        size = (size + 2 - 5) // 2 + 1  # conv 5x5 stride 2 pad 1
        size = (size + 2 - 3) // 2 + 1  # max pool 3 stride 2 pad 1
        return (size - 3) // 2 + 1  # max pool 3 stride 2

    d = config.lip_downsample
    height, width = shrink((config.lip_bottom - config.lip_top) // d), shrink(CROP_SIZE // d)
    if height < 1 or width < 1:
        raise ValueError(f"lip input of {config.lip_bottom - config.lip_top} x {CROP_SIZE} pixels pooled by {d} is too small for the lip tower")
    return height, width


def _ch(base: int, width: float) -> int:
    return max(8, int(round(base * width)))


class SyncNet(nn.Module):
    """Audio tower ``forward_aud`` and lip tower ``forward_lip``; see the module docstring."""

    def __init__(self, config: SyncNetConfig | None = None):
        super().__init__()
        self.config = config = config or SyncNetConfig()
        w = config.width
        a1, a2, a3, a4, a5 = (_ch(c, w) for c in (64, 192, 384, 256, 512))
        l1, l2, l3 = (_ch(c, w) for c in (96, 256, 512))
        hidden = _ch(512, w)
        kh, kw = _lip_final_kernel(config)
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, a1, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.BatchNorm2d(a1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            nn.Conv2d(a1, a2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.BatchNorm2d(a2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            nn.Conv2d(a2, a3, kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(a3),
            nn.ReLU(inplace=True),
            nn.Conv2d(a3, a4, kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(a4),
            nn.ReLU(inplace=True),
            nn.Conv2d(a4, a4, kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(a4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            nn.Conv2d(a4, a5, kernel_size=(5, 4), padding=(0, 0)),
            nn.BatchNorm2d(a5),
            nn.ReLU(),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(a5, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, config.embed_dim)
        )
        self.netfclip = nn.Sequential(
            nn.Linear(l3, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, config.embed_dim)
        )
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, l1, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
            nn.BatchNorm3d(l1),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(l1, l2, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.BatchNorm3d(l2),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.Conv3d(l2, l2, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(l2),
            nn.ReLU(inplace=True),
            nn.Conv3d(l2, l2, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(l2),
            nn.ReLU(inplace=True),
            nn.Conv3d(l2, l2, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(l2),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(l2, l3, kernel_size=(1, kh, kw), padding=0),
            nn.BatchNorm3d(l3),
            nn.ReLU(inplace=True),
        )

    def forward_aud(self, mfcc: Tensor) -> Tensor:
        """mfcc (B, 1, 13, 20) -> (B, embed_dim)."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def forward_lip(self, frames: Tensor) -> Tensor:
        """frames (B, 3, 5, 224, 224), BGR values 0..255 -> (B, embed_dim)."""
        if (self.config.lip_top, self.config.lip_bottom) != (0, CROP_SIZE):
            frames = frames[:, :, :, self.config.lip_top : self.config.lip_bottom]
        if self.config.lip_motion:
            frames = frames - frames.mean(dim=2, keepdim=True)
        if self.config.lip_downsample > 1:
            d = self.config.lip_downsample
            frames = nn.functional.avg_pool3d(frames, kernel_size=(1, d, d))
        return self.netfclip(self.netcnnlip(frames).flatten(1))
