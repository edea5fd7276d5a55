"""Token layouts: where each video and motion token of a clip sits in the sequence, for each
task. One module, used by training, sampling and evaluation alike.

A clip has L latent frames; latent frame j holds h*w video tokens V_j and s motion tokens
M_j (`unimo.models.timeline`: the first, image-only latent frame included). Every task's
sequence holds the same tokens, so every task has the same length, 2 + L * (h*w + s), and
tasks mix freely in one batch:

    I2VM  [BOS][I2VM] V_0 | M_0 V_1 M_1 ... V_{L-1} M_{L-1}      given: the image V_0
    V2M   [BOS][V2M]  V_0 ... V_{L-1} | M_0 ... M_{L-1}           appended (default)
          [BOS][V2M]  V_0 M_0 V_1 M_1 ... V_{L-1} M_{L-1}         interleaved: M_j sees V_0..V_j only
    M2V   [BOS][M2V]  M_0 ... M_{L-1} | V_0 ... V_{L-1}           given: the motion

I2VM interleaves in time (synchronized generation: a latent frame's motion follows its
video). Tokens on the left of `|` are given (the condition); the rest are generated.

A layout is three tables over positions: `source` (which of the clip's tokens sits there;
-1 for BOS and the task token), `kinds` (its modality) and `generated`. The kind of
position p + 1 is what position p predicts: it selects the head's vocabulary, the loss mask
is `generated[1:]`, and sampling constrains each step by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from unimo.models.unimo.vocabulary import TASKS, Kind, Vocabulary, check_task

PREFIX = 2  # BOS, task


@dataclass(frozen=True)
class TokenGrid:
    """The token shape of one clip (from the token shards' manifest)."""

    latent_frames: int  # L
    height: int  # h
    width: int  # w
    motion_per_latent: int  # s

    @property
    def video_per_latent(self) -> int:
        return self.height * self.width

    @property
    def video_tokens(self) -> int:
        return self.latent_frames * self.video_per_latent

    @property
    def motion_tokens(self) -> int:
        return self.latent_frames * self.motion_per_latent

    @property
    def sequence_length(self) -> int:
        return PREFIX + self.video_tokens + self.motion_tokens


@dataclass(frozen=True)
class TaskLayout:
    task: str
    source: np.ndarray  # (N,) index into [video (L*h*w), motion (L*s)] flattened; -1: BOS or task token
    kinds: np.ndarray  # (N,) Kind of the token at each position
    generated: np.ndarray  # (N,) bool: generated (loss, sampling) rather than given

    @property
    def prefix_given(self) -> int:
        """Positions given before the first generated one (what one prefill step reads)."""
        return int(np.argmax(self.generated)) if self.generated.any() else len(self.generated)


def task_layout(task: str, grid: TokenGrid, v2m: Literal["appended", "interleaved"] = "appended") -> TaskLayout:
    check_task(task)
    if v2m not in ("appended", "interleaved"):
        raise ValueError(f"v2m layout must be 'appended' or 'interleaved', got '{v2m}'")
    L, hw, s = grid.latent_frames, grid.video_per_latent, grid.motion_per_latent
    video = [np.arange(j * hw, (j + 1) * hw) for j in range(L)]  # V_j's places in the flat token array
    motion = [grid.video_tokens + np.arange(j * s, (j + 1) * s) for j in range(L)]

    def interleaved():
        return [part for j in range(L) for part in ((video[j], Kind.VIDEO), (motion[j], Kind.MOTION))]

    if task == "i2vm":
        parts = interleaved()
        n_given = hw  # the image: V_0
    elif task == "v2m" and v2m == "interleaved":
        parts = interleaved()
        n_given = None  # every video token is given, wherever it sits
    elif task == "v2m":
        parts = [(v, Kind.VIDEO) for v in video] + [(m, Kind.MOTION) for m in motion]
        n_given = grid.video_tokens
    else:  # m2v
        parts = [(m, Kind.MOTION) for m in motion] + [(v, Kind.VIDEO) for v in video]
        n_given = grid.motion_tokens
    source = np.concatenate([np.full(PREFIX, -1)] + [idx for idx, _ in parts])
    kinds = np.concatenate([np.full(PREFIX, Kind.SPECIAL)] + [np.full(len(idx), kind) for idx, kind in parts])
    if n_given is None:
        generated = kinds == Kind.MOTION
    else:
        generated = np.arange(len(source)) >= PREFIX + n_given
    return TaskLayout(task, source, kinds.astype(np.int64), generated)


class Layouts:
    """Every task's layout for one token grid, as stacked tensors, to build and split
    batches of sequences whose examples may each have a different task."""

    def __init__(self, grid: TokenGrid, vocab: Vocabulary, v2m: Literal["appended", "interleaved"] = "appended"):
        self.grid, self.vocab, self.v2m = grid, vocab, v2m
        self.tasks = {t: task_layout(t, grid, v2m) for t in TASKS}
        self.source = torch.as_tensor(np.stack([self.tasks[t].source for t in TASKS]))  # (tasks, N)
        self.kinds = torch.as_tensor(np.stack([self.tasks[t].kinds for t in TASKS]))
        self.generated = torch.as_tensor(np.stack([self.tasks[t].generated for t in TASKS]))
        self.task_ids = torch.tensor([vocab.task_id(t) for t in TASKS])
        self._placed: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(source, kinds, generated, task_ids) on `device`, copied there once."""
        if device not in self._placed:
            self._placed[device] = tuple(x.to(device) for x in (self.source, self.kinds, self.generated, self.task_ids))
        return self._placed[device]

    @staticmethod
    def task_index(task: str) -> int:
        return TASKS.index(check_task(task))

    def sequences(self, video: torch.Tensor, motion: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Token ids (B, N) of clips' video codes (B, L, h, w), motion codes (B, L, s), and
        each example's task index (B,)."""
        flat = torch.cat([video.flatten(1).long() + self.vocab.video_offset, motion.flatten(1).long() + self.vocab.motion_offset], 1)
        source, _, _, task_ids = self._on(flat.device)
        ids = torch.gather(flat, 1, source[task].clamp(min=0))  # (B, N)
        ids[:, 0] = self.vocab.BOS
        ids[:, 1] = task_ids[task]
        return ids

    def split(self, ids: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences (B, N) of one task -> its clips' (video codes (B, L, h, w), motion codes (B, L, s))."""
        layout = self.tasks[check_task(task)]
        flat = torch.empty(ids.shape[0], self.grid.video_tokens + self.grid.motion_tokens, dtype=ids.dtype, device=ids.device)
        body = torch.as_tensor(layout.source[PREFIX:], device=ids.device)
        flat[:, body] = ids[:, PREFIX:]
        g = self.grid
        video = flat[:, : g.video_tokens] - self.vocab.video_offset
        motion = flat[:, g.video_tokens :] - self.vocab.motion_offset
        return video.view(-1, g.latent_frames, g.height, g.width), motion.view(-1, g.latent_frames, g.motion_per_latent)

    def next_kinds(self, task: torch.Tensor) -> torch.Tensor:
        """(B, N - 1): the kind each input position predicts (the kind of the next token)."""
        return self._on(task.device)[1][task][:, 1:]

    def loss_mask(self, task: torch.Tensor) -> torch.Tensor:
        """(B, N - 1): which targets are generated tokens (the only ones with a loss)."""
        return self._on(task.device)[2][task][:, 1:]

    def drop_condition(self, ids: torch.Tensor, task: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """The given tokens of the examples where `drop` is set, replaced by NULL (the
        unconditional branch of classifier-free guidance); BOS and the task token stay."""
        given = ~self._on(ids.device)[2][task]
        given[:, :PREFIX] = False
        return ids.masked_fill(given & drop[:, None], self.vocab.NULL)
