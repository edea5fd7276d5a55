"""Per-frame motion features: what the motion tokenizer reads and the manifest normalises.

    [ root orientation 6D (6) | body joints 6D (23 x 6) | root velocity (3) | betas (10) ]

Rotations use the continuous 6D form. The root translation enters as its frame-to-frame
velocity, not its absolute position: the codebook then need not cover every place a
person can stand, and motion tokens stay the same wherever the clip was filmed; the
absolute start position is side information kept outside the tokens.
"""

from __future__ import annotations

import torch

from unimo.platform.rotations import axis_angle_to_matrix, matrix_to_rotation_6d, rotation_6d_to_matrix, matrix_to_axis_angle
from unimo.platform.smpl_skeleton import NUM_JOINTS

NUM_BETAS = 10
ROOT = slice(0, 6)
BODY = slice(6, 6 + 6 * (NUM_JOINTS - 1))
VELOCITY = slice(BODY.stop, BODY.stop + 3)
BETAS = slice(VELOCITY.stop, VELOCITY.stop + NUM_BETAS)
FEATURE_DIM = BETAS.stop


def to_features(poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """poses (..., T, 72), trans (..., T, 3), betas (..., 10) -> (..., T, FEATURE_DIM)."""
    T = poses.shape[-2]
    rot6 = matrix_to_rotation_6d(axis_angle_to_matrix(poses.reshape(*poses.shape[:-1], NUM_JOINTS, 3)))
    velocity = torch.cat([torch.zeros_like(trans[..., :1, :]), trans[..., 1:, :] - trans[..., :-1, :]], dim=-2)
    b = betas[..., None, :NUM_BETAS].expand(*betas.shape[:-1], T, NUM_BETAS)
    return torch.cat([rot6.flatten(-2), velocity, b], dim=-1)


def from_features(features: torch.Tensor, start: torch.Tensor | None = None):
    """Inverse of `to_features`: (poses (..., T, 72), trans (..., T, 3), betas (..., 10)).
    Translation integrates the velocity from `start` (..., 3), or from the origin."""
    rot6 = features[..., : BODY.stop].reshape(*features.shape[:-1], NUM_JOINTS, 6)
    poses = matrix_to_axis_angle(rotation_6d_to_matrix(rot6)).flatten(-2)
    trans = features[..., VELOCITY].cumsum(dim=-2)
    if start is not None:
        trans = trans + start[..., None, :]
    betas = features[..., BETAS].mean(dim=-2)
    return poses, trans, betas
