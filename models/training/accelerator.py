"""Where training runs and in what precision: the device, bf16 autocast, the optimiser,
batch transfer and `torch.compile`, decided once from the trainer config.

On CUDA: bf16 autocast (no loss scaling needed, unlike fp16), fused AdamW, batches copied
from pinned memory without blocking the host, and `torch.compile` when asked. On the CPU
nothing changes: fp32, the plain AdamW, no compile (unless asked), so CPU results stay
comparable with earlier runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from unimo.platform.errors import UnimoError


class DeviceError(UnimoError):
    """A device the trainer config asks for that this machine does not have."""


def pick_device(use_gpu: bool) -> torch.device:
    if not use_gpu:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError("trainer.use_gpu=true, but torch sees no CUDA device here (set trainer.use_gpu=false to train on the CPU)")
    return torch.device("cuda", torch.cuda.current_device())


@dataclass
class Accelerator:
    device: torch.device
    precision: str = "auto"  # auto: bf16 on CUDA, fp32 elsewhere
    compile: bool = False

    def __post_init__(self):
        if self.precision not in ("auto", "fp32", "bf16"):
            raise DeviceError(f"trainer.precision must be auto, fp32 or bf16, got '{self.precision}'")

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def dtype(self) -> torch.dtype:
        if self.precision == "bf16" or (self.precision == "auto" and self.on_cuda):
            return torch.bfloat16
        return torch.float32

    def autocast(self):
        """The forward pass's precision context (a no-op in fp32)."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def optimizer(self, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        # fused: one kernel for every parameter's update instead of a loop of small ones
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **({"fused": True} if self.on_cuda else {}))

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.on_cuda:
            return {k: v.to(self.device) for k, v in batch.items()}
        # pinned pages copy by DMA while the GPU works on the previous step
        return {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in batch.items()}

    def maybe_compile(self, model: torch.nn.Module) -> torch.nn.Module:
        return torch.compile(model) if self.compile else model


def full_precision(device_type: str):
    """Leave autocast for what must stay fp32 (nearest-code search, kinematics, losses in mm)."""
    return torch.autocast(device_type, enabled=False)
