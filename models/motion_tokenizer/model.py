"""The motion tokenizer: a VQ-VAE over per-frame SMPL features, with temporal expansion and
expert decoders (UniMo, arXiv 2512.03918).

    features (B, T, F) --encoder (1D convs, /downsample)--> (B, D, L*s)
        --quantizer (one codebook)--> codes (B, L*s)
        --decoder trunk (1D convs, *upsample)--> (B, H, T)
        --expert heads--> shape | translation | global orientation | body pose groups

A video tokenizer compresses time by `temporal_stride`: T frames become L = T / stride
latent frames. The expansion factor `s` gives each latent frame s motion tokens, so the
motion encoder downsamples time by stride / s. `experts` counts the decoder heads: 4 is
one per SMPL parameter group, more split the body pose into kinematic groups, and 1 is a
single shared head (the ablation the paper does not run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from unimo.models.quantizer import EMAQuantizer, QuantizerOutput
from unimo.platform import motion_features as mf
from unimo.platform.config import option
from unimo.platform.smpl_skeleton import ARM_JOINT_NAMES, JOINT_NAMES

# Body-pose groups for experts beyond the four parameter groups, split by kinematic chain.
POSE_GROUPS = {
    2: [["legs", "spine", "head"], ["arms"]],
    3: [["legs"], ["spine", "head"], ["arms"]],
    5: [["left_leg"], ["right_leg"], ["spine", "head"], ["left_arm"], ["right_arm"]],
}
_CHAINS = {
    "legs": ["left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot"],
    "left_leg": ["left_hip", "left_knee", "left_ankle", "left_foot"],
    "right_leg": ["right_hip", "right_knee", "right_ankle", "right_foot"],
    "spine": ["spine1", "spine2", "spine3"],
    "head": ["neck", "head"],
    "arms": ARM_JOINT_NAMES,
    "left_arm": ["left_collar", "left_shoulder", "left_elbow", "left_wrist", "left_hand"],
    "right_arm": ["right_collar", "right_shoulder", "right_elbow", "right_wrist", "right_hand"],
}


@dataclass
class MotionTokenizerConfig:
    codebook_size: int = option(512, help="codes in the one codebook")
    code_dim: int = option(128, help="width of a code")
    hidden: int = option(256, help="channels of the conv encoder and decoder")
    depth: int = option(2, help="residual blocks per resolution")
    temporal_stride: int = option(4, help="frames per video latent frame (L = T / stride)")
    expansion: int = option(2, help="s: motion tokens per video latent frame")
    experts: int = option(4, help="decoder heads: 1 (shared), 4 (shape, translation, orientation, pose), or 5-8 (pose split)")
    normalize_codes: bool = option(False, help="l2-normalised codes, nearest by angle (more codes stay in use)")
    feature_std_floor: float = option(1e-3, help="smallest feature std used to normalise (a near-constant feature's z-scores explode on new data)")
    commit_weight: float = option(0.02, help="commitment loss weight")
    ema_decay: float = option(0.99, help="codebook EMA decay")

    def __post_init__(self):
        down = self.temporal_stride / self.expansion
        if down < 1 or down != int(down) or int(down) & (int(down) - 1):
            raise ValueError(f"temporal_stride / expansion must be a power of two >= 1, got {self.temporal_stride}/{self.expansion}")
        if self.experts not in (1, 4) and self.experts - 3 not in POSE_GROUPS:
            raise ValueError(f"experts must be 1, 4, 5, 6 or 8, got {self.experts}")

    @property
    def downsample(self) -> int:
        return self.temporal_stride // self.expansion

    def tokens_for(self, frames: int) -> int:
        """Motion tokens for a clip: L * s, with L = ceil(T / stride) latent frames."""
        return math.ceil(frames / self.temporal_stride) * self.expansion


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.SiLU(), nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation),
            nn.SiLU(), nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x):
        return x + self.net(x)


def _stack(channels: int, depth: int) -> list[nn.Module]:
    return [ResBlock(channels, 3**i) for i in range(depth)]


class Encoder(nn.Module):
    def __init__(self, cfg: MotionTokenizerConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(mf.FEATURE_DIM, cfg.hidden, 3, padding=1)]
        for _ in range(int(math.log2(cfg.downsample))):
            layers += [nn.Conv1d(cfg.hidden, cfg.hidden, 4, stride=2, padding=1), *_stack(cfg.hidden, cfg.depth)]
        layers += [*_stack(cfg.hidden, cfg.depth), nn.SiLU(), nn.Conv1d(cfg.hidden, cfg.code_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (B, F, T) -> (B, D, T / downsample)
        return self.net(x)


class DecoderTrunk(nn.Module):
    def __init__(self, cfg: MotionTokenizerConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(cfg.code_dim, cfg.hidden, 3, padding=1), *_stack(cfg.hidden, cfg.depth)]
        for _ in range(int(math.log2(cfg.downsample))):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(cfg.hidden, cfg.hidden, 3, padding=1),
                       *_stack(cfg.hidden, cfg.depth)]
        layers += [nn.SiLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


def expert_slices(experts: int) -> list[tuple[str, list[int]]]:
    """(name, feature indices) that each decoder head predicts; together they cover every feature."""
    every = list(range(mf.FEATURE_DIM))
    if experts == 1:
        return [("shared", every)]
    heads = [("shape", list(range(mf.BETAS.start, mf.BETAS.stop))),
             ("translation", list(range(mf.VELOCITY.start, mf.VELOCITY.stop))),
             ("orientation", list(range(mf.ROOT.start, mf.ROOT.stop)))]
    if experts == 4:
        return heads + [("pose", list(range(mf.BODY.start, mf.BODY.stop)))]
    for group in POSE_GROUPS[experts - 3]:
        joints = [JOINT_NAMES.index(j) for chain in group for j in _CHAINS[chain]]
        idx = [6 * j + k for j in sorted(joints) for k in range(6)]  # joint j >= 1: its 6D sits at 6 * j
        heads.append(("pose:" + "+".join(group), idx))
    return heads


class MotionTokenizer(nn.Module):
    def __init__(self, cfg: MotionTokenizerConfig, feature_mean: torch.Tensor | None = None, feature_std: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = EMAQuantizer(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, normalize=cfg.normalize_codes)
        self.trunk = DecoderTrunk(cfg)
        self.heads = nn.ModuleList()
        self.head_index: list[list[int]] = []
        for _, idx in expert_slices(cfg.experts):
            self.heads.append(nn.Sequential(nn.Conv1d(cfg.hidden, cfg.hidden, 3, padding=1), nn.SiLU(), nn.Conv1d(cfg.hidden, len(idx), 1)))
            self.head_index.append(idx)
        self.register_buffer("mean", feature_mean if feature_mean is not None else torch.zeros(mf.FEATURE_DIM))
        self.register_buffer("std", (feature_std if feature_std is not None else torch.ones(mf.FEATURE_DIM)).clamp(min=cfg.feature_std_floor))

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Pad time to a multiple of the temporal stride (repeating the last frame)."""
        T = x.shape[1]
        target = math.ceil(T / self.cfg.temporal_stride) * self.cfg.temporal_stride
        if target > T:
            x = torch.cat([x, x[:, -1:].expand(-1, target - T, -1)], dim=1)
        return x, T

    def encode(self, features: torch.Tensor) -> QuantizerOutput:
        """(B, T, F) raw features -> quantised latents and codes (B, L * s)."""
        x, _ = self._pad((features - self.mean) / self.std)
        return self.quantizer(self.encoder(x.transpose(1, 2)))

    def decode_latents(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        """(B, D, L * s) -> (B, T, F) raw features."""
        h = self.trunk(z)
        out = torch.empty(h.shape[0], mf.FEATURE_DIM, h.shape[2], device=h.device, dtype=h.dtype)
        for head, idx in zip(self.heads, self.head_index):
            out[:, idx] = head(h)
        return (out.transpose(1, 2) * self.std + self.mean)[:, :frames]

    def decode(self, codes: torch.Tensor, frames: int) -> torch.Tensor:
        return self.decode_latents(self.quantizer.lookup(codes), frames)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, QuantizerOutput]:
        q = self.encode(features)
        return self.decode_latents(q.quantized, features.shape[1]), q
