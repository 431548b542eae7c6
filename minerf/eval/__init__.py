"""Evaluation of a trained MI-NeRF: image metrics, held-out PSNR / SSIM, identity (ACD)."""
