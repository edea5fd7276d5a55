"""A small network that regresses SMPL parameters from a clip's frames: what UniMo's V2M
must beat to be worth its tokens.

    frames (B, T, S, S, 3) uint8
      -> a 2D CNN per frame (4 strided stages, S -> S / 16)      (B, T, width)
      -> residual temporal convolutions (kernel 5, both sides)   (B, T, width)
      -> per frame: 24 local rotations in 6D (the root's heading removed, as the metric
         removes it); per clip: betas, from the mean over frames

It reads the frames themselves, not video tokens, so it has all the information UniMo's
video tokenizer keeps and more.

`TokenRegressor` is the same network over UniMo's video tokens instead of the frames (a
probe, `v2m_baseline.model.input=video_tokens`): each latent frame's grid of codes is
embedded and convolved to one feature vector, the temporal convolutions run over latent
frames, and each latent frame regresses the frames it stands for (the first one frame, the
others t each, as `timeline` lays them out). Beside the frame regressor, on the same
windows, it says whether the pose survives tokenization: the question UniMo's V2M cannot
answer by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from unimo.models.quantizer import FSQuantizer
from unimo.platform.config import option
from unimo.platform.rotations import matrix_to_rotation_6d
from unimo.platform.smpl_skeleton import NUM_JOINTS


@dataclass
class RegressorConfig:
    input: Literal["frames", "video_tokens"] = option("frames", help="what it regresses from: the frames, or UniMo's video tokens "
                                                                     "(a probe of what tokenization keeps)")
    code_embedding: Literal["learned", "fsq"] = option("learned", help="video_tokens: a learned table, or each code's FSQ "
                                                                       "digits, fixed (what the tokenizer's decoder reads)")
    code_dim: int = option(64, help="video_tokens, learned: embedding size of a video code")
    channels: int = option(32, help="channels of the first conv stage (doubling to 4x)")
    width: int = option(256, help="features per frame")
    temporal_blocks: int = option(2, help="residual temporal conv blocks")
    num_betas: int = option(10, help="shape coefficients")


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(8, cout), nn.GELU(),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.GroupNorm(8, cout), nn.GELU())


class _Regressor(nn.Module):
    """What both regressors share: per-step features (B, steps, width) -> residual temporal
    convolutions -> per step `frames_per_step` frames of 24 6D rotations, and betas from the
    mean over steps; starting at the rest pose and the mean body."""

    def __init__(self, cfg: RegressorConfig, frames_per_step: int = 1):
        super().__init__()
        self.cfg, self.frames_per_step = cfg, frames_per_step
        self.temporal = nn.ModuleList(nn.Sequential(nn.Conv1d(cfg.width, cfg.width, 5, padding=2), nn.GELU(),
                                                    nn.Conv1d(cfg.width, cfg.width, 1)) for _ in range(cfg.temporal_blocks))
        self.rotations = nn.Linear(cfg.width, frames_per_step * 6 * NUM_JOINTS)
        self.betas = nn.Linear(cfg.width, cfg.num_betas)
        nn.init.zeros_(self.rotations.weight)
        with torch.no_grad():
            self.rotations.bias.copy_(matrix_to_rotation_6d(torch.eye(3)).repeat(frames_per_step * NUM_JOINTS))
        nn.init.zeros_(self.betas.weight)
        nn.init.zeros_(self.betas.bias)

    def regress(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = h.transpose(1, 2)  # (B, width, steps)
        for block in self.temporal:
            h = h + block(h)
        h = h.transpose(1, 2)
        rotations = self.rotations(h).unflatten(-1, (self.frames_per_step, NUM_JOINTS, 6)).flatten(1, 2)
        return rotations, self.betas(h.mean(1))


class DirectRegressor(_Regressor):
    def __init__(self, cfg: RegressorConfig, size: int):
        super().__init__(cfg)
        c = cfg.channels
        self.cnn = nn.Sequential(_stage(3, c), _stage(c, 2 * c), _stage(2 * c, 4 * c), _stage(4 * c, 4 * c), nn.Flatten(),
                                 nn.Linear(4 * c * (size // 16) ** 2, cfg.width), nn.GELU())

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, T, S, S, 3) -> (rotations (B, T, 24, 6), betas (B, num_betas))."""
        B, T = video.shape[:2]
        x = video.flatten(0, 1).permute(0, 3, 1, 2).float() / 127.5 - 1
        return self.regress(self.cnn(x).view(B, T, -1))


class TokenRegressor(_Regressor):
    def __init__(self, cfg: RegressorConfig, codes: int, grid: tuple[int, int], temporal_factor: int, fsq_levels: list[int] = ()):
        super().__init__(cfg, frames_per_step=temporal_factor)
        self.grid = tuple(grid)
        c = cfg.channels
        if cfg.code_embedding == "fsq":  # each code as the point of the FSQ grid it names, not learned
            self.embed = nn.Embedding.from_pretrained(FSQuantizer(list(fsq_levels)).lookup(torch.arange(codes)[None])[0].T)
        else:
            self.embed = nn.Embedding(codes, cfg.code_dim)
        self.cnn = nn.Sequential(nn.Conv2d(self.embed.embedding_dim, 4 * c, 3, 1, 1), nn.GroupNorm(8, 4 * c), nn.GELU(),
                                 _stage(4 * c, 4 * c), nn.Flatten(),
                                 nn.Linear(4 * c * ((grid[0] + 1) // 2) * ((grid[1] + 1) // 2), cfg.width), nn.GELU())

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Video codes (B, L * h * w) or (B, L, h, w) -> (rotations (B, 1 + (L - 1) t, 24, 6), betas)."""
        B = codes.shape[0]
        codes = codes.long().view(B, -1, *self.grid)
        L = codes.shape[1]
        x = self.embed(codes.flatten(0, 1)).permute(0, 3, 1, 2)  # (B L, code_dim, h, w)
        rotations, betas = self.regress(self.cnn(x).view(B, L, -1))
        return rotations[:, self.frames_per_step - 1 :], betas  # the image-only first latent frame stands for one frame: its last slot


def build(cfg: RegressorConfig, size: int, codes: int = 0, grid: tuple[int, int] = (0, 0), temporal_factor: int = 1,
          fsq_levels: list[int] = ()) -> nn.Module:
    return DirectRegressor(cfg, size) if cfg.input == "frames" else TokenRegressor(cfg, codes, grid, temporal_factor, fsq_levels)
