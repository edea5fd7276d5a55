"""The camera fit that registers a motion to a video's 2D keypoints (mocap's overlay)."""

import numpy as np
import pytest
import torch

from unimo.pipelines import procedural
from unimo.pipelines.camera_fit import fit_camera, project, world_to_camera
from unimo.platform import body_model


def test_a_known_camera_is_recovered_from_the_keypoints_it_projects():
    kin = body_model.load_kinematics()
    m = procedural.generate("walk", 30, 30.0, np.random.default_rng(3), kin)
    with torch.no_grad():
        joints = kin(torch.as_tensor(m.poses), torch.as_tensor(m.betas).expand(30, -1), torch.as_tensor(m.trans))
    R = world_to_camera(torch.tensor(2.0), torch.tensor(0.2), torch.tensor(0.05))  # seen from behind-left, tilted
    shift = torch.tensor([0.3, 0.5, 4.0]) - R @ joints[0, 0]
    cam = joints @ R.T + shift
    K = torch.tensor([[200.0, 0, 128], [0, 200.0, 128], [0, 0, 1]])
    conf = np.ones((30, 24))
    conf[:, [3, 6, 9, 13, 14, 22, 23]] = 0  # what a detector does not give
    conf[10] = 0  # a frame with nobody seen follows its neighbours
    R_fit, shift_fit, residual = fit_camera(joints.numpy(), project(cam, K).numpy(), conf, K.numpy())
    assert residual < 0.5  # px
    fitted = joints.numpy() @ R_fit.T + shift_fit[:, None]
    assert np.linalg.norm(fitted - cam.numpy(), axis=-1).mean() < 0.01  # metres, frame 10 included


def test_nobody_seen_is_a_one_line_error():
    with pytest.raises(ValueError, match="no keypoint was seen"):
        fit_camera(np.zeros((4, 24, 3)), np.zeros((4, 24, 2)), np.zeros((4, 24)), np.eye(3))
