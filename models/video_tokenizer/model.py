"""The video tokenizer: a causal 3D conv autoencoder with finite scalar quantisation.

    clip (B, 3, T, H, W) in [-1, 1], T = 1 + t * k
      -> pad the front with t - 1 copies of frame 0        (B, 3, t * L, H, W), L = 1 + k
      -> patchify: t frames x p x p pixels per position   (B, 3 t p^2, L, H / p, W / p)
      -> causal residual blocks, strided downsampling to H / f
      -> FSQ                                               codes (B, L, H / f, W / f)
      and back by the mirror image, dropping the t - 1 padded frames.

Causal like Cosmos' tokenizer: a latent frame sees only its own frames and earlier ones
(temporal convolutions pad on the left only), and the first latent frame sees frame 0
alone, so an image is a one-frame clip and I2VM's first latent frame is the image's.
Time is compressed in the patchify step (t frames side by side in channels), space by the
patch `p` and then by strided convolutions to the total factor `f` (8 or 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from unimo.models import timeline
from unimo.models.quantizer import FSQuantizer, QuantizerOutput
from unimo.platform.config import option


@dataclass
class VideoTokenizerConfig:
    temporal_factor: int = option(4, help="t: frames per latent frame after the first (1, 2, 4 or 8)")
    spatial_factor: int = option(8, help="f: pixels per latent position along each side (8 or 16)")
    patch: int = option(4, help="p: pixels per side folded into channels up front (the rest of f is strided convs)")
    levels: list[int] = option([8, 8, 8, 5, 5, 5], help="FSQ levels per channel; prod(levels) codes (64,000 as Cosmos)")
    hidden: int = option(128, help="channels of the conv blocks")
    depth: int = option(2, help="residual blocks per resolution")

    def __post_init__(self):
        timeline.latent_frames(1, self.temporal_factor)  # checks t
        if self.spatial_factor not in (8, 16):
            raise ValueError(f"spatial_factor must be 8 or 16, got {self.spatial_factor}")
        if self.spatial_factor % self.patch or self.patch & (self.patch - 1):
            raise ValueError(f"patch must be a power of two dividing spatial_factor, got {self.patch} for {self.spatial_factor}")

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Latent positions (h, w) of a frame of that size."""
        if height % self.spatial_factor or width % self.spatial_factor:
            raise timeline.ClipLengthError(f"frames of {height}x{width} px cannot be tokenized at {self.spatial_factor}x in space: "
                                           f"both sides must be multiples of {self.spatial_factor}")
        return height // self.spatial_factor, width // self.spatial_factor

    def tokens(self, frames: int, height: int, width: int) -> int:
        """Video tokens of a clip: L(T) x h x w."""
        h, w = self.grid(height, width)
        return timeline.latent_frames(frames, self.temporal_factor) * h * w


