"""The motion frame for learning: SMPL moved rigidly between frames, the gravity-view frame
from a label camera (exact) and from a fit alone (estimated)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from unimo.pipelines import gravity, procedural
from unimo.pipelines.motion import rigidly_moved
from unimo.platform import body_model
from unimo.platform.render import look_at
from unimo.platform.smpl_skeleton import JOINT


@pytest.fixture(scope="module")
def kin():
    return body_model.load_kinematics("standin")


def joints(kin, poses, trans, betas):
    with torch.no_grad():
        return kin(torch.as_tensor(poses), torch.as_tensor(betas), torch.as_tensor(trans)).double().numpy()


def test_rigidly_moved_moves_every_joint_exactly(kin):
    rng = np.random.default_rng(0)
    m = procedural.generate("walk", 12, 30.0, rng, kin)
    rot = Rotation.random(12, random_state=1).as_matrix()  # a different turn every frame
    shift = rng.normal(0, 2, (12, 3))
    poses, trans = rigidly_moved(m.poses, m.trans, m.betas, rot, shift, kin)
    expected = np.einsum("tij,tkj->tki", rot, joints(kin, m.poses, m.trans, m.betas)) + shift[:, None]
    np.testing.assert_allclose(joints(kin, poses, trans, m.betas), expected, atol=1e-4)
    np.testing.assert_allclose(poses[:, 3:], m.poses[:, 3:])  # the body pose is the body's own


def test_a_label_camera_gives_the_label_world_up_to_a_turn_about_y(kin):
    """A moving, pitched camera filming a walk: the fit in the camera's frame (here the truth,
    moved there) comes back to the world with y up, ground at 0, turned only about y."""
    rng = np.random.default_rng(3)
    m = procedural.generate("walk", 20, 30.0, rng, kin)
    eye = np.stack([np.linspace(0, 1, 20), np.full(20, 1.8), np.full(20, 3.0)], -1)
    R, t = (x.double().numpy() for x in look_at(torch.as_tensor(eye), torch.tensor([[0.0, 0.9, 0.0]]).expand(20, 3)))
    cam_poses, cam_trans = rigidly_moved(m.poses, m.trans, m.betas, R, t, kin)
    world = gravity.to_world(cam_poses, cam_trans, m.betas, kin, camera=(R, t))
    assert world.source == gravity.LABELS and world.world_from_camera.shape == (20, 3, 4)
    got, truth = joints(kin, world.poses, world.trans, m.betas), joints(kin, m.poses, m.trans, m.betas)
    assert got[..., 1].min() == pytest.approx(0.0, abs=0.05)  # soles on the floor (joints a little above)
    # one rotation about y and one shift relate them, for every frame
    a, b = (x.reshape(-1, 3) - x.reshape(-1, 3).mean(0) for x in (truth, got))
    u, _, vt = np.linalg.svd(b.T @ a)
    rot = u @ vt
    np.testing.assert_allclose(rot[1], [0, 1, 0], atol=1e-4)
    np.testing.assert_allclose(a @ rot.T, b, atol=1e-3)
    # and world_from_camera maps the camera-frame joints onto the world ones
    cam = joints(kin, cam_poses, cam_trans, m.betas)
    M = world.world_from_camera.astype(np.float64)
    np.testing.assert_allclose(np.einsum("tij,tkj->tki", M[:, :, :3], cam) + M[:, None, :, 3], got, atol=1e-4)


@pytest.mark.parametrize("pitch_deg", [0.0, 15.0, -10.0])
def test_the_estimate_of_an_unrolled_camera_recovers_its_pitch_from_a_walk(kin, pitch_deg):
    rng = np.random.default_rng(5)
    m = procedural.generate("walk", 30, 30.0, rng, kin)
    pitch = np.radians(pitch_deg)
    eye = np.array([0.0, 1.0 + 3.0 * np.tan(pitch), 3.0])
    R, t = (x[0].double().numpy() for x in look_at(torch.as_tensor(eye)[None], torch.tensor([[0.0, 1.0, 0.0]])))
    cam_poses, cam_trans = rigidly_moved(m.poses, m.trans, m.betas, R, t, kin)
    up = gravity.estimate_up(cam_poses, cam_trans, m.betas, kin)
    error = np.degrees(np.arccos(np.clip(up @ R[:, 1], -1, 1)))
    assert error < 6.0
    world = gravity.to_world(cam_poses, cam_trans, m.betas, kin)
    assert world.source == gravity.ESTIMATED
    got = joints(kin, world.poses, world.trans, m.betas)
    assert (got[:, JOINT["head"], 1] > got[:, JOINT["pelvis"], 1] + 0.3).all()  # upright
