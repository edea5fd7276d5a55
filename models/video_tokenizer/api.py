"""Video tokenizer inference: frames to token ids and back, batched, behind one API for
unimo's own tokenizer and for a pretrained Cosmos-style one.

    tok = VideoTokenizerInference.load("path/to/checkpoint")       # folder or state.pt
    tok = VideoTokenizerInference.load("runs:/<mlflow run id>")      # or an MLflow run id
    tok = VideoTokenizerInference.load("cosmos:/path/to/DV4x8x8")    # encoder.jit + decoder.jit
    codes = tok.encode(frames)        # uint8 (B, T, H, W, 3) -> (B, L, h, w) token ids
    frames = tok.decode(codes)        # -> uint8 (B, T, H, W, 3), T = 1 + t * (L - 1)

A Cosmos-style tokenizer is a TorchScript pair: `encoder.jit` takes (B, 3, T, H, W) in
[-1, 1] and returns the token ids (or a tuple whose first item they are, as Cosmos' discrete
tokenizers do); `decoder.jit` takes the ids and returns the clip in [-1, 1]. Its factors
and vocabulary are read from the folder's `tokenizer.json` when present
({"temporal_factor", "spatial_factor", "codebook_size"}), else measured by encoding a
probe clip.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from unimo.models import timeline
from unimo.models.training import checkpoint as ckpt_lib
from unimo.models.video_tokenizer.data import to_model_input, to_uint8


class VideoTokenizerInference:
    def __init__(self, encoder, decoder, temporal_factor: int, spatial_factor: int, codebook_size: int, source: str,
                 device: str = "cpu"):
        self._encoder, self._decoder = encoder, decoder
        self.temporal_factor, self.spatial_factor, self.codebook_size = temporal_factor, spatial_factor, codebook_size
        self.source, self.device = source, device

    @classmethod
    def load(cls, source: str, device: str = "cpu") -> "VideoTokenizerInference":
        if source.startswith("cosmos:"):
            return cls._load_cosmos(source[len("cosmos:") :], device)
        from unimo.models.video_tokenizer.model import VideoTokenizer
        from unimo.models.video_tokenizer.stage import VideoTokenizerStageConfig
        from unimo.platform.config import from_dict

        state = ckpt_lib.load_stage(source, "video_tokenizer", map_location=device)
        cfg = from_dict(VideoTokenizerStageConfig, state["config"]["stage_config"]).model
        model = VideoTokenizer(cfg)
        model.load_state_dict({k[len("tokenizer.") :]: v for k, v in state["model"].items() if k.startswith("tokenizer.")})
        model = model.to(device).eval()
        return cls(lambda x: model.encode(x).codes, model.decode, cfg.temporal_factor, cfg.spatial_factor, cfg.codebook_size,
                   source, device)

    @classmethod
    def _load_cosmos(cls, folder: str, device: str) -> "VideoTokenizerInference":
        paths = [os.path.join(folder, name) for name in ("encoder.jit", "decoder.jit")]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise ckpt_lib.CheckpointError(f"Cosmos-style tokenizer '{folder}' lacks {', '.join(os.path.basename(p) for p in missing)} "
                                           "(expected a folder holding encoder.jit and decoder.jit)")
        try:
            encoder, decoder = (torch.jit.load(p, map_location=device).eval() for p in paths)
        except Exception as e:  # noqa: BLE001
            raise ckpt_lib.CheckpointError(f"Cosmos-style tokenizer '{folder}' does not load as TorchScript ({type(e).__name__})") from None

        def encode(x):
            out = encoder(x)
            return (out[0] if isinstance(out, (tuple, list)) else out).long()

        info_path = os.path.join(folder, "tokenizer.json")
        if os.path.isfile(info_path):
            with open(info_path) as f:
                info = json.load(f)
            t, f_, vocab = info["temporal_factor"], info["spatial_factor"], info["codebook_size"]
        else:  # measure: a probe clip of 1 + 8 * 2 frames at 128 px
            with torch.no_grad():
                codes = encode(torch.zeros(1, 3, 17, 128, 128, device=device))
            t, f_, vocab = 16 // (codes.shape[1] - 1), 128 // codes.shape[-1], 0
        return cls(encode, decoder, int(t), int(f_), int(vocab), f"cosmos:{folder}", device)

    def frames_for(self, latent: int) -> int:
        return timeline.clip_frames(latent, self.temporal_factor)

    @torch.no_grad()
    def encode(self, frames) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) frames (numpy or torch) -> (B, L, h, w) token ids."""
        video = torch.as_tensor(np.asarray(frames))
        if video.ndim != 5 or video.shape[-1] != 3:
            raise timeline.ClipLengthError(f"frames must be uint8 (B, T, H, W, 3), got shape {tuple(video.shape)}")
        timeline.latent_frames(video.shape[1], self.temporal_factor)
        return self._encoder(to_model_input(video).to(self.device)).cpu()

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> np.ndarray:
        """(B, L, h, w) token ids -> uint8 (B, T, H, W, 3)."""
        return to_uint8(self._decoder(torch.as_tensor(codes).to(self.device)).float())


def fsq_levels(source: str) -> list[int]:
    """The FSQ levels of a unimo video tokenizer checkpoint (what its codes' grid points are):
    models that embed each video code as its grid point read them from here."""
    if str(source).startswith("cosmos:"):
        raise ckpt_lib.CheckpointError(f"grid-point embeddings need a unimo video tokenizer checkpoint, and these token shards "
                                       f"come from '{source}', whose codes have no known FSQ grid")
    return list(ckpt_lib.load_stage(source, "video_tokenizer")["config"]["stage_config"]["model"]["levels"])
