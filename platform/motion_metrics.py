"""Human-motion metrics in the field's conventions (as in WHAM and GVHMR).

- Positions are root-aligned first: the pelvis (joint 0) is subtracted from both sides.
- PA-MPJPE aligns each frame with a similarity Procrustes (scale, rotation, translation,
  with a reflection fix) before measuring.
- PVE is the same as MPJPE over mesh vertices.
- Acceleration error is the mean norm of the difference of second differences, times fps^2
  (m/s^2).
- All distances are returned in millimetres (acceleration in m/s^2), averaged over every
  joint of every frame.
"""

from __future__ import annotations

import torch


def root_align(x: torch.Tensor, root: torch.Tensor | None = None) -> torch.Tensor:
    """(..., N, 3) minus the root joint (or a given root (..., 3))."""
    r = x[..., :1, :] if root is None else root[..., None, :]
    return x - r


def mpjpe(pred: torch.Tensor, target: torch.Tensor, root_aligned: bool = True) -> torch.Tensor:
    """Mean per-joint position error, mm. (..., N, 3) each."""
    if root_aligned:
        pred, target = root_align(pred), root_align(target)
    return (pred - target).norm(dim=-1).mean() * 1000


def pve(pred_verts: torch.Tensor, target_verts: torch.Tensor, pred_root: torch.Tensor, target_root: torch.Tensor) -> torch.Tensor:
    """Per-vertex error, mm, after subtracting each side's root joint (..., 3)."""
    return (root_align(pred_verts, pred_root) - root_align(target_verts, target_root)).norm(dim=-1).mean() * 1000


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Similarity-align each (..., N, 3) `pred` to `target` (scale, rotation, translation)."""
    mu_p, mu_t = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p, t = pred - mu_p, target - mu_t
    cov = p.transpose(-1, -2) @ t  # (..., 3, 3)
    u, s, vh = torch.linalg.svd(cov)
    # reflection fix: flip the last singular direction when det < 0
    d = torch.sign(torch.linalg.det(vh.transpose(-1, -2) @ u.transpose(-1, -2)))
    fix = torch.ones_like(s)
    fix[..., -1] = d
    rot = vh.transpose(-1, -2) @ torch.diag_embed(fix) @ u.transpose(-1, -2)
    scale = (s * fix).sum(-1) / (p**2).sum((-1, -2)).clamp(min=1e-12)
    return scale[..., None, None] * p @ rot.transpose(-1, -2) + mu_t


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after per-frame similarity Procrustes, mm."""
    return (procrustes_align(pred, target) - target).norm(dim=-1).mean() * 1000


def accel_error(pred: torch.Tensor, target: torch.Tensor, fps: float) -> torch.Tensor:
    """Acceleration error, m/s^2: positions (..., T, N, 3), root-aligned, frames on dim -3."""
    pred, target = root_align(pred), root_align(target)
    acc_p = pred[..., 2:, :, :] - 2 * pred[..., 1:-1, :, :] + pred[..., :-2, :, :]
    acc_t = target[..., 2:, :, :] - 2 * target[..., 1:-1, :, :] + target[..., :-2, :, :]
    return (acc_p - acc_t).norm(dim=-1).mean() * fps**2



# -- plausibility: what a motion must look like without any truth to compare with ---------------


def jitter(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """Mean norm of the third difference of positions (..., T, N, 3), m/s^3: zero for any
    motion of constant acceleration, large for shaking."""
    return (joints.diff(n=3, dim=-3)).norm(dim=-1).mean() * fps**3


def foot_skating_ratio(joints: torch.Tensor, fps: float, contact_height: float = 0.05, skid_speed: float = 0.75,
                       up: int = 1) -> torch.Tensor:
    """Share of frames in which a foot on the ground slides (as in GMD: a foot within
    `contact_height` of the lowest foot position of its clip, in both frames, moving faster than
    `skid_speed` along the ground; 0.75 m/s is GMD's 2.5 cm a frame at 30 fps). World-frame
    positions (..., T, N, 3) in metres, `up` the vertical axis."""
    from unimo.platform.smpl_skeleton import JOINT

    feet = joints[..., [JOINT["left_foot"], JOINT["right_foot"]], :]  # (..., T, 2, 3)
    height = feet[..., up]
    height = height - height.amin(dim=(-2, -1), keepdim=True)
    contact = (height[..., 1:, :] < contact_height) & (height[..., :-1, :] < contact_height)
    ground = [a for a in range(3) if a != up]
    speed = feet[..., ground].diff(dim=-3).norm(dim=-1) * fps
    skating = (contact & (speed > skid_speed)).any(-1)  # a frame skates when either foot does
    return skating.float().mean()


def joint_limit_violations(poses: torch.Tensor, hyperextension: float = 0.17) -> torch.Tensor:
    """Share of (frame, joint) rotations of axis-angle poses (..., 72) that leave the body's
    range: a rotation larger than the joint's limit (`smpl_skeleton.JOINT_LIMITS`), or a knee
    or elbow bent backwards more than `hyperextension` radians (10 degrees). The root is free."""
    from unimo.platform.smpl_skeleton import FLEXION_NORMAL, JOINT, JOINT_LIMITS

    aa = poses.reshape(*poses.shape[:-1], -1, 3)[..., 1:, :]
    limits = torch.tensor(JOINT_LIMITS[1:], dtype=aa.dtype)
    outside = aa.norm(dim=-1) > limits
    for name, normal in FLEXION_NORMAL.items():
        flexion = (aa[..., JOINT[name] - 1, :] * torch.tensor(normal, dtype=aa.dtype)).sum(-1)
        outside[..., JOINT[name] - 1] |= flexion < -hyperextension
    return outside.float().mean()
