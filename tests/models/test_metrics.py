"""The metrics on hand-made cases whose answers are known."""

import math

import pytest
import torch

from unimo.models import metrics
from unimo.platform.rotations import axis_angle_to_matrix


@pytest.fixture
def joints():
    return torch.randn(5, 24, 3, generator=torch.Generator().manual_seed(0))


def test_a_similarity_transform_has_zero_pa_mpjpe_but_not_zero_mpjpe(joints):
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.4]))
    moved = 1.7 * joints @ R.T + torch.tensor([0.5, 2.0, -1.0])
    assert metrics.pa_mpjpe(moved, joints) < 1e-3  # mm
    assert metrics.mpjpe(moved, joints) > 100


def test_reflection_is_not_undone_by_procrustes(joints):
    mirrored = joints * torch.tensor([-1.0, 1.0, 1.0])
    assert metrics.pa_mpjpe(mirrored, joints) > 10


def test_root_alignment_removes_a_constant_offset(joints):
    assert metrics.mpjpe(joints + torch.tensor([3.0, -2.0, 1.0]), joints) < 1e-3  # float32 rounding of 3 m offsets
    assert metrics.mpjpe(joints + torch.tensor([3.0, -2.0, 1.0]), joints, root_aligned=False) == pytest.approx(math.sqrt(14) * 1000, rel=1e-5)


def test_mpjpe_of_a_known_offset_in_mm(joints):
    shifted = joints.clone()
    shifted[:, 1:] += torch.tensor([0.0, 0.01, 0.0])  # every non-root joint 1 cm off
    assert metrics.mpjpe(shifted, joints) == pytest.approx(10 * 23 / 24, rel=1e-4)


def test_accel_error_of_a_constant_velocity_drift_is_zero_and_of_a_kick_is_known():
    T = 10
    base = torch.zeros(T, 2, 3)
    drift = base.clone()
    drift[:, 1, 0] = torch.arange(T) * 0.1  # constant velocity: no acceleration
    assert metrics.accel_error(drift, base, fps=30) < 1e-4
    kick = base.clone()
    kick[5, 1, 0] = 0.01  # one joint jumps 1 cm for one frame
    # second differences at frames 4, 5, 6 of the kicked joint: 0.01, -0.02, 0.01 (m/frame^2)
    expected = (0.01 + 0.02 + 0.01) / ((T - 2) * 2) * 30**2
    assert metrics.accel_error(kick, base, fps=30) == pytest.approx(expected, rel=1e-4)


def test_pve_is_root_aligned_per_side():
    v = torch.randn(3, 100, 3)
    assert metrics.pve(v + 1.0, v, torch.ones(3, 3), torch.zeros(3, 3)) < 1e-4


def test_codebook_usage_and_perplexity():
    usage, perplexity = metrics.codebook_usage(torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]), 8)
    assert usage == 0.5 and perplexity == pytest.approx(4.0, rel=1e-5)
    usage, perplexity = metrics.codebook_usage(torch.zeros(10, dtype=torch.long), 4)
    assert usage == 0.25 and perplexity == pytest.approx(1.0, rel=1e-5)
