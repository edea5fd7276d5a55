"""Reconstruction quality of video, in the conventions tokenizer papers report (TokenBench,
Cosmos): PSNR and SSIM on 8-bit frames scaled to [0, 1], averaged over frames.

SSIM is Wang et al. 2004: an 11 x 11 Gaussian window (sigma 1.5), C1 = (0.01)^2,
C2 = (0.03)^2, on each RGB channel, averaged.
"""

from __future__ import annotations

import torch


def as_8bit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> the [0, 1] values an 8-bit frame holds: quantising first measures what a
    decoded video would show."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().div(255)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR (dB) of (..., 3, H, W) images in [0, 1] -> (...)."""
    mse = (pred - target).pow(2).flatten(-3).mean(-1).clamp(min=1e-10)
    return 10 * torch.log10(1 / mse)


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame SSIM of (N, 3, H, W) images in [0, 1] -> (N,)."""
    g = _gaussian().to(pred)
    window = (g[:, None] * g[None, :])[None, None].expand(3, 1, -1, -1)

    def blur(x):
        return torch.nn.functional.conv2d(x, window, groups=3)

    mu_x, mu_y = blur(pred), blur(target)
    var_x = blur(pred * pred) - mu_x**2
    var_y = blur(target * target) - mu_y**2
    cov = blur(pred * target) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)


def clip_quality(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, 3, T, H, W) in [-1, 1], compared as 8-bit frames: per-frame PSNR and SSIM (B, T)."""
    p, t = as_8bit(pred).transpose(1, 2), as_8bit(target).transpose(1, 2)  # (B, T, 3, H, W)
    B, T = p.shape[:2]
    return {"psnr": psnr(p, t), "ssim": ssim(p.flatten(0, 1), t.flatten(0, 1)).reshape(B, T)}


def body_psnr(pred: torch.Tensor, target: torch.Tensor, body: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of each clip's body pixels: (B, 3, T, H, W) in [-1, 1], `body` (B, T, H, W)
    in [0, 1] -> (B,), over the pixels where body >= 0.5, as 8-bit frames (NaN where none)."""
    inside = (body >= 0.5).float()[:, None]  # (B, 1, T, H, W)
    squared = (as_8bit(pred) - as_8bit(target)).pow(2) * inside
    mse = squared.flatten(1).sum(1) / (3 * inside.flatten(1).sum(1))
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))
