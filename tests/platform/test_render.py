"""The software rasterizer: exact on simple geometry; keypoints and visibility agree with
the rendered silhouette on posed bodies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimo.pipelines import procedural, synthetic
from unimo.platform import body_model
from unimo.platform.render import MeshRenderer, joint_visibility, look_at, project
from unimo.platform.smpl_skeleton import JOINT

K = torch.tensor([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])


def square(z: float, half: float, facing_camera: bool):
    v = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return v, (f if facing_camera else f.flip(1))


def test_square_covers_exactly_the_pixels_whose_centres_it_contains_once_per_winding():
    # Camera at the origin looking down +z. A 0.98 m square at 4 m with f = 100 px spans
    # u, v in [19.75, 44.25]: pixel centres 20.5 ... 43.5, i.e. 24 x 24 pixels.
    R, t = torch.eye(3)[None], torch.zeros(1, 3)
    covered = []
    for facing in (True, False):
        v, f = square(4.0, 0.49, facing)
        out = MeshRenderer(f, 64, 64).render(v[None], K, R, t, torch.ones(2, 3), torch.zeros(64, 64, 3))
        covered.append(int(out.mask.sum()))
        if out.mask.any():
            assert out.mask[0, 20:44, 20:44].all()
            assert torch.allclose(out.depth[out.mask], torch.tensor(4.0), atol=1e-4)
            assert (out.rgb[out.mask] > 0).all() and (out.rgb[~out.mask] == 0).all()
    # back faces are culled: exactly one winding is drawn
    assert sorted(covered) == [0, 576]


def test_nearer_surface_wins_the_z_buffer():
    v1, f1 = square(3.0, 0.3, True)
    v2, f2 = square(5.0, 0.6, True)
    for winding in (f1, f1.flip(1)):
        v = torch.cat([v1, v2])
        f = torch.cat([winding, (f2 if winding is f1 else f2.flip(1)) + 4])
        out = MeshRenderer(f, 64, 64).render(v[None], K, torch.eye(3)[None], torch.zeros(1, 3),
                                             torch.tensor([[1.0, 0, 0]] * 2 + [[0, 0, 1.0]] * 2), torch.zeros(64, 64, 3))
        if out.mask.any():
            centre = out.rgb[0, 32, 32]
            assert centre[0] > 0 and centre[2] == 0  # the red near square, not the blue far one
            assert out.depth[0, 32, 32] == pytest.approx(3.0, abs=1e-4)


def test_look_at_puts_the_target_at_the_image_centre():
    eye = torch.tensor([[3.0, 1.5, -2.0]])
    target = torch.tensor([[0.2, 0.9, 0.5]])
    R, t = look_at(eye, target)
    uv, z = project(target[None], K, R, t)
    assert torch.allclose(uv[0, 0], torch.tensor([32.0, 32.0]), atol=1e-4)
    assert z[0, 0] == pytest.approx(float((eye - target).norm()), rel=1e-5)
    assert torch.allclose(R[0] @ R[0].T, torch.eye(3), atol=1e-6) and torch.det(R[0]) > 0


@pytest.fixture(scope="module")
def rig():
    return synthetic.rig(body_model.STANDIN)


def test_visible_keypoints_land_inside_the_silhouette(rig):
    kin = body_model.load_kinematics(body_model.STANDIN)
    inside, total = 0, 0
    for i, family in enumerate(procedural.FAMILIES):
        rng = np.random.default_rng([3, i])
        clip = synthetic.render_motion(procedural.generate(family, 24, 30.0, rng, kin), rig, 96, rng)
        T = len(clip.frames)
        x = np.clip(clip.keypoints2d[..., 0].astype(int), 0, 95)
        y = np.clip(clip.keypoints2d[..., 1].astype(int), 0, 95)
        hit = clip.mask[np.arange(T)[:, None], y, x]
        inside += hit[clip.visibility].sum()
        total += clip.visibility.sum()
        assert clip.visibility.mean() > 0.4  # the camera sees most of the body
    assert inside / total >= 0.97


def test_far_arm_is_hidden_in_a_side_view(rig):
    # Arms down, seen from the body's right side: the left arm is behind the torso.
    smpl = rig.smpl
    pose = torch.zeros(1, 72)
    pose[0, 3 * JOINT["left_shoulder"] + 2] = -1.3
    pose[0, 3 * JOINT["right_shoulder"] + 2] = 1.3
    out = smpl(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=torch.zeros(1, 10))
    verts, joints = out.vertices, out.joints[:, :24]
    eye = torch.tensor([[-4.0, 0.3, 0.0]])
    R, t = look_at(eye, torch.tensor([[0.0, 0.0, 0.0]]))
    K96 = torch.tensor([[120.0, 0, 48], [0, 120.0, 48], [0, 0, 1]])
    rendered = MeshRenderer(rig.faces, 96, 96).render(verts, K96, R, t, torch.ones(len(rig.faces), 3), torch.zeros(96, 96, 3))
    _, visible = joint_visibility(joints, K96, R, t, rendered, rig.face_joint, rig.joint_radius, rig.neighbours)
    assert visible[0, JOINT["right_elbow"]] and visible[0, JOINT["right_wrist"]]
    assert not visible[0, JOINT["left_elbow"]] and not visible[0, JOINT["left_wrist"]]
    assert visible[0, JOINT["head"]] and visible[0, JOINT["right_knee"]]
