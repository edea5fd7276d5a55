"""Procedural motion: every family is smooth, inside joint limits, and stands on the floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from unimo.pipelines import procedural
from unimo.pipelines.motion import Motion
from unimo.platform import body_model
from unimo.platform.smpl_skeleton import JOINT_LIMITS


@pytest.fixture(scope="module")
def kin():
    return body_model.load_kinematics(body_model.STANDIN)


@pytest.fixture(scope="module")
def smpl():
    return body_model.load_smpl(body_model.STANDIN)


def test_at_least_eight_families():
    assert len(procedural.FAMILIES) >= 8


@pytest.mark.parametrize("family", procedural.FAMILIES)
def test_family_is_smooth_within_limits_and_grounded(family, kin, smpl):
    fps, T = 120.0, 360  # a high rate, so that a discontinuity cannot hide between frames
    m = procedural.generate(family, T, fps, np.random.default_rng(7), kin)
    assert m.poses.shape == (T, 72) and m.trans.shape == (T, 3) and m.betas.shape == (10,)
    local = m.poses.reshape(T, 24, 3)
    # inside joint limits
    assert (np.linalg.norm(local[:, 1:], axis=-1) <= np.asarray(JOINT_LIMITS)[None, 1:] + 1e-5).all()
    # smooth: joints turn no faster than people's fastest (about 25 rad/s, a punch's
    # elbow) and accelerate no harder than a sprinter's knee (about 1500 rad/s^2); a jump
    # in angle between two frames would show as tens of thousands
    rel = Rotation.from_rotvec(local[:-1].reshape(-1, 3)).inv() * Rotation.from_rotvec(local[1:].reshape(-1, 3))
    velocity = rel.as_rotvec().reshape(T - 1, 24, 3) * fps
    assert np.linalg.norm(velocity, axis=-1).max() < 25.0
    assert np.linalg.norm(np.diff(velocity, axis=0), axis=-1).max() * fps < 1500.0
    assert np.abs(np.diff(m.trans, axis=0)).max() * fps < 6.0  # m/s
    # feet on the floor: the mesh's lowest point touches y = 0 (within 4 cm) at some point
    # of every second, and never sinks more than 4 cm below it
    with torch.no_grad():
        v = smpl(global_orient=torch.from_numpy(m.poses[:, :3]), body_pose=torch.from_numpy(m.poses[:, 3:]),
                 betas=torch.from_numpy(m.betas)[None].expand(T, -1), transl=torch.from_numpy(m.trans)).vertices
    lowest = v[..., 1].amin(1).numpy()
    assert lowest.min() > -0.04
    assert (lowest.reshape(3, 120).min(axis=1) < 0.04).all()


def test_random_style_and_shape_vary_and_seed_repeats(kin):
    a = procedural.generate("walk", 30, 30, np.random.default_rng(1), kin)
    b = procedural.generate("walk", 30, 30, np.random.default_rng(2), kin)
    again = procedural.generate("walk", 30, 30, np.random.default_rng(1), kin)
    assert not np.allclose(a.poses, b.poses) and not np.allclose(a.betas, b.betas)
    np.testing.assert_array_equal(a.poses, again.poses)
    np.testing.assert_array_equal(a.trans, again.trans)
    # walking moves the body along its heading; idling does not go anywhere
    assert np.linalg.norm(a.trans[-1, [0, 2]] - a.trans[0, [0, 2]]) > 0.5
    idle = procedural.generate("idle", 30, 30, np.random.default_rng(1), kin)
    assert np.linalg.norm(idle.trans[-1, [0, 2]] - idle.trans[0, [0, 2]]) < 0.05


def test_unknown_family_is_an_error(kin):
    with pytest.raises(ValueError, match="unknown motion family 'moonwalk'"):
        procedural.generate("moonwalk", 10, 30, np.random.default_rng(0), kin)


def test_resample_keeps_motion_and_changes_rate(kin):
    m = procedural.generate("run", 61, 60.0, np.random.default_rng(3), kin)
    half = m.resample(30.0)
    assert len(half) == 31 and half.fps == 30.0
    np.testing.assert_allclose(half.trans, m.trans[::2], atol=1e-5)
    j_half = kin(torch.from_numpy(half.poses), torch.from_numpy(half.betas), torch.from_numpy(half.trans))
    j_full = kin(torch.from_numpy(m.poses[::2].copy()), torch.from_numpy(m.betas), torch.from_numpy(m.trans[::2].copy()))
    assert (j_half - j_full).norm(dim=-1).max() < 1e-4


def test_motion_rejects_mismatched_or_nan_frames():
    with pytest.raises(ValueError, match="poses has 3 frames but trans has 2"):
        Motion(np.zeros((3, 72)), np.zeros((2, 3)), np.zeros(10), 30)
    bad = np.zeros((3, 72))
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Motion(bad, np.zeros((3, 3)), np.zeros(10), 30)
