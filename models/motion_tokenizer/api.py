"""Motion tokenizer inference: SMPL parameters to tokens and back, batched.

    tok = MotionTokenizerInference.load("path/to/checkpoint")      # folder or state.pt
    tok = MotionTokenizerInference.load("runs:/<mlflow run id>")     # or an MLflow run id
    tokens = tok.encode(poses, trans, betas)                         # (B, T, 72), (B, T, 3), (B, 10)
    tokens.codes                                                     # (B, L * s) codebook indices
    poses, trans, betas = tok.decode(tokens)

Tokens carry the motion in each window's own start frame; where it starts and which way it
faces travel beside them (`MotionTokens.start`, `.yaw`), as the start of a text is not part
of its words. Without them, `decode` places the motion at the origin facing +z.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unimo.models.motion_tokenizer.model import MotionTokenizer
from unimo.models.training import checkpoint as ckpt_lib
from unimo.platform import motion_features as mf


@dataclass
class MotionTokens:
    codes: torch.Tensor  # (B, L * s) codebook indices
    frames: int  # T, the frames the codes decode to
    start: torch.Tensor | None = None  # (B, 3) root translation of the first frame
    yaw: torch.Tensor | None = None  # (B,) heading of the first frame, radians about +y
    front_pad: int = 0  # copies of frame 0 put before the clip (video-aligned tokens), dropped by decode


class MotionTokenizerInference:
    def __init__(self, model: MotionTokenizer, body_model: str):
        self.model = model.eval()
        self.body_model = body_model

    @classmethod
    def load(cls, source: str, device: str = "cpu") -> "MotionTokenizerInference":
        from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig
        from unimo.platform.config import from_dict

        state = ckpt_lib.load_stage(source, "motion_tokenizer", map_location=device)
        cfg = from_dict(MotionTokenizerStageConfig, state["config"]["stage_config"])
        model = MotionTokenizer(cfg.model, torch.tensor(cfg.feature_mean), torch.tensor(cfg.feature_std))
        model.load_state_dict(state["model"])
        return cls(model.to(device), cfg.body_model)

    @property
    def config(self):
        return self.model.cfg

    @torch.no_grad()
    def encode(self, poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor, video_aligned: bool = False) -> MotionTokens:
        """(B, T, 72), (B, T, 3), (B, 10) -> tokens: codes (B, L * s) and their side information.

        `video_aligned`: for a clip of T = 1 + t * (L - 1) frames, pad the front with t - 1
        copies of frame 0, as the causal video tokenizer does, so that motion latent frame j
        covers exactly the frames of video latent frame j (the first: frame 0 alone)."""
        poses, trans, betas = poses.float(), trans.float(), betas.float()
        pad = 0
        if video_aligned:
            from unimo.models import timeline

            timeline.latent_frames(poses.shape[1], self.config.temporal_stride)
            pad = self.config.temporal_stride - 1
        start, yaw = trans[:, 0], mf.heading(poses)
        if pad:
            poses = torch.cat([poses[:, :1].expand(-1, pad, -1), poses], dim=1)
            trans = torch.cat([trans[:, :1].expand(-1, pad, -1), trans], dim=1)
        codes = self.model.encode(mf.to_features(poses, trans, betas)).codes
        return MotionTokens(codes, poses.shape[1] - pad, start=start, yaw=yaw, front_pad=pad)

    @torch.no_grad()
    def decode(self, tokens: MotionTokens) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens -> poses (B, T, 72), trans (B, T, 3), betas (B, 10)."""
        features = self.model.decode(tokens.codes, tokens.frames + tokens.front_pad)[:, tokens.front_pad :]
        if tokens.front_pad:  # the padded copies started the motion: re-anchor at the clip's first frame
            features = features.clone()
            features[:, 0, mf.VELOCITY] = 0
        return mf.from_features(features, tokens.start, tokens.yaw)
