"""Learning-rate schedules: linear warm-up then cosine decay to a floor."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer, total_steps: int, warmup_steps: int, floor: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(warmup_steps, 1)
        progress = min(1.0, (step - warmup_steps) / max(total_steps - warmup_steps, 1))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
