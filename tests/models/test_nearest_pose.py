"""The nearest-training-pose bound of the motion tokenizer evaluation."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from unimo.models.motion_tokenizer.evaluation import nearest_pose_mm
from unimo.pipelines import procedural
from unimo.platform import body_model
from unimo.platform.smpl_skeleton import JOINT


def test_nearest_pose_ignores_place_and_heading_and_sees_a_changed_joint():
    kin = body_model.load_kinematics(body_model.STANDIN)
    m = procedural.generate("walk", 24, 30.0, np.random.default_rng(0), kin)
    row = {"poses": m.poses, "trans": m.trans, "betas": m.betas}
    turned = m.poses.copy()
    turned[:, :3] = (Rotation.from_rotvec([0, 1.3, 0]) * Rotation.from_rotvec(m.poses[:, :3])).as_rotvec()
    moved = {"poses": turned, "trans": m.trans + [2.0, 0.0, -1.0], "betas": m.betas}
    assert nearest_pose_mm([row], [moved], kin, stride=1) < 1e-3
    bent = m.poses.copy()
    bent[:, 3 * JOINT["left_elbow"] + 1] -= 1.0  # every frame's left elbow bent one radian more
    far = nearest_pose_mm([row], [{"poses": bent, "trans": m.trans, "betas": m.betas}], kin, stride=1)
    assert 5.0 < far < 100.0
