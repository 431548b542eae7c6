"""Self-attention smoothing over neighbouring frames (paper App. E, after AD-NeRF).

Given the conditioning of a window of W frames around frame t, a small temporal conv net
scores each window position and the softmax-weighted sum replaces frame t's conditioning.
This removes jitter of the module output and the latent codes without a fixed low-pass filter.
"""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor, nn


class TemporalAttention(nn.Module):
    """Conditioning windows (frames, window, cond) -> (frames, cond): attention-weighted sum over the window."""

    def __init__(self, channels: int, window: int, hidden: int = 16):
        super().__init__()
        self.window = window
        self.score = nn.Sequential(
            nn.Conv1d(channels, hidden, 3, padding=1),
            nn.LeakyReLU(0.02, inplace=True),
            nn.Conv1d(hidden, hidden // 2, 3, padding=1),
            nn.LeakyReLU(0.02, inplace=True),
            nn.Conv1d(hidden // 2, 1, 3, padding=1),
        )
        self.mix = nn.Linear(window, window)

    def forward(self, x: Float[Tensor, "frames window cond"]) -> Float[Tensor, "frames cond"]:
        logits = self.score(x.transpose(1, 2)).squeeze(1)  # (frames, window)
        weights = self.mix(logits).softmax(dim=-1)
        return (weights[..., None] * x).sum(dim=1)
