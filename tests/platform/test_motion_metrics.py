"""The metrics on hand-made cases whose answers are known."""

import math

import pytest
import torch

from unimo.models.quantizer import codebook_usage
from unimo.platform import motion_metrics
from unimo.platform.rotations import axis_angle_to_matrix


@pytest.fixture
def joints():
    return torch.randn(5, 24, 3, generator=torch.Generator().manual_seed(0))


def test_a_similarity_transform_has_zero_pa_mpjpe_but_not_zero_mpjpe(joints):
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.4]))
    moved = 1.7 * joints @ R.T + torch.tensor([0.5, 2.0, -1.0])
    assert motion_metrics.pa_mpjpe(moved, joints) < 1e-3  # mm
    assert motion_metrics.mpjpe(moved, joints) > 100


def test_reflection_is_not_undone_by_procrustes(joints):
    mirrored = joints * torch.tensor([-1.0, 1.0, 1.0])
    assert motion_metrics.pa_mpjpe(mirrored, joints) > 10


def test_root_alignment_removes_a_constant_offset(joints):
    assert motion_metrics.mpjpe(joints + torch.tensor([3.0, -2.0, 1.0]), joints) < 1e-3  # float32 rounding of 3 m offsets
    assert motion_metrics.mpjpe(joints + torch.tensor([3.0, -2.0, 1.0]), joints, root_aligned=False) == pytest.approx(math.sqrt(14) * 1000, rel=1e-5)


def test_mpjpe_of_a_known_offset_in_mm(joints):
    shifted = joints.clone()
    shifted[:, 1:] += torch.tensor([0.0, 0.01, 0.0])  # every non-root joint 1 cm off
    assert motion_metrics.mpjpe(shifted, joints) == pytest.approx(10 * 23 / 24, rel=1e-4)


def test_accel_error_of_a_constant_velocity_drift_is_zero_and_of_a_kick_is_known():
    T = 10
    base = torch.zeros(T, 2, 3)
    drift = base.clone()
    drift[:, 1, 0] = torch.arange(T) * 0.1  # constant velocity: no acceleration
    assert motion_metrics.accel_error(drift, base, fps=30) < 1e-4
    kick = base.clone()
    kick[5, 1, 0] = 0.01  # one joint jumps 1 cm for one frame
    # second differences at frames 4, 5, 6 of the kicked joint: 0.01, -0.02, 0.01 (m/frame^2)
    expected = (0.01 + 0.02 + 0.01) / ((T - 2) * 2) * 30**2
    assert motion_metrics.accel_error(kick, base, fps=30) == pytest.approx(expected, rel=1e-4)


def test_pve_is_root_aligned_per_side():
    v = torch.randn(3, 100, 3)
    assert motion_metrics.pve(v + 1.0, v, torch.ones(3, 3), torch.zeros(3, 3)) < 1e-4


def test_codebook_usage_and_perplexity():
    usage, perplexity = codebook_usage(torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]), 8)
    assert usage == 0.5 and perplexity == pytest.approx(4.0, rel=1e-5)
    usage, perplexity = codebook_usage(torch.zeros(10, dtype=torch.long), 4)
    assert usage == 0.25 and perplexity == pytest.approx(1.0, rel=1e-5)


def _standing(frames: int) -> torch.Tensor:
    """A body's 24 joints over `frames` frames, feet on the floor (y up), standing still."""
    joints = torch.zeros(frames, 24, 3)
    joints[:, :, 1] = torch.linspace(0.0, 1.7, 24)
    return joints


def test_jitter_is_zero_for_constant_acceleration_and_known_for_a_shake():
    t = torch.arange(20.0)[:, None, None] / 30
    falling = _standing(20) + torch.tensor([0.0, -4.9, 0.0]) * t**2  # a third difference of zero
    assert motion_metrics.jitter(falling, 30.0) < 1e-2
    shaken = _standing(20).clone()
    shaken[10, :, 0] += 0.01  # one frame 1 cm off: third differences of 1, 3, 3 and 1 cm
    assert motion_metrics.jitter(shaken, 30.0) == pytest.approx(0.08 / 17 * 30**3, rel=1e-3)


def test_foot_skating_counts_frames_where_a_grounded_foot_slides():
    still = _standing(31)
    still[:, [10, 11], 1] = 0.0
    assert motion_metrics.foot_skating_ratio(still, 30.0) == 0
    sliding = still.clone()
    sliding[:, 10, 0] = torch.arange(31.0) * 0.05  # 1.5 m/s along the floor, in contact throughout
    assert motion_metrics.foot_skating_ratio(sliding, 30.0) == 1
    lifted = sliding.clone()
    lifted[15:, 10, 1] = 0.3  # in the air for the second half: moving there is not skating
    assert motion_metrics.foot_skating_ratio(lifted, 30.0) == pytest.approx(14 / 30)


def test_joint_limits_flag_oversized_rotations_and_knees_bent_backwards():
    from unimo.platform.smpl_skeleton import FLEXION_NORMAL, JOINT

    poses = torch.zeros(4, 72)
    poses[:, :3] = torch.tensor([3.0, 0.0, 0.0])  # the root turns freely
    assert motion_metrics.joint_limit_violations(poses) == 0
    knee = JOINT["left_knee"]
    poses[0, 3 * knee : 3 * knee + 3] = 1.2 * torch.tensor(FLEXION_NORMAL["left_knee"])  # bent forwards: fine
    poses[1, 3 * knee : 3 * knee + 3] = -0.5 * torch.tensor(FLEXION_NORMAL["left_knee"])  # backwards: 29 degrees
    poses[2, 3 * JOINT["neck"] : 3 * JOINT["neck"] + 3] = torch.tensor([0.0, 1.5, 0.0])  # the neck turned 86 degrees
    assert motion_metrics.joint_limit_violations(poses) == pytest.approx(2 / (4 * 23))
