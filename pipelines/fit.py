"""SMPL pseudo-labels from 2D keypoints: batched optimisation over whole clip windows.

For B windows of T frames at once, in the camera's frame (x right, y down, z forward), it
fits per-frame pose and translation and one shape per window, minimising

    robust 2D reprojection (Geman-McClure, weighted by visibility or confidence)
  + pose priors (a Gaussian mixture over body poses, as in SMPLify; small rotations; no
    knees or elbows bent backwards)
  + shape prior (betas near the mean)
  + temporal smoothness (joint accelerations and pose velocities)

on the joints-only kinematics (no mesh: this is what makes it fast). Monocular 2D leaves
the body's facing ambiguous, so every window starts from several headings at once (a
batch of hypotheses) and keeps the one that explains the keypoints best. The camera
translation starts from the 2D scale of the torso.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from unimo.platform.config import option
from unimo.platform.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)
from unimo.platform.smpl_skeleton import JOINT, NUM_JOINTS, PARENTS

_TORSO = (JOINT["pelvis"], JOINT["neck"])
_BENDS_FORWARD_ONLY = {  # joint: (axis, sign of allowed bend)
    JOINT["left_knee"]: (0, 1.0), JOINT["right_knee"]: (0, 1.0),
    JOINT["left_elbow"]: (1, -1.0), JOINT["right_elbow"]: (1, 1.0),
}


@dataclass
class FitConfig:
    iterations: int = option(400, help="Adam steps (the first quarter fits only root and translation)")
    lr: float = option(0.05, help="Adam learning rate")
    headings: int = option(4, help="initial facing directions tried per window")
    robust_sigma_px: float = option(40.0, help="Geman-McClure scale of the 2D residual, pixels")
    pose_prior: float = option(1.0, help="weight of the simple pose prior (small angles, no backward knees)")
    shape_prior: float = option(5.0, help="weight of the shape prior")
    smooth_joints: float = option(2e3, help="weight of joint acceleration (m/frame^2)^2")
    smooth_pose: float = option(1.0, help="weight of pose velocity")
    converged_px: float = option(6.0, help="a window converged when its mean residual is below this")
    gmm_prior: float = option(0.1, help="weight of the GMM pose prior (pose_prior.py); 0 disables it")


@dataclass
class FitResult:
    poses: np.ndarray  # (B, T, 72) axis-angle in the camera frame
    trans: np.ndarray  # (B, T, 3) SMPL translation in the camera frame, metres
    betas: np.ndarray  # (B, 10)
    residual_px: np.ndarray  # (B, T) mean reprojection error of visible joints, pixels
    converged: np.ndarray  # (B,) bool


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (..., N, 3) with per-window K (B, 3, 3) broadcast over frames."""
    z = points[..., 2:3].clamp(min=0.1)
    xy = points[..., :2] / z
    fx, fy = K[:, 0, 0, None, None, None], K[:, 1, 1, None, None, None]
    cx, cy = K[:, 0, 2, None, None, None], K[:, 1, 2, None, None, None]
    return torch.cat([xy[..., :1] * fx + cx, xy[..., 1:] * fy + cy], dim=-1)


def _gmof(residual_sq: torch.Tensor, sigma: float) -> torch.Tensor:
    return sigma**2 * residual_sq / (sigma**2 + residual_sq)


