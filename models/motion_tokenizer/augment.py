"""Training-time augmentation of SMPL motion windows, for a tokenizer that must cover poses
its few recordings never show.

- `mirror`: the left-right reflection of a motion (x -> -x). Joints swap sides, and each
  joint's axis-angle (x, y, z) becomes (x, -y, -z): a rotation R reflected by M = diag(-1, 1, 1)
  is M R M, whose axis is M a with the angle reversed. A left-handed wave becomes a
  right-handed one, which is as natural as the original.
- `mix_arms`: the arms (collars down to hands) of another window in the batch, on this one's
  legs, spine and root. Arm and leg motion are loosely coupled in everyday motion, so the
  combinations are plausible and multiply the poses a small corpus holds.

Both act on whole windows of a batch (poses (B, T, 72), trans (B, T, 3)), before features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unimo.platform.config import option
from unimo.platform.smpl_skeleton import ARM_JOINT_NAMES, JOINT, MIRROR, NUM_JOINTS

ARM_JOINTS = [JOINT[n] for n in ARM_JOINT_NAMES]
_REFLECT = torch.tensor([1.0, -1.0, -1.0])


@dataclass
class MotionAugmentConfig:
    mirror: float = option(0.5, help="probability that a training window is mirrored left-right")
    mix_arms: float = option(0.0, help="probability that a training window takes another window's arms")


def mirror(poses: torch.Tensor, trans: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The left-right mirror image: poses (..., 72), trans (..., 3)."""
    joints = poses.reshape(*poses.shape[:-1], NUM_JOINTS, 3)[..., MIRROR, :] * _REFLECT.to(poses)
    return joints.flatten(-2), trans * -_REFLECT.to(trans)  # (-x, y, z)


def mix_arms(poses: torch.Tensor, donor: torch.Tensor) -> torch.Tensor:
    """`poses` (..., 72) with the arm joints' rotations of `donor` (same shape)."""
    out = poses.reshape(*poses.shape[:-1], NUM_JOINTS, 3).clone()
    out[..., ARM_JOINTS, :] = donor.reshape(*donor.shape[:-1], NUM_JOINTS, 3)[..., ARM_JOINTS, :]
    return out.flatten(-2)


def augment(cfg: MotionAugmentConfig, poses: torch.Tensor, trans: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of windows (B, T, 72), (B, T, 3), each mirrored with probability cfg.mirror
    and given another window's arms with probability cfg.mix_arms."""
    B = poses.shape[0]
    if cfg.mirror > 0:
        flip = (torch.rand(B, device=poses.device) < cfg.mirror)[:, None, None]
        flipped_poses, flipped_trans = mirror(poses, trans)
        poses, trans = torch.where(flip, flipped_poses, poses), torch.where(flip, flipped_trans, trans)
    if cfg.mix_arms > 0 and B > 1:
        take = (torch.rand(B, device=poses.device) < cfg.mix_arms)[:, None, None]
        donor = poses[torch.roll(torch.arange(B, device=poses.device), 1)]  # the previous window: never itself
        poses = torch.where(take, mix_arms(poses, donor), poses)
    return poses, trans
