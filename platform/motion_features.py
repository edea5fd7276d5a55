"""Per-frame motion features: what the motion tokenizer reads and the manifest normalises.

    [ root orientation 6D (6) | body joints 6D (23 x 6) | root velocity (3) | betas (10) ]

Rotations use the continuous 6D form. A window's features are expressed in its own start
frame: translation as frame-to-frame velocity, not absolute position, and every rotation
and velocity turned about the vertical (y) axis so that the first frame faces +z. The
codebook then need not cover every place a person can stand nor every way they can face,
and motion tokens stay the same wherever and however the clip was filmed. The start
position and heading are side information, kept outside the tokens (as HumanML3D's
canonical frame does).
"""

from __future__ import annotations

import torch

from unimo.platform.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rotation_6d, rotation_6d_to_matrix
from unimo.platform.smpl_skeleton import NUM_JOINTS

NUM_BETAS = 10
ROOT = slice(0, 6)
BODY = slice(6, 6 + 6 * (NUM_JOINTS - 1))
VELOCITY = slice(BODY.stop, BODY.stop + 3)
BETAS = slice(VELOCITY.stop, VELOCITY.stop + NUM_BETAS)
FEATURE_DIM = BETAS.stop


def heading(poses: torch.Tensor) -> torch.Tensor:
    """Yaw (radians, about +y) of the first frame's body forward axis (+z): poses (..., T, 72) -> (...)."""
    forward = axis_angle_to_matrix(poses[..., 0, :3])[..., :, 2]
    return torch.atan2(forward[..., 0], forward[..., 2])


def yaw_matrix(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about +y: (...) -> (..., 3, 3)."""
    c, s, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, zero, s, zero, one, zero, -s, zero, c], dim=-1).reshape(*angle.shape, 3, 3)


def to_features(poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """poses (..., T, 72), trans (..., T, 3), betas (..., 10) -> (..., T, FEATURE_DIM), in the
    window's start frame (see the module docstring)."""
    T = poses.shape[-2]
    unturn = yaw_matrix(-heading(poses))[..., None, :, :]  # (..., 1, 3, 3)
    rot = axis_angle_to_matrix(poses.reshape(*poses.shape[:-1], NUM_JOINTS, 3))
    rot = torch.cat([(unturn @ rot[..., 0, :, :])[..., None, :, :], rot[..., 1:, :, :]], dim=-3)
    velocity = torch.cat([torch.zeros_like(trans[..., :1, :]), trans[..., 1:, :] - trans[..., :-1, :]], dim=-2)
    velocity = (unturn @ velocity[..., None]).squeeze(-1)
    b = betas[..., None, :NUM_BETAS].expand(*betas.shape[:-1], T, NUM_BETAS)
    return torch.cat([matrix_to_rotation_6d(rot).flatten(-2), velocity, b], dim=-1)


def from_features(features: torch.Tensor, start: torch.Tensor | None = None, yaw: torch.Tensor | None = None):
    """Inverse of `to_features`: (poses (..., T, 72), trans (..., T, 3), betas (..., 10)).
    The window is turned back to `yaw` (...) and its translation integrated from `start`
    (..., 3); without them it starts at the origin facing +z."""
    rot = rotation_6d_to_matrix(features[..., : BODY.stop].reshape(*features.shape[:-1], NUM_JOINTS, 6))
    velocity = features[..., VELOCITY]
    if yaw is not None:
        turn = yaw_matrix(yaw)[..., None, :, :]
        rot = torch.cat([(turn @ rot[..., 0, :, :])[..., None, :, :], rot[..., 1:, :, :]], dim=-3)
        velocity = (turn @ velocity[..., None]).squeeze(-1)
    poses = matrix_to_axis_angle(rot).flatten(-2)
    trans = velocity.cumsum(dim=-2)
    if start is not None:
        trans = trans + start[..., None, :]
    betas = features[..., BETAS].mean(dim=-2)
    return poses, trans, betas
