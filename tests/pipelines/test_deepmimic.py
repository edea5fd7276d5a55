"""DeepMimic importer: a clip the test writes on DeepMimic's skeleton, a real clip from the
registry, looping, and clear errors for corrupt files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from unimo.pipelines import deepmimic
from unimo.pipelines.bvh import map_joints
from unimo.pipelines.motion import MotionFileError
from unimo.platform import body_model
from unimo.platform.smpl_skeleton import JOINT

BONES = [("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
         ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
         ("right_elbow", "right_wrist"), ("left_hip", "right_hip")]


@pytest.fixture(scope="module")
def kin():
    return body_model.load_kinematics(body_model.STANDIN)


def _wxyz(rot: Rotation) -> np.ndarray:
    return rot.as_quat()[:, [3, 0, 1, 2]]


def write_clip(path, T=40, dt=1 / 30, loop="none", seed=0) -> np.ndarray:
    """A walk-like clip on DeepMimic's skeleton: swinging hips, bending knees and elbows."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) * dt
    phase = 2 * np.pi * t / (T * dt)
    frames = [np.full((T, 1), dt), np.stack([0.8 * t, 0.85 + 0.02 * np.sin(2 * phase), 0.1 * t], 1),
              _wxyz(Rotation.from_rotvec(np.stack([0 * t, 0.3 * np.sin(phase), 0 * t], 1)))]
    small = lambda: _wxyz(Rotation.from_rotvec(rng.normal(0, 0.15, 3)[None] * np.sin(phase)[:, None]))  # noqa: E731
    for side in (1, -1):
        frames += [small()] if side == 1 else []  # chest
        frames += [small()] if side == 1 else []  # neck
        frames += [_wxyz(Rotation.from_rotvec(np.stack([0 * t, 0 * t, side * 0.5 * np.sin(phase)], 1))),  # hip
                   (-0.6 - 0.5 * np.sin(phase + side))[:, None],  # knee (negative: bends backwards)
                   small(),  # ankle
                   _wxyz(Rotation.from_rotvec(np.stack([side * 0.3 + 0 * t, 0 * t, -side * 0.4 * np.sin(phase)], 1))),  # shoulder
                   (0.4 + 0.3 * np.cos(phase))[:, None]]  # elbow (positive)
    data = np.concatenate(frames, axis=1)
    data[-1, 0] = 0.0  # DeepMimic ends a clip with a zero duration
    path.write_text(json.dumps({"Loop": loop, "Frames": data.tolist()}))
    return data


def smpl_joints(kin, m):
    return kin(torch.from_numpy(m.poses), torch.from_numpy(m.betas), torch.from_numpy(m.trans)).numpy()


def bone_agreement(kin, frames, m) -> float:
    """The smallest cosine between each DeepMimic bone and its SMPL bone over the clip."""
    bvh = deepmimic.to_bvh(frames)
    pos, _ = bvh.forward()
    mapping = map_joints(bvh)
    j = smpl_joints(kin, m)
    worst = 1.0
    for a, b in BONES:
        d1 = pos[:, mapping[JOINT[b]]] - pos[:, mapping[JOINT[a]]]
        d2 = j[: len(pos), JOINT[b]] - j[: len(pos), JOINT[a]]
        worst = min(worst, float(((d1 * d2).sum(-1) / np.linalg.norm(d1, axis=-1) / np.linalg.norm(d2, axis=-1)).min()))
    return worst


