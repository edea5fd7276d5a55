"""The direct-regression baseline from a checkpoint path or an MLflow run id.

    model = RegressorInference.load("runs:/<run id>")
    rows = model.predict(frames)   # uint8 (B, T, S, S, 3) -> [{poses (T, 72), betas (10,)}]
    rows = model.predict(frames, video_tokens=codes)   # the token probe reads the codes
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.training import checkpoint as ckpt_lib
from unimo.models.v2m_baseline.model import build
from unimo.models.v2m_baseline.stage import V2MBaselineStageConfig
from unimo.platform.rotations import matrix_to_axis_angle, rotation_6d_to_matrix


class RegressorInference:
    def __init__(self, model: torch.nn.Module, cfg: V2MBaselineStageConfig, source: str):
        self.model, self.cfg, self.source = model.eval(), cfg, source

    @classmethod
    def load(cls, source: str) -> "RegressorInference":
        from unimo.platform.config import from_dict

        state = ckpt_lib.load_stage(source, "v2m_baseline")
        cfg = from_dict(V2MBaselineStageConfig, state["config"]["stage_config"])
        model = build(cfg.model, cfg.size, cfg.video_codes, tuple(cfg.grid), cfg.temporal_factor, cfg.fsq_levels)
        model.load_state_dict(state["model"])
        return cls(model, cfg, source)

    @property
    def reads(self) -> str:
        return "the frames" if self.cfg.model.input == "frames" else "UniMo's video tokens"

    @torch.no_grad()
    def predict(self, video: np.ndarray | None, video_tokens: np.ndarray | None = None, batch: int = 32) -> list[dict]:
        """uint8 clips (B, T, S, S, 3) at the size it trained on (or, for the token probe,
        their video tokens (B, L * h * w)) -> per clip {poses (T, 72) axis-angle, each
        frame's root facing +z, betas}."""
        inputs = video if self.cfg.model.input == "frames" else video_tokens
        if inputs is None:
            raise ValueError(f"the regressor {self.source} reads {self.reads}: pass them")
        rows = []
        for s in range(0, len(inputs), batch):
            rot6d, betas = self.model(torch.as_tensor(inputs[s : s + batch]))
            poses = matrix_to_axis_angle(rotation_6d_to_matrix(rot6d)).flatten(-2)
            rows += [{"poses": p.numpy(), "betas": b.numpy()} for p, b in zip(poses, betas)]
        return rows
