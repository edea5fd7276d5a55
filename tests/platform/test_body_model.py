"""The body model: smplx loads the stand-in unchanged; joints-only kinematics matches smplx."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from unimo.platform import body_model, standin_body
from unimo.platform.body_model import BodyModelError
from unimo.platform.smpl_skeleton import JOINT, NUM_JOINTS, PARENTS


@pytest.fixture(scope="module")
def standin():
    with open(body_model.standin_path(), "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def smpl():
    return body_model.load_smpl(body_model.STANDIN)


def test_smplx_loads_the_standin_with_smpl_layout(smpl, standin):
    assert smpl.v_template.shape == (6890, 3)
    assert smpl.parents.tolist() == PARENTS
    assert smpl.num_betas == 10
    out = smpl(betas=torch.zeros(1, 10))
    # smplx's default extra keypoints (nose, eyes, ears, toes, heels, fingertips) resolve
    assert out.joints.shape == (1, 45, 3)
    nose, head = out.joints[0, 24], out.joints[0, JOINT["head"]]
    assert nose[2] > head[2] + 0.05 and nose[1] > head[1]  # in front of the head
    l_heel, l_toe = out.joints[0, 24 + 5 + 2], out.joints[0, 24 + 5 + 0]
    assert l_toe[2] > l_heel[2] + 0.15  # toes in front of heels
    assert standin["unimo_standin"] == standin_body.VERSION


def test_standin_surface_is_closed_and_human_sized(standin):
    faces = standin["f"].astype(np.int64)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert set(counts) == {2}  # every edge shared by exactly two faces: closed
    assert len(np.unique(faces)) == 6890  # no stray vertices
    v = standin["v_template"]
    assert 1.65 < v[:, 1].max() - v[:, 1].min() < 1.78
    # arm span about equals height, as in people
    assert 0.9 < (v[:, 0].max() - v[:, 0].min()) / (v[:, 1].max() - v[:, 1].min()) < 1.1


def test_skinning_weights_are_smooth_and_regressor_matches_joints(standin):
    w = standin["weights"]
    assert np.allclose(w.sum(1), 1) and (w >= -1e-9).all()
    # smooth: some vertices blend two joints (no hard seams everywhere)
    assert (np.sort(w, axis=1)[:, -2] > 0.2).sum() > 300
    np.testing.assert_allclose(standin["J_regressor"] @ standin["v_template"], standin["J"], atol=1e-9)
    assert standin["J_regressor"].shape == (NUM_JOINTS, 6890)


@pytest.mark.parametrize(
    "beta, grows",
    [(0, "height"), (2, "height"), (3, "span"), (1, "girth"), (4, "shoulders")],
)
def test_shape_directions_mean_something(standin, beta, grows):
    def measure(v):
        joints = standin["J_regressor"] @ v
        waist = v[np.abs(v[:, 1] - 0.1) < 0.02]
        return {
            "height": np.ptp(v[:, 1]),
            "span": np.ptp(v[:, 0]),
            "girth": np.ptp(waist[:, 2]),
            "shoulders": np.linalg.norm(joints[JOINT["left_shoulder"]] - joints[JOINT["right_shoulder"]]),
        }

    e = np.zeros(10)
    e[beta] = 1.0
    plus = measure(standin["v_template"] + standin["shapedirs"] @ e)
    minus = measure(standin["v_template"] - standin["shapedirs"] @ e)
    assert plus[grows] > minus[grows] * 1.03


def test_kinematics_equals_smplx_joints(smpl):
    kin = body_model.load_kinematics(body_model.STANDIN)
    gen = torch.Generator().manual_seed(0)
    poses = torch.randn(64, 72, generator=gen) * 0.6
    betas = torch.randn(64, 10, generator=gen) * 1.5
    trans = torch.randn(64, 3, generator=gen)
    ref = smpl(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=betas, transl=trans).joints[:, :24]
    assert (kin(poses, betas, trans) - ref).abs().max() < 1e-5


def test_missing_and_malformed_model_files_are_one_line_errors(tmp_path):
    with pytest.raises(BodyModelError, match="body model '.*nowhere' not found: expected a SMPL pickle"):
        body_model.load_smpl(str(tmp_path / "nowhere"))
    with pytest.raises(BodyModelError, match="not found"):
        body_model.load_smpl(str(tmp_path))  # a folder without SMPL_NEUTRAL.pkl
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"not a pickle")
    with pytest.raises(BodyModelError, match="is not a readable SMPL pickle"):
        body_model.load_smpl(str(tmp_path))
    bad = tmp_path / "partial.pkl"
    bad.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}))
    with pytest.raises(BodyModelError, match="malformed: missing shapedirs, posedirs"):
        body_model.load_smpl(str(bad))


def test_a_real_smpl_path_is_used_as_given(tmp_path):
    # Any SMPL-format file named in config is loaded, not the stand-in.
    target = tmp_path / "my_smpl"
    target.mkdir()
    (target / "SMPL_NEUTRAL.pkl").write_bytes(open(body_model.standin_path(), "rb").read())
    info = body_model.resolve(str(target))
    assert info.path == str(target / "SMPL_NEUTRAL.pkl") and not info.is_standin
    assert body_model.load_smpl(str(target)).v_template.shape == (6890, 3)
