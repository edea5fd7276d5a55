"""Motion augmentation: the mirror is a true reflection of the body, and arm mixing moves
only the arms."""

from __future__ import annotations

import torch

from unimo.models.motion_tokenizer.augment import ARM_JOINTS, MotionAugmentConfig, augment, mirror
from unimo.models.motion_tokenizer.stage import joints_of
from unimo.platform import body_model


def _random_motion(B=4, T=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    poses = 0.4 * torch.randn(B, T, 72, generator=g)
    trans = torch.randn(B, T, 3, generator=g)
    return poses, trans, torch.zeros(B, 10)


def test_mirrored_parameters_give_the_reflected_skeleton():
    kin = body_model.load_kinematics("standin")
    poses, trans, betas = _random_motion()
    joints = joints_of(kin, poses, trans, betas)
    m_poses, m_trans = mirror(poses, trans)
    m_joints = joints_of(kin, m_poses, m_trans, betas)
    from unimo.platform.smpl_skeleton import MIRROR

    reflected = joints[..., MIRROR, :] * torch.tensor([-1.0, 1.0, 1.0])
    # the stand-in's rest skeleton is symmetric to well under a millimetre
    assert (m_joints - reflected).norm(dim=-1).max() < 1e-3
    assert (m_joints - joints).norm(dim=-1).mean() > 0.05  # and the mirror did change the motion
    back = mirror(m_poses, m_trans)
    assert torch.allclose(back[0], poses) and torch.allclose(back[1], trans)


def test_mix_arms_changes_only_arm_joints_and_probability_zero_changes_nothing():
    poses, trans, _ = _random_motion(B=8)
    torch.manual_seed(0)
    mixed, same_trans = augment(MotionAugmentConfig(mirror=0.0, mix_arms=1.0), poses, trans)
    per_joint = (mixed - poses).reshape(8, 6, 24, 3).abs().amax(dim=(0, 1, 3))
    assert all((per_joint[j] > 0) == (j in ARM_JOINTS) for j in range(24))
    assert torch.equal(same_trans, trans)
    untouched = augment(MotionAugmentConfig(mirror=0.0, mix_arms=0.0), poses, trans)
    assert torch.equal(untouched[0], poses) and torch.equal(untouched[1], trans)
