"""The UniMo vocabulary: special tokens, task tokens, video codes and motion codes, as
ranges of one id space. The one place that defines them; the model, the layouts, sampling
and evaluation import it.

    0 .. 2                  special: PAD, BOS, NULL (a dropped condition, for guidance)
    3 .. 5                  tasks:   I2VM, V2M, M2V
    6 .. 6+Kv-1             video codes   (the video tokenizer's Kv codes, shifted)
    6+Kv .. 6+Kv+Km-1       motion codes  (the motion tokenizer's Km codes, shifted)

Every id has a kind (special, video or motion); the (kind x vocabulary) table `allowed`
says which ids a position of each kind may hold. It drives the per-modality head, the loss
and constrained decoding alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch

from unimo.platform.errors import UnimoError

SPECIALS = ("pad", "bos", "null")
TASKS = ("i2vm", "v2m", "m2v")


class Kind(IntEnum):
    SPECIAL = 0  # special and task tokens
    VIDEO = 1
    MOTION = 2


class UnknownTaskError(UnimoError):
    """A task name that is not one of TASKS."""


def check_task(task: str) -> str:
    if task not in TASKS:
        raise UnknownTaskError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    return task


@dataclass(frozen=True)
class Vocabulary:
    video_codes: int  # Kv: the video tokenizer's codebook size
    motion_codes: int  # Km: the motion tokenizer's codebook size

    PAD, BOS, NULL = range(3)

    @property
    def video_offset(self) -> int:
        return len(SPECIALS) + len(TASKS)

    @property
    def motion_offset(self) -> int:
        return self.video_offset + self.video_codes

    @property
    def size(self) -> int:
        return self.motion_offset + self.motion_codes

    def task_id(self, task: str) -> int:
        return len(SPECIALS) + TASKS.index(check_task(task))

    def ranges(self) -> dict[Kind, tuple[int, int]]:
        """[start, end) of each kind's ids."""
        return {Kind.SPECIAL: (0, self.video_offset), Kind.VIDEO: (self.video_offset, self.motion_offset),
                Kind.MOTION: (self.motion_offset, self.size)}

    def allowed(self) -> torch.Tensor:
        """(kinds, vocabulary) bool: which ids a position of each kind may hold."""
        table = torch.zeros(len(Kind), self.size, dtype=torch.bool)
        for kind, (start, end) in self.ranges().items():
            table[kind, start:end] = True
        return table

    def kind_of(self, ids: torch.Tensor) -> torch.Tensor:
        """The kind of each id."""
        return (ids >= self.video_offset).long() + (ids >= self.motion_offset).long()
