"""Training the motion tokenizer: its losses and validation metrics (the loop is shared).

Loss = per-group reconstruction of the normalised features (shape, translation, global
orientation, body pose), a joint-position loss through the joints-only kinematics, a
velocity loss on those joints, and the codebook commitment loss. Training windows are
augmented first (`motion_augment`: mirroring by default); validation windows never are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from unimo.models import metrics
from unimo.models import motion_features as mf
from unimo.models.motion_augment import MotionAugmentConfig, augment
from unimo.models.motion_tokenizer import MotionTokenizer, MotionTokenizerConfig
from unimo.platform.config import option


@dataclass
class MotionLossConfig:
    shape: float = option(1.0, help="weight of the betas reconstruction")
    translation: float = option(1.0, help="weight of the root velocity reconstruction")
    orientation: float = option(1.0, help="weight of the global orientation reconstruction")
    pose: float = option(1.0, help="weight of the body pose reconstruction")
    joints: float = option(5.0, help="weight of root-relative joint positions (m)")
    velocity: float = option(5.0, help="weight of joint velocities (m/frame)")


@dataclass
class MotionTokenizerStageConfig:
    model: MotionTokenizerConfig = field(default_factory=MotionTokenizerConfig)
    loss: MotionLossConfig = field(default_factory=MotionLossConfig)
    augment: MotionAugmentConfig = field(default_factory=MotionAugmentConfig)
    body_model: str = option("standin", help="'standin' or a path to SMPL_NEUTRAL.pkl")
    fps: float = option(30.0, help="frame rate of the data (for the acceleration error)")
    feature_mean: list[float] = option([], help="feature normalisation (filled from the data's statistics)")
    feature_std: list[float] = option([], help="feature normalisation (filled from the data's statistics)")


_GROUPS = {"shape": mf.BETAS, "translation": mf.VELOCITY, "orientation": mf.ROOT, "pose": mf.BODY}


def joints_of(kinematics, poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """(B, T, 72), (B, T, 3), (B, 10) -> joints (B, T, 24, 3)."""
    B, T = poses.shape[:2]
    return kinematics(poses.reshape(B * T, 72), betas.repeat_interleave(T, 0), trans.reshape(B * T, 3)).reshape(B, T, 24, 3)


class MotionTokenizerStage:
    name = "motion_tokenizer"

    def __init__(self, cfg: MotionTokenizerStageConfig):
        from unimo.platform import body_model

        self.cfg = cfg
        self.kinematics = body_model.load_kinematics(cfg.body_model)

    def build_model(self) -> MotionTokenizer:
        mean = torch.tensor(self.cfg.feature_mean) if self.cfg.feature_mean else None
        std = torch.tensor(self.cfg.feature_std) if self.cfg.feature_std else None
        return MotionTokenizer(self.cfg.model, mean, std)

    def _targets(self, batch: dict):
        """Features, and the window as given except that it starts at the origin: the tokens
        carry velocity, the start position (like the start heading) is side information."""
        poses, trans, betas = batch["poses"].float(), batch["trans"].float(), batch["betas"].float()
        trans = trans - trans[:, :1]
        return mf.to_features(poses, trans, betas), poses, trans, betas, mf.heading(poses)

    def loss(self, model, batch: dict):
        poses, trans = augment(self.cfg.augment, batch["poses"].float(), batch["trans"].float())
        feats, poses, trans, betas, yaw = self._targets({**batch, "poses": poses, "trans": trans})
        recon, q = model(feats)
        raw = model.module if hasattr(model, "module") else model
        norm = lambda x: (x - raw.mean) / raw.std  # noqa: E731
        terms = {name: torch.nn.functional.smooth_l1_loss(norm(recon)[..., sl], norm(feats)[..., sl]) for name, sl in _GROUPS.items()}
        p_hat, t_hat, b_hat = mf.from_features(recon, yaw=yaw)
        j_hat = joints_of(self.kinematics, p_hat, t_hat, b_hat)
        j = joints_of(self.kinematics, poses, trans, betas)
        terms["joints"] = (metrics.root_align(j_hat) - metrics.root_align(j)).norm(dim=-1).mean()
        terms["velocity"] = ((j_hat[:, 1:] - j_hat[:, :-1]) - (j[:, 1:] - j[:, :-1])).norm(dim=-1).mean()
        w = self.cfg.loss
        total = sum(getattr(w, k) * v for k, v in terms.items()) + raw.cfg.commit_weight * q.commit_loss
        report = {k: float(v.detach()) for k, v in terms.items()}
        report.update(commit=float(q.commit_loss.detach()), perplexity=float(q.perplexity), loss=float(total.detach()))
        return total, report

    def validate(self, model: MotionTokenizer, batches) -> dict[str, float]:
        """MPJPE, PA-MPJPE, PVE (mm), acceleration error (m/s^2), codebook usage and
        perplexity over the validation windows."""
        from unimo.platform import body_model

        smpl = body_model.load_smpl(self.cfg.body_model)
        sums, frames, codes = {"mpjpe_mm": 0.0, "pa_mpjpe_mm": 0.0, "pve_mm": 0.0, "accel_err": 0.0}, 0, []
        for batch in batches:
            feats, poses, trans, betas, yaw = self._targets(batch)
            recon, q = model(feats)
            p_hat, t_hat, b_hat = mf.from_features(recon, yaw=yaw)
            j_hat, j = joints_of(self.kinematics, p_hat, t_hat, b_hat), joints_of(self.kinematics, poses, trans, betas)
            n = poses.shape[0] * poses.shape[1]
            sums["mpjpe_mm"] += float(metrics.mpjpe(j_hat, j)) * n
            sums["pa_mpjpe_mm"] += float(metrics.pa_mpjpe(j_hat.flatten(0, 1), j.flatten(0, 1))) * n
            sums["accel_err"] += float(metrics.accel_error(j_hat, j, self.cfg.fps)) * n
            sums["pve_mm"] += float(_pve(smpl, p_hat, t_hat, b_hat, poses, trans, betas, j_hat, j)) * n
            frames += n
            codes.append(q.codes.flatten())
        out = {k: v / max(frames, 1) for k, v in sums.items()}
        usage, perplexity = metrics.codebook_usage(torch.cat(codes) if codes else torch.zeros(0, dtype=torch.long), model.cfg.codebook_size)
        out.update(codebook_usage=usage, perplexity=perplexity)
        return out


def _pve(smpl, p_hat, t_hat, b_hat, poses, trans, betas, j_hat, j) -> torch.Tensor:
    def verts(p, t, b):
        B, T = p.shape[:2]
        return smpl(global_orient=p.reshape(-1, 72)[:, :3], body_pose=p.reshape(-1, 72)[:, 3:],
                    betas=b.repeat_interleave(T, 0), transl=t.reshape(-1, 3)).vertices
    return metrics.pve(verts(p_hat, t_hat, b_hat), verts(poses, trans, betas), j_hat.flatten(0, 1)[:, 0], j.flatten(0, 1)[:, 0])


def make_stage(cfg: MotionTokenizerStageConfig) -> MotionTokenizerStage:
    return MotionTokenizerStage(cfg)


def with_stats(cfg: MotionTokenizerStageConfig, mean: np.ndarray, std: np.ndarray) -> MotionTokenizerStageConfig:
    from dataclasses import replace

    return replace(cfg, feature_mean=[float(x) for x in mean], feature_std=[float(x) for x in std])
