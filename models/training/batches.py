"""Batches from examples held in memory, reshuffled each epoch.

Both runners use it (the ray runner once a worker has read its shard), so with the same
examples in the same order and the same seed they draw the same batches: the permutation
of an epoch depends only on (seed, rank, epoch), which also makes a resumed epoch replay
the same order.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


class InMemoryBatches:
    def __init__(self, arrays: dict[str, np.ndarray | torch.Tensor], seed: int, rank: int = 0):
        self.tensors = {k: torch.as_tensor(v) for k, v in arrays.items()}
        self.seed, self.rank = seed, rank

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values()))) if self.tensors else 0

    def epoch(self, batch_size: int, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """Full batches of a random permutation (the last partial batch is dropped)."""
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.rank) * 1_000_003 + epoch)
        order = torch.randperm(len(self), generator=generator)
        for start in range(0, len(self) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            yield {k: v[idx] for k, v in self.tensors.items()}

    def in_order(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Every example once, in order (validation)."""
        for start in range(0, len(self), batch_size):
            yield {k: v[start : start + batch_size] for k, v in self.tensors.items()}
