"""Throughput measures shared by the benchmarks and the GPU check: FLOPs of a training
step (counted by torch), a plain matmul's FLOP/s on the same device (the practical peak
the step is compared with), and the steady-state step rate of a logged run."""

from __future__ import annotations

import time

import torch


def flops_per_step(stage, model: torch.nn.Module, batch: dict, acc) -> int:
    """FLOPs of one training step of `stage` (forward and backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        with acc.autocast():
            loss, _ = stage.loss(model, acc.to_device(batch))
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_flops(device: torch.device, dtype: torch.dtype, n: int, seconds: float = 2.0) -> float:
    """FLOP/s of a plain square (n x n) matmul on `device` in `dtype`."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        sync()
    return 2 * n**3 * count / (time.perf_counter() - start)


def steady_rate(times: list[tuple[int, float]]) -> float:
    """Steps/s over the second half of a run, from (step, seconds) points: start-up,
    first-epoch reads and compilation excluded."""
    last_step = times[-1][0]
    half = [(s, t) for s, t in times if s >= last_step / 2] or times
    (s0, t0), (s1, t1) = half[0], times[-1]
    return (s1 - s0) / (t1 - t0) if t1 > t0 else float("nan")
