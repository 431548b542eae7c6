"""Audio-visual offset, LSE-D and LSE-C of one face track: ``SyncNetInstance.evaluate``.

For every start frame ``v`` of a 5-frame lip window the lip tower embeds frames
``v..v+4`` and the audio tower embeds MFCC steps ``4v..4v+19``. For each offset
``o`` in ``-vshift..+vshift`` the distance between lip window ``v`` and audio window
``v - o`` (zero embeddings outside the track) is averaged over ``v``; LSE-D is the minimum of
that curve, LSE-C its median minus its minimum and the offset its argmin. Only
``min(frames, samples // SAMPLES_PER_FRAME) - 5`` windows are used, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from lipsync.mfcc import MFCC_PER_VIDEO_FRAME, mfcc, to_int16_scale
from lipsync.model import WINDOW_FRAMES, WINDOW_MFCC, SyncNet
from minerf_base.timebase import SAMPLES_PER_FRAME

MIN_FRAMES = WINDOW_FRAMES + 1  # the reference scores min_length - 5 windows


@dataclass
class SyncScore:
    """Lip-sync of one face track."""

    offset: int
    """Audio-visual offset in frames (argmin of the distance curve)."""
    lse_d: float
    """Minimum over offsets of the mean embedding distance (lower is better)."""
    lse_c: float
    """Median minus minimum of the distance curve (higher is better)."""
    num_windows: int
    distances: np.ndarray  # (2 * vshift + 1,) mean distance per offset, offset +vshift first


def _lip_windows(crops_rgb: np.ndarray, device: torch.device) -> Tensor:
    """(B, 3, 5, 224, 224) float BGR windows starting at each of the first B = T - 4 of the
    crops (T, 224, 224, 3) RGB."""
    chunk = torch.from_numpy(np.ascontiguousarray(np.asarray(crops_rgb)[..., ::-1]))
    chunk = chunk.to(device).permute(3, 0, 1, 2).float()  # (3, T, H, W)
    windows = chunk.unfold(1, WINDOW_FRAMES, 1)  # (3, B, H, W, 5)
    return windows.permute(1, 0, 4, 2, 3).contiguous()


class LipEmbedder:
    """Lip-tower embeddings of the first ``num_windows`` 5-frame windows of a track whose crops
    come one at a time (:meth:`add`), in batches of ``batch_size`` windows: at most
    ``batch_size + 4`` crops are held, however long the track."""

    def __init__(self, net: SyncNet, num_windows: int, batch_size: int = 20):
        self.net, self.num_windows, self.batch_size = net, num_windows, batch_size
        self.device = next(net.parameters()).device
        self.pending: list[np.ndarray] = []
        self.done = 0
        self.out: Tensor | None = None
        """(num_windows, E), allocated once at the first batch: per-batch outputs kept in a
        list sat between the crops' buffers on the heap and kept it from shrinking (on a
        3-minute track the resident memory grew by 240 MB)."""

    @torch.no_grad()
    def add(self, crop: np.ndarray) -> None:
        """The track's next crop (224, 224, 3) RGB uint8; crops past the last window are ignored."""
        if self.done + len(self.pending) - (WINDOW_FRAMES - 1) >= self.num_windows:
            return
        self.pending.append(crop)
        batch = min(self.batch_size, self.num_windows - self.done)
        if len(self.pending) == batch + WINDOW_FRAMES - 1:
            self._embed(self.pending)
            self.pending = self.pending[batch:]

    def _embed(self, crops: list[np.ndarray]) -> None:
        """Embed the windows starting at each of ``crops`` but the last four."""
        emb = self.net.forward_lip(_lip_windows(np.stack(crops), self.device)).cpu()
        if self.out is None:
            self.out = torch.empty((self.num_windows, emb.shape[1]), dtype=emb.dtype)
        self.out[self.done : self.done + len(emb)] = emb
        self.done += len(emb)

    @torch.no_grad()
    def embeddings(self) -> Tensor:
        """(num_windows, E). When the crops ended early (a video shorter than its track) the
        windows they hold are embedded and ``num_windows`` becomes their number."""
        if self.done < self.num_windows and len(self.pending) >= WINDOW_FRAMES:
            self._embed(self.pending)
            self.pending = self.pending[-(WINDOW_FRAMES - 1) :]
        self.num_windows = min(self.num_windows, self.done)
        if self.num_windows < 1 or self.out is None:
            raise ValueError(f"a track needs at least {MIN_FRAMES} frames with audio")
        return self.out[: self.num_windows]


