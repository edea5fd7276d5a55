"""A small network that regresses SMPL parameters from a clip's frames: what UniMo's V2M
must beat to be worth its tokens.

    frames (B, T, S, S, 3) uint8
      -> a 2D CNN per frame (4 strided stages, S -> S / 16)      (B, T, width)
      -> residual temporal convolutions (kernel 5, both sides)   (B, T, width)
      -> per frame: 24 local rotations in 6D (the root's heading removed, as the metric
         removes it); per clip: betas, from the mean over frames

It reads the frames themselves, not video tokens, so it has all the information UniMo's
video tokenizer keeps and more.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unimo.platform.config import option
from unimo.platform.rotations import matrix_to_rotation_6d
from unimo.platform.smpl_skeleton import NUM_JOINTS


@dataclass
class RegressorConfig:
    channels: int = option(32, help="channels of the first conv stage (doubling to 4x)")
    width: int = option(256, help="features per frame")
    temporal_blocks: int = option(2, help="residual temporal conv blocks")
    num_betas: int = option(10, help="shape coefficients")


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(8, cout), nn.GELU(),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.GroupNorm(8, cout), nn.GELU())


class DirectRegressor(nn.Module):
    def __init__(self, cfg: RegressorConfig, size: int):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.cnn = nn.Sequential(_stage(3, c), _stage(c, 2 * c), _stage(2 * c, 4 * c), _stage(4 * c, 4 * c), nn.Flatten(),
                                 nn.Linear(4 * c * (size // 16) ** 2, cfg.width), nn.GELU())
        self.temporal = nn.ModuleList(nn.Sequential(nn.Conv1d(cfg.width, cfg.width, 5, padding=2), nn.GELU(),
                                                    nn.Conv1d(cfg.width, cfg.width, 1)) for _ in range(cfg.temporal_blocks))
        self.rotations = nn.Linear(cfg.width, 6 * NUM_JOINTS)
        self.betas = nn.Linear(cfg.width, cfg.num_betas)
        nn.init.zeros_(self.rotations.weight)
        with torch.no_grad():  # starts at the rest pose and the mean body
            self.rotations.bias.copy_(matrix_to_rotation_6d(torch.eye(3)).repeat(NUM_JOINTS))
        nn.init.zeros_(self.betas.weight)
        nn.init.zeros_(self.betas.bias)

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, T, S, S, 3) -> (rotations (B, T, 24, 6), betas (B, num_betas))."""
        B, T = video.shape[:2]
        x = video.flatten(0, 1).permute(0, 3, 1, 2).float() / 127.5 - 1
        h = self.cnn(x).view(B, T, -1).transpose(1, 2)  # (B, width, T)
        for block in self.temporal:
            h = h + block(h)
        h = h.transpose(1, 2)
        return self.rotations(h).unflatten(-1, (NUM_JOINTS, 6)), self.betas(h.mean(1))
