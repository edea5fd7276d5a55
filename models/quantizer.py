"""Quantisers: a learned codebook (`EMAQuantizer`, the motion tokenizer's) and finite
scalar quantisation (`FSQuantizer`, the video tokenizer's).

`EMAQuantizer`: vector quantisation with one codebook, EMA updates, dead-code reset,
commitment loss.

The codebook is not trained by gradients: each code moves to the exponential moving average
of the encoder outputs assigned to it (van den Oord et al. 2017, appendix; as in T2M-GPT).
Codes that go unused for a while are reset to random recent encoder outputs, which keeps
usage high. The encoder learns through a straight-through estimator and a commitment loss
that keeps its outputs near their codes. With `normalize`, encoder outputs and codes live
on the unit sphere and the nearest code is the most similar in angle (ViT-VQGAN, Yu et al.
2022): codes cannot drift off to where no output reaches, which keeps more of them in use.

`FSQuantizer` (Mentzer et al. 2023): each of a few channels is bounded and rounded to a
fixed number of levels; a code is the tuple of levels, so the "codebook" is the grid of all
tuples (prod(levels) codes). Nothing is learned and nothing can collapse: no codebook
losses, no dead codes, and usage stays near 100% with no tricks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, D, L) straight-through
    codes: torch.Tensor  # (B, L)
    commit_loss: torch.Tensor
    perplexity: torch.Tensor


class EMAQuantizer(nn.Module):
    def __init__(self, codebook_size: int, dim: int, decay: float = 0.99, dead_after: int = 32, eps: float = 1e-5,
                 normalize: bool = False):
        super().__init__()
        self.codebook_size, self.dim, self.decay, self.eps, self.dead_after = codebook_size, dim, decay, eps, dead_after
        self.normalize = normalize
        self.register_buffer("codebook", torch.randn(codebook_size, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("unused_steps", torch.zeros(codebook_size))
        self.register_buffer("initialised", torch.tensor(False))

    def codes_for(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code index for each row of x (N, D)."""
        d = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.T + self.codebook.pow(2).sum(1)[None])
        return d.argmin(1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, L) codes -> (B, D, L) vectors."""
        return self.codebook[codes].permute(0, 2, 1)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        # in fp32 whatever the autocast around it: bf16 distances pick the wrong code, and
        # the EMA statistics would lose small updates
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(z.float())

    def _quantize(self, z: torch.Tensor) -> QuantizerOutput:
        B, D, L = z.shape
        flat = z.permute(0, 2, 1).reshape(-1, D)
        if self.normalize:
            flat = torch.nn.functional.normalize(flat, dim=1)
        if self.training:
            self._maybe_initialise(flat)
        codes = self.codes_for(flat.detach())
        onehot = torch.nn.functional.one_hot(codes, self.codebook_size).type(flat.dtype)
        if self.training:
            self._ema_update(flat.detach(), onehot)
        q = self.codebook[codes]
        commit = (flat - q.detach()).pow(2).mean()
        q = flat + (q - flat).detach()  # straight-through
        probs = onehot.mean(0)
        perplexity = torch.exp(-(probs * (probs + 1e-10).log()).sum())
        return QuantizerOutput(q.reshape(B, L, D).permute(0, 2, 1), codes.reshape(B, L), commit, perplexity)

    @torch.no_grad()
    def _maybe_initialise(self, flat: torch.Tensor) -> None:
        """Start the codebook from encoder outputs, so no code begins far from the data."""
        if bool(self.initialised):
            return
        picks = flat[torch.randint(0, len(flat), (self.codebook_size,), device=flat.device)]
        picks = _broadcast(picks)
        self.codebook.copy_(picks)
        self.ema_sum.copy_(picks)
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, onehot: torch.Tensor) -> None:
        count = _all_reduce(onehot.sum(0))
        total = _all_reduce(onehot.T @ flat)
        self.ema_count.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(total, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.codebook_size * self.eps) * n  # Laplace smoothing
        codebook = self.ema_sum / smoothed[:, None]
        self.codebook.copy_(torch.nn.functional.normalize(codebook, dim=1) if self.normalize else codebook)
        # Dead codes: unused for `dead_after` steps -> restart at random current outputs.
        self.unused_steps.add_(1).mul_((count == 0).float())
        dead = self.unused_steps >= self.dead_after
        if dead.any():
            fresh = _broadcast(flat[torch.randint(0, len(flat), (int(dead.sum()),), device=flat.device)])
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh
            self.ema_count[dead] = 1.0
            self.unused_steps[dead] = 0


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_reduce(x: torch.Tensor) -> torch.Tensor:
    """Sum over DDP workers, so every replica keeps the same codebook."""
    if _distributed():
        dist.all_reduce(x)
    return x


def _broadcast(x: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.broadcast(x, src=0)
    return x


class FSQuantizer(nn.Module):
    """z (B, len(levels), ...) -> quantised z in [-1, 1] and integer codes (B, ...)."""

    def __init__(self, levels: list[int]):
        super().__init__()
        if not levels or min(levels) < 2:
            raise ValueError(f"FSQ levels must be integers >= 2, got {levels}")
        self.levels = list(levels)
        self.codebook_size = int(torch.tensor(levels).prod())
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = torch.cumprod(torch.tensor([1] + list(levels[:-1])), 0)
        self.register_buffer("_basis", basis.long(), persistent=False)

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        """tanh to (-(L-1)/2, (L-1)/2) per channel, shifted for even L so rounding gives L values."""
        half = (self._levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        with torch.autocast(z.device.type, enabled=False):
            zc = z.float().movedim(1, -1)  # channels last: (B, ..., C)
            bounded = self._bound(zc)
            rounded = bounded + (torch.round(bounded) - bounded).detach()  # straight-through
            half_width = (self._levels // 2)
            quantized = rounded / half_width
            codes = self.codes_from_quantized(quantized)
            probs = torch.bincount(codes.flatten(), minlength=self.codebook_size).float() / codes.numel()
            perplexity = torch.exp(-(probs * (probs + 1e-10).log()).sum())
        return QuantizerOutput(quantized.movedim(-1, 1), codes, torch.zeros((), device=z.device), perplexity)

    def codes_from_quantized(self, quantized: torch.Tensor) -> torch.Tensor:
        """(..., C) values in [-1, 1] -> (...) integer codes."""
        half_width = self._levels // 2
        digits = torch.round(quantized * half_width + half_width).long()
        return (digits * self._basis).sum(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, ...) codes -> (B, C, ...) quantised values."""
        half_width = self._levels // 2
        digits = (codes[..., None] // self._basis) % self._levels.long()
        return ((digits - half_width) / half_width).movedim(-1, 1)


def codebook_usage(codes: torch.Tensor, codebook_size: int) -> tuple[float, float]:
    """(fraction of codes used at least once, perplexity of the code histogram)."""
    counts = torch.bincount(codes.reshape(-1).long(), minlength=codebook_size).float()
    probs = counts / counts.sum().clamp(min=1)
    entropy = -(probs * (probs + 1e-12).log()).sum()
    return float((counts > 0).float().mean()), float(entropy.exp())
