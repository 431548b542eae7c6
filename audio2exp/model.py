"""The audio -> expression network.

Per frame, a stack of dilated temporal convolutions reads a window of audio features around
the frame (``audio_margin`` frames on each side) and proposes an expression offset. A local
self-attention over the proposals of ``smooth_margin`` neighbouring frames on each side
(LipNeRF / AD-NeRF style) then mixes them, which removes frame-to-frame jitter. The result
is an offset from an identity's mean expression, in units of that identity's spread (both
measured on its training frames): ``e(t) = base(identity) + scale(identity) * offset(t)``.

Everything is "valid" in time: features ``(B, T + 2 m, F)`` give expressions ``(B, T, d)``
with ``m = margin``, so a long file is processed in chunks that overlap by ``2 m`` frames
and give exactly the result of processing it whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class Audio2ExpConfig:
    """Shape of the network; recorded in the checkpoint."""

    feature_dim: int = 160
    """Audio feature size per frame (set from the front end)."""
    expression_dim: int = 50
    """d, the expression space's dimension."""
    hidden: int = 32
    """Channels of the temporal convolutions."""
    dilations: tuple[int, ...] = (1, 2, 4, 1)
    """One kernel-3 convolution per entry; the audio window is 1 + 2 * sum(dilations) frames."""
    smooth_margin: int = 3
    """Frames on each side that the smoothing self-attention looks at."""
    attention_dim: int = 16
    """Query / key size of the smoothing attention."""
    num_identities: int = 1
    """Identities (training clips), each with its mean expression."""
    dropout: float = 0.3
    """Dropout on the hidden features while training."""
    members: int = 1
    """Networks in the ensemble (their offsets are averaged). On the 12 real clips 3 members
    gave the same held-out error as 1 at three times the cost, hence 1 here; the ``speech``
    preset uses 3, which on unseen speakers of the 50-clip talking set raised the opening
    correlation (docs/audio2exp.md)."""
    speaker_scale: bool = False
    """Offsets in units of each speaker's own spread (per-coefficient standard deviation of its
    tracked expressions), so a speaker who moves more gets larger offsets from the same speech.
    Off by default: on validation frames of the real clips it lowered the mouth error of some
    speakers but raised the pooled one (4.81 vs 4.63) and the speech-vs-pause separation on
    non-English speech fell (ROC AUC 0.90 vs 0.94)."""

    @property
    def audio_margin(self) -> int:
        return sum(self.dilations)

    @property
    def margin(self) -> int:
        return self.audio_margin + self.smooth_margin

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dilations"] = list(self.dilations)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Audio2ExpConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "dilations" in known:
            known["dilations"] = tuple(known["dilations"])
        return cls(**known)


class _ConvBlock(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, dilation=dilation)
        self.norm = nn.LayerNorm(channels)  # per frame: results must not depend on the chunk
        self.drop = nn.Dropout(dropout)
        self.trim = dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C, T - 2 dilation)."""
        y = self.norm(self.conv(x).transpose(1, 2)).transpose(1, 2)
        return x[:, :, self.trim : -self.trim] + self.drop(torch.nn.functional.gelu(y))


class LocalSmoothing(nn.Module):
    """Self-attention of each frame over its ``2 s + 1`` neighbours' proposals.

    ``values (B, T + 2 s, d)`` and ``hidden (B, T + 2 s, C)`` -> ``(B, T, d)``.
    """

    def __init__(self, channels: int, attention_dim: int, margin: int):
        super().__init__()
        self.margin = margin
        self.query = nn.Linear(channels, attention_dim)
        self.key = nn.Linear(channels, attention_dim)
        self.position = nn.Parameter(torch.zeros(2 * margin + 1))

    def forward(self, values: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        s = self.margin
        if s == 0:
            return values
        t = values.shape[1] - 2 * s
        q = self.query(hidden[:, s : s + t])  # (B, T, a)
        k = self.key(hidden).unfold(1, 2 * s + 1, 1)  # (B, T, a, 2s+1)
        v = values.unfold(1, 2 * s + 1, 1)  # (B, T, d, 2s+1)
        scores = torch.einsum("bta,btaw->btw", q, k) / q.shape[-1] ** 0.5 + self.position
        weights = scores.softmax(dim=-1)
        return torch.einsum("btw,btdw->btd", weights, v)


class _Member(nn.Module):
    """One network of the ensemble: standardised features -> standardised offsets."""

    def __init__(self, config: "Audio2ExpConfig"):
        super().__init__()
        c = config.hidden
        self.inp = nn.Linear(config.feature_dim, c)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_ConvBlock(c, dil, config.dropout) for dil in config.dilations)
        self.out = nn.Linear(c, config.expression_dim)
        self.smooth = LocalSmoothing(c, config.attention_dim, config.smooth_margin)
        nn.init.zeros_(self.out.weight)  # an untrained network predicts each identity's mean
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T + 2 margin, F) -> (B, T, d)``."""
        h = self.drop(self.inp(x)).transpose(1, 2)  # (B, C, T')
        for block in self.blocks:
            h = block(h)
        h = h.transpose(1, 2)  # (B, T + 2 s, C)
        return self.smooth(self.out(h), h)