def initial_translation(kp: torch.Tensor, vis: torch.Tensor, K: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """(B, T, 3) root positions from the 2D torso length: depth = f * torso_3d / torso_2d."""
    a, b = _TORSO
    torso_2d = (kp[..., a, :] - kp[..., b, :]).norm(dim=-1)  # (B, T)
    seen = (vis[..., a] > 0) & (vis[..., b] > 0)
    # windows with no visible torso fall back to the median over the window
    median = torch.stack([t[s].median() if s.any() else torch.tensor(100.0) for t, s in zip(torso_2d, seen)])
    torso_2d = torch.where(seen, torso_2d, median[:, None]).clamp(min=4.0)
    torso_3d = (rest[:, a] - rest[:, b]).norm(dim=-1)  # (B,)
    f = K[:, 0, 0, None]
    z = f * torso_3d[:, None] / torso_2d
    root_2d = kp[..., a, :]
    x = (root_2d[..., 0] - K[:, 0, 2, None]) * z / f
    y = (root_2d[..., 1] - K[:, 1, 2, None]) * z / K[:, 1, 1, None]
    return torch.stack([x, y, z], dim=-1)


def fit_windows(
    keypoints2d: np.ndarray,
    visibility: np.ndarray,
    K: np.ndarray,
    kinematics,
    cfg: FitConfig = FitConfig(),
) -> FitResult:
    """keypoints2d (B, T, 24, 2) px, visibility (B, T, 24) in [0, 1], K (B, 3, 3)."""
    kp = torch.as_tensor(keypoints2d, dtype=torch.float32)
    vis = torch.as_tensor(visibility, dtype=torch.float32)
    Kt = torch.as_tensor(K, dtype=torch.float32)
    B, T = kp.shape[:2]
    H = cfg.headings
    # Hypotheses: each window repeated H times with a different initial heading.
    kp_h, vis_h, K_h = kp.repeat_interleave(H, 0), vis.repeat_interleave(H, 0), Kt.repeat_interleave(H, 0)
    nb = kinematics.num_betas
    betas = torch.zeros(B * H, nb, requires_grad=True)

    # Upright in the camera frame (SMPL's y up -> image up, facing the camera), then turned.
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
    yaw = torch.arange(H, dtype=torch.float32).repeat(B) * (2 * math.pi / H)
    turn = axis_angle_to_matrix(torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], -1))
    root0 = (upright @ turn)[:, None].expand(B * H, T, 3, 3)
    root6d = matrix_to_rotation_6d(root0).clone().requires_grad_(True)
    body6d = matrix_to_rotation_6d(torch.eye(3).expand(B * H, T, NUM_JOINTS - 1, 3, 3)).clone().requires_grad_(True)
    with torch.no_grad():
        rest = kinematics.rest_joints(torch.zeros(B * H, nb))
        root_pos = initial_translation(kp_h, vis_h, K_h, rest)
    trans = (root_pos - rest[:, None, 0]).clone().requires_grad_(True)

    def pose_matrices():
        return torch.cat([rotation_6d_to_matrix(root6d)[:, :, None], rotation_6d_to_matrix(body6d)], dim=2)

    def objective(full: bool):
        mats = pose_matrices()  # (BH, T, 24, 3, 3)
        aa = matrix_to_axis_angle(mats)  # (BH, T, 24, 3)
        joints = kinematics(aa.reshape(B * H * T, -1), betas.repeat_interleave(T, 0), trans.reshape(-1, 3))
        joints = joints.reshape(B * H, T, NUM_JOINTS, 3)
        uv = _project(joints, K_h)
        res_sq = ((uv - kp_h) ** 2).sum(-1)
        data = (_gmof(res_sq, cfg.robust_sigma_px) * vis_h).sum((1, 2)) / vis_h.sum((1, 2)).clamp(min=1)
        loss = data
        if full:
            body = aa[:, :, 1:]
            bend = sum(torch.relu(-sign * body[:, :, j - 1, axis]) ** 2 for j, (axis, sign) in _BENDS_FORWARD_ONLY.items())
            loss = loss + cfg.pose_prior * ((body**2).sum(-1).mean((1, 2)) * 0.01 + bend.mean(1))
            if cfg.gmm_prior > 0:
                loss = loss + cfg.gmm_prior * gmm(body.reshape(B * H, T, -1)).mean(1)
            loss = loss + cfg.shape_prior * (betas**2).mean(-1)
            if T > 2:
                acc = joints[:, 2:] - 2 * joints[:, 1:-1] + joints[:, :-2]
                loss = loss + cfg.smooth_joints * (acc**2).sum(-1).mean((1, 2))
                loss = loss + cfg.smooth_pose * ((mats[:, 1:] - mats[:, :-1]) ** 2).sum((-1, -2)).mean((1, 2))
        return loss, joints, uv, aa

    if cfg.gmm_prior > 0:
        from unimo.pipelines.pose_prior import load_gmm_prior

        gmm = load_gmm_prior()
    warmup = max(cfg.iterations // 4, 1)
    opt = torch.optim.Adam([root6d, trans], lr=cfg.lr)
    for step in range(cfg.iterations):
        if step == warmup:
            opt = torch.optim.Adam([root6d, body6d, trans, betas], lr=cfg.lr)
        loss, *_ = objective(full=step >= warmup)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()

    with torch.no_grad():
        loss, joints, uv, aa = objective(full=True)
        best = loss.reshape(B, H).argmin(1) + torch.arange(B) * H
        err = (uv - kp_h).norm(dim=-1)
        residual = (err * (vis_h > 0)).sum(-1) / (vis_h > 0).sum(-1).clamp(min=1)
        residual = residual[best]
        mean_res = (residual * (vis[..., 0] >= 0)).mean(1)
        return FitResult(
            poses=aa[best].reshape(B, T, -1).numpy(),
            trans=trans[best].detach().numpy(),
            betas=betas[best].detach().numpy(),
            residual_px=residual.numpy(),
            converged=(mean_res < cfg.converged_px).numpy(),
        )