def test_a_written_clip_imports_with_every_bone_where_deepmimic_puts_it(tmp_path, kin):
    frames = write_clip(tmp_path / "walk.txt")
    m = deepmimic.load_deepmimic(str(tmp_path / "walk.txt"), kin)
    assert len(m) == len(frames) and m.fps == pytest.approx(30.0, abs=0.01)
    assert bone_agreement(kin, frames, m) > 0.999
    j = smpl_joints(kin, m)
    assert (j[:, JOINT["head"], 1] > j[:, JOINT["pelvis"], 1] + 0.3).all()  # upright, y up
    soles = kin.sole_points(torch.from_numpy(m.poses), torch.from_numpy(m.betas), torch.from_numpy(m.trans))
    assert float(soles[..., 1].min()) == pytest.approx(0.0, abs=1e-4)  # on the floor
    # the root travels as the file says, scaled from DeepMimic's legs to SMPL's
    travelled = np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]])
    expected = np.linalg.norm(frames[-1, [1, 3]] - frames[0, [1, 3]])
    assert 0.5 * expected < travelled < 2.0 * expected
    # a knee bent in the file is bent in SMPL (the hinge maps to flexion, not twist)
    knee = np.linalg.norm(m.poses[:, 3 * JOINT["left_knee"] : 3 * JOINT["left_knee"] + 3], axis=1)
    file_knee = np.abs(frames[:, 34])  # the left knee: duration, root (7), chest, neck, right side (15), left hip (4)
    assert np.corrcoef(knee, file_knee)[0, 1] > 0.99


def test_a_looping_clip_repeats_and_carries_the_root_on(tmp_path, kin):
    frames = write_clip(tmp_path / "loop.txt", loop="wrap")
    once = deepmimic.load_deepmimic(str(tmp_path / "loop.txt"), kin)
    looped = deepmimic.load_deepmimic(str(tmp_path / "loop.txt"), kin, min_seconds=4.0)
    assert len(looped) / looped.fps >= 4.0 - 1e-6 and len(looped) > 2 * len(once)
    n = len(frames) - 1
    assert np.allclose(smpl_joints(kin, looped)[:n] - smpl_joints(kin, looped)[:1, :1],
                       smpl_joints(kin, once)[:n] - smpl_joints(kin, once)[:1, :1], atol=0.05)
    root = smpl_joints(kin, looped)[:, 0]
    assert np.linalg.norm(np.diff(root, axis=0), axis=1).max() < 0.1  # no jump at the seams
    assert np.linalg.norm(root[-1, [0, 2]] - root[0, [0, 2]]) > 2.0 * np.linalg.norm(root[n, [0, 2]] - root[0, [0, 2]])


@pytest.mark.parametrize("content,message", [
    ("not json", "not a motion clip"),
    (json.dumps({"Loop": "none"}), "not a motion clip"),
    (json.dumps({"Frames": [[0.1] * 43, [0.1] * 43]}), "expected (T >= 2, 44)"),
    (json.dumps({"Frames": [[0.1] * 44]}), "expected (T >= 2, 44)"),
])
def test_corrupt_deepmimic_files_are_one_line_errors(tmp_path, kin, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(MotionFileError, match=re.escape(message)) as err:
        deepmimic.load_deepmimic(str(path), kin)
    assert "\n" not in str(err.value) and "bad.txt" in str(err.value)


def test_a_real_deepmimic_clip_from_the_registry(kin):
    from unimo.pipelines.registry_data import DEEPMIMIC_HELD_OUT, RegistryDataError, deepmimic_clips

    try:
        clips = deepmimic_clips("all")
    except RegistryDataError as e:
        pytest.skip(f"no package registry: {e}")
    assert len(clips) == 15 and len(deepmimic_clips("held_out")) == len(DEEPMIMIC_HELD_OUT)
    assert not set(deepmimic_clips("train")) & set(deepmimic_clips("held_out"))
    walk = next(c for c in clips if c.endswith("humanoid3d_walk.txt"))
    frames, loops = deepmimic.parse_frames(open(walk).read(), walk)
    m = deepmimic.load_deepmimic(walk, kin)
    assert loops and m.fps == pytest.approx(30.0, abs=0.1)
    assert bone_agreement(kin, frames, m) > 0.999
    j = smpl_joints(kin, m)
    assert (j[:, JOINT["head"], 1] - j[:, JOINT["pelvis"], 1]).min() > 0.4  # a person walking upright
    speed = np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]) / (len(m) / m.fps)
    assert 0.5 < speed < 2.5  # metres a second: a walk