class Audio2ExpNet(nn.Module):
    """Audio features -> expression offsets from a per-identity mean expression.

    ``members`` independently initialised networks are trained side by side and their
    offsets averaged (an ensemble: on a few minutes of training speech one network's error
    depends much on its initialisation). Features and expressions are standardised inside
    (buffers set from training data), so callers pass raw features and get expressions in the
    clip's own units.
    """

    def __init__(self, config: Audio2ExpConfig):
        super().__init__()
        self.config = config
        d = config.expression_dim
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        self.register_buffer("expression_mean", torch.zeros(d))
        self.register_buffer("expression_std", torch.ones(d))
        self.register_buffer("rest_offset", torch.zeros(d))
        self.register_buffer("identity_mean", torch.zeros(config.num_identities, d))
        if config.speaker_scale:
            self.register_buffer("identity_scale", torch.ones(config.num_identities, d))
        self.members = nn.ModuleList(_Member(config) for _ in range(config.members))

    def member_offsets(self, features: torch.Tensor) -> torch.Tensor:
        """Each member's offsets (standardised). ``(B, T + 2 margin, F) -> (K, B, T, d)``."""
        x = (features - self.feature_mean) / self.feature_std
        return torch.stack([member(x) for member in self.members])

    def offsets(self, features: torch.Tensor) -> torch.Tensor:
        """Expression offsets (standardised units). ``(B, T + 2 margin, F) -> (B, T, d)``."""
        return self.member_offsets(features).mean(dim=0)

    def base(self, identity: torch.Tensor | None = None) -> torch.Tensor:
        """Mean expression (standardised) of ``identity`` (B,) -> (B, d); None = all identities' mean."""
        if identity is None:
            return self.identity_mean.mean(dim=0, keepdim=True)
        return self.identity_mean[identity]

    def scale(self, identity: torch.Tensor | None = None) -> torch.Tensor:
        """Spread of ``identity`` (B,) relative to the expression std -> (B, d); None = the
        identities' geometric mean; ones without ``speaker_scale``."""
        if not self.config.speaker_scale:
            return torch.ones_like(self.identity_mean[:1])
        if identity is None:
            return self.identity_scale.log().mean(dim=0, keepdim=True).exp()
        return self.identity_scale[identity]

    def forward(self, features: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        """Expressions in clip units. ``features (B, T + 2 margin, F)``, ``identity (B,)`` -> ``(B, T, d)``."""
        z = self.offsets(features) * self.scale(identity)[:, None, :] + self.base(identity)[:, None, :]
        return self.to_units(z)

    def spread_of(self, expressions: torch.Tensor) -> torch.Tensor:
        """A speaker's scale from its tracked expressions: ``(N, d)`` clip units -> ``(d,)``
        (per-coefficient standard deviation over the expression std)."""
        return expressions.std(dim=0, unbiased=False) / self.expression_std + 1e-3

    def to_units(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.expression_std + self.expression_mean

    def to_standard(self, e: torch.Tensor) -> torch.Tensor:
        return (e - self.expression_mean) / self.expression_std