class CausalConv3d(nn.Module):
    """k x k in space (same padding), kt in time padded on the left only: causal."""

    def __init__(self, cin: int, cout: int, k: int = 3, kt: int = 3):
        super().__init__()
        self.kt = kt
        self.conv = nn.Conv3d(cin, cout, (kt, k, k), padding=(0, k // 2, k // 2))

    def forward(self, x):  # (B, C, L, h, w)
        x = torch.cat([x[:, :, :1].expand(-1, -1, self.kt - 1, -1, -1), x], dim=2)  # repeat the first frame back in time
        return self.conv(x)


class FrameNorm(nn.GroupNorm):
    """GroupNorm over each latent frame on its own: statistics over time would leak the
    future into the past."""

    def forward(self, x):  # (B, C, L, h, w)
        B, C, L, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(B * L, C, h, w))
        return y.reshape(B, L, C, h, w).transpose(1, 2)


class ResBlock(nn.Module):
    """Factorised (2+1)D: a 3x3 conv in space, then a causal conv over 3 latent frames
    (about half the cost of a full 3x3x3 conv)."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(FrameNorm(8, channels), nn.SiLU(), CausalConv3d(channels, channels, k=3, kt=1),
                                 FrameNorm(8, channels), nn.SiLU(), CausalConv3d(channels, channels, k=1, kt=3))

    def forward(self, x):
        return x + self.net(x)


class SpatialResample(nn.Module):
    """Halve (down) or double (up) h and w of every latent frame."""

    def __init__(self, channels: int, down: bool):
        super().__init__()
        self.down = down
        self.conv = nn.Conv2d(channels, channels, 4 if down else 3, stride=2 if down else 1, padding=1)

    def forward(self, x):
        B, C, L, h, w = x.shape
        y = x.transpose(1, 2).reshape(B * L, C, h, w)
        if not self.down:
            y = nn.functional.interpolate(y, scale_factor=2, mode="nearest")
        y = self.conv(y)
        return y.reshape(B, L, C, *y.shape[-2:]).transpose(1, 2)


def _blocks(channels: int, depth: int) -> list[nn.Module]:
    return [ResBlock(channels) for _ in range(depth)]


class VideoTokenizer(nn.Module):
    def __init__(self, cfg: VideoTokenizerConfig):
        super().__init__()
        self.cfg = cfg
        t, p, c = cfg.temporal_factor, cfg.patch, cfg.hidden
        stages = int(math.log2(cfg.spatial_factor // p))
        patch_channels = 3 * t * p * p
        enc: list[nn.Module] = [CausalConv3d(patch_channels, c, k=3, kt=1), *_blocks(c, cfg.depth)]
        for _ in range(stages):
            enc += [SpatialResample(c, down=True), *_blocks(c, cfg.depth)]
        enc += [FrameNorm(8, c), nn.SiLU(), CausalConv3d(c, len(cfg.levels), k=1, kt=1)]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = FSQuantizer(cfg.levels)
        dec: list[nn.Module] = [CausalConv3d(len(cfg.levels), c, k=3, kt=1), *_blocks(c, cfg.depth)]
        for _ in range(stages):
            dec += [SpatialResample(c, down=False), *_blocks(c, cfg.depth)]
        dec += [FrameNorm(8, c), nn.SiLU(), CausalConv3d(c, patch_channels, k=3, kt=1)]
        self.decoder = nn.Sequential(*dec)

    # -- patches: t frames x p x p pixels <-> channels ---------------------------------------

    def _patchify(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        t, p = self.cfg.temporal_factor, self.cfg.patch
        x = torch.cat([x[:, :, :1].expand(-1, -1, t - 1, -1, -1), x], dim=2)  # frame 0 alone fills the first latent frame
        L = x.shape[2] // t
        x = x.reshape(B, C, L, t, H // p, p, W // p, p)
        return x.permute(0, 1, 3, 5, 7, 2, 4, 6).reshape(B, C * t * p * p, L, H // p, W // p)

    def _unpatchify(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        B, _, L, h, w = x.shape
        t, p = self.cfg.temporal_factor, self.cfg.patch
        x = x.reshape(B, 3, t, p, p, L, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(B, 3, L * t, h * p, w * p)
        return x[:, :, t - 1 :][:, :, :frames]  # drop the padded copies of frame 0

    # -- the API ---------------------------------------------------------------------------------

    def check(self, clip: torch.Tensor) -> None:
        if clip.ndim != 5 or clip.shape[1] != 3:
            raise timeline.ClipLengthError(f"a clip must be (B, 3, T, H, W), got {tuple(clip.shape)}")
        timeline.latent_frames(clip.shape[2], self.cfg.temporal_factor)
        self.cfg.grid(*clip.shape[-2:])

    def encode(self, clip: torch.Tensor) -> QuantizerOutput:
        """(B, 3, T, H, W) in [-1, 1] -> codes (B, L, h, w) and quantised latents."""
        self.check(clip)
        return self.quantizer(self.encoder(self._patchify(clip)))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, L, h, w) codes -> (B, 3, T, H, W) in about [-1, 1], T = L(T)'s clip length."""
        return self.decode_latents(self.quantizer.lookup(codes))

    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        frames = timeline.clip_frames(z.shape[2], self.cfg.temporal_factor)
        return self._unpatchify(self.decoder(z), frames)

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, QuantizerOutput]:
        q = self.encode(clip)
        return self.decode_latents(q.quantized), q