def _audio_batches(cepstra: np.ndarray, num_windows: int, batch_size: int, device: torch.device):
    """Yield (B, 1, 13, 20) MFCC windows starting at steps 0, 4, 8, ..."""
    feats = torch.from_numpy(cepstra.T.astype(np.float32)).to(device)  # (13, M)
    for start in range(0, num_windows, batch_size):
        stop = min(num_windows, start + batch_size)
        idx = torch.arange(start, stop, device=device)[:, None] * MFCC_PER_VIDEO_FRAME + torch.arange(WINDOW_MFCC, device=device)
        yield feats[:, idx].permute(1, 0, 2).unsqueeze(1)


def num_windows(num_frames: int, num_samples: int) -> int:
    """Windows the reference scores: ``min(frames, samples // 640) - 5``."""
    return min(num_frames, num_samples // SAMPLES_PER_FRAME) - WINDOW_FRAMES


@torch.no_grad()
def embed_audio(net: SyncNet, audio: np.ndarray, windows: int, batch_size: int = 20) -> Tensor:
    """(W, E) audio-tower embeddings of the first ``windows`` MFCC windows of ``audio`` (S,)."""
    device = next(net.parameters()).device
    net.eval()
    cepstra = mfcc(to_int16_scale(audio))
    return torch.cat([net.forward_aud(b).cpu() for b in _audio_batches(cepstra, windows, batch_size, device)])


@torch.no_grad()
def embed_track(net: SyncNet, crops_rgb: np.ndarray, audio: np.ndarray, batch_size: int = 20) -> tuple[Tensor, Tensor]:
    """(lip (W, E), audio (W, E)) embeddings of a track's crops (T, 224, 224, 3) RGB uint8 and
    its audio (S,) at 16 kHz (int16, or float in [-1, 1]); W = min(T, S // SAMPLES_PER_FRAME) - 5."""
    windows = num_windows(len(crops_rgb), len(audio))
    if windows < 1:
        raise ValueError(f"a track needs at least {MIN_FRAMES} frames with audio, got {windows + WINDOW_FRAMES}")
    net.eval()
    lips = LipEmbedder(net, windows, batch_size)
    for crop in crops_rgb:
        lips.add(crop)
    return lips.embeddings(), embed_audio(net, audio, windows, batch_size)


def offset_distances(lip: Tensor, aud: Tensor, vshift: int = 15, chunk: int = 256) -> Tensor:
    """(W, 2 * vshift + 1) distance of lip window v to audio window v + k - vshift (zero-padded)."""
    padded = torch.nn.functional.pad(aud, (0, 0, vshift, vshift))
    span = 2 * vshift + 1
    out = []
    for start in range(0, lip.shape[0], chunk):
        stop = min(lip.shape[0], start + chunk)
        windows = padded[start : stop + span - 1].unfold(0, span, 1).transpose(1, 2)  # (B, span, E)
        out.append(torch.nn.functional.pairwise_distance(lip[start:stop, None, :], windows))
    return torch.cat(out)


def score_embeddings(lip: Tensor, aud: Tensor, vshift: int = 15) -> SyncScore:
    """Offset, LSE-D and LSE-C from the embeddings of :func:`embed_track`."""
    mean = offset_distances(lip, aud, vshift).mean(dim=0)
    min_val, min_idx = torch.min(mean, 0)
    return SyncScore(
        offset=int(vshift - min_idx),
        lse_d=float(min_val),
        lse_c=float(torch.median(mean) - min_val),
        num_windows=int(lip.shape[0]),
        distances=mean.numpy().astype(np.float64),
    )


def score_track(net: SyncNet, crops_rgb: np.ndarray, audio: np.ndarray, *, vshift: int = 15, batch_size: int = 20) -> SyncScore:
    """Offset, LSE-D, LSE-C of crops (T, 224, 224, 3) RGB uint8 against audio (S,) at 16 kHz."""
    lip, aud = embed_track(net, crops_rgb, audio, batch_size)
    return score_embeddings(lip, aud, vshift)
