"""Image metrics of the paper's evaluation protocol: PSNR and SSIM on float images in [0, 1]."""

from __future__ import annotations

import numpy as np


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR (dB) of float images in [0, 1]."""
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(-10.0 * np.log10(mse))


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """SSIM (scikit-image, Gaussian-free 7x7 window, colour) of float images in [0, 1]."""
    from skimage.metrics import structural_similarity

    side = min(pred.shape[0], pred.shape[1])
    win = min(7, side if side % 2 == 1 else side - 1)
    return float(structural_similarity(pred, target, channel_axis=2, data_range=1.0, win_size=win))
