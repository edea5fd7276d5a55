"""Motion tokenizer inference: SMPL parameters to tokens and back, batched.

    tok = MotionTokenizerInference.load("path/to/checkpoint")      # folder or state.pt
    tok = MotionTokenizerInference.load("runs:/<mlflow run id>")     # or an MLflow run id
    codes = tok.encode(poses, trans, betas)                          # (B, T, 72), (B, T, 3), (B, 10)
    poses, trans, betas = tok.decode(codes, frames=T, start=trans[:, 0])
"""

from __future__ import annotations

import os

import torch

from unimo.models import motion_features as mf
from unimo.models.motion_tokenizer import MotionTokenizer
from unimo.models.training import checkpoint as ckpt_lib


def _from_mlflow(run_id: str) -> str:
    import mlflow

    from unimo.platform import tracking

    tracking.configure()
    try:
        return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint/state.pt")
    except Exception as e:  # noqa: BLE001
        raise ckpt_lib.CheckpointError(f"MLflow run '{run_id}' has no checkpoint/state.pt ({type(e).__name__})") from None


class MotionTokenizerInference:
    def __init__(self, model: MotionTokenizer, body_model: str):
        self.model = model.eval()
        self.body_model = body_model

    @classmethod
    def load(cls, source: str, device: str = "cpu") -> "MotionTokenizerInference":
        from unimo.models.motion_tokenizer_stage import MotionTokenizerStageConfig
        from unimo.platform.config import from_dict

        if source.startswith("runs:/"):
            source = _from_mlflow(source[len("runs:/") :].split("/")[0])
        elif not os.path.exists(source) and len(source) == 32 and source.isalnum():
            source = _from_mlflow(source)
        state = ckpt_lib.load(source, map_location=device)
        if state["config"].get("stage") != "motion_tokenizer":
            raise ckpt_lib.CheckpointError(f"checkpoint '{source}' is a {state['config'].get('stage')} checkpoint, not a motion tokenizer")
        cfg = from_dict(MotionTokenizerStageConfig, state["config"]["stage_config"])
        model = MotionTokenizer(cfg.model, torch.tensor(cfg.feature_mean), torch.tensor(cfg.feature_std))
        model.load_state_dict(state["model"])
        return cls(model.to(device), cfg.body_model)

    @property
    def config(self):
        return self.model.cfg

    @torch.no_grad()
    def encode(self, poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """(B, T, 72), (B, T, 3), (B, 10) -> codes (B, L * s)."""
        trans = trans - trans[:, :1]
        return self.model.encode(mf.to_features(poses.float(), trans.float(), betas.float())).codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, frames: int, start: torch.Tensor | None = None):
        """codes (B, L * s) -> poses (B, T, 72), trans (B, T, 3) from `start` (B, 3), betas (B, 10)."""
        return mf.from_features(self.model.decode(codes, frames), start)
