"""AMASS and BVH importers: round trips through files the tests write, and clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from unimo.pipelines import procedural
from unimo.pipelines.amass import load_amass, rotate_world
from unimo.pipelines.bvh import load_bvh, parse_bvh, write_bvh
from unimo.pipelines.motion import MotionFileError
from unimo.platform import body_model
from unimo.platform.smpl_skeleton import JOINT_NAMES


@pytest.fixture(scope="module")
def kin():
    return body_model.load_kinematics(body_model.STANDIN)


@pytest.fixture(scope="module")
def motion(kin):
    return procedural.generate("kick", 60, 60.0, np.random.default_rng(11), kin)


def joints(kin, m):
    return kin(torch.from_numpy(m.poses), torch.from_numpy(m.betas), torch.from_numpy(m.trans))


def write_amass(path, m, kin, hands=True):
    """An AMASS-style SMPL-H file: z-up world, 156 pose values, 16 betas, 120-style keys."""
    z_up = Rotation.from_rotvec([np.pi / 2, 0, 0])  # y-up -> z-up, the inverse of the importer's turn
    root, trans = rotate_world(m.poses[:, :3], m.trans, m.betas, kin, z_up)
    poses = np.zeros((len(m), 156), np.float32)
    poses[:, :3] = root
    poses[:, 3:66] = m.poses[:, 3:66]
    if hands:
        poses[:, 66:] = np.random.default_rng(0).normal(0, 0.3, (len(m), 90))  # fingers: dropped by SMPL
    betas = np.zeros(16, np.float32)
    betas[:10] = m.betas
    np.savez(path, poses=poses, trans=trans, betas=betas, mocap_framerate=np.float64(m.fps), gender=np.str_("neutral"))


def test_amass_round_trip(tmp_path, kin, motion):
    write_amass(tmp_path / "clip.npz", motion, kin)
    back = load_amass(str(tmp_path / "clip.npz"), kin)
    assert back.fps == motion.fps and back.poses.shape == (60, 72)
    np.testing.assert_allclose(back.betas, motion.betas, atol=1e-6)
    # SMPL's hand joints have no SMPL-H counterpart: the kick's are at rest anyway
    ref = joints(kin, motion)
    ref_no_hands = motion.poses.copy()
    ref_no_hands[:, 66:] = 0
    err = (joints(kin, back) - kin(torch.from_numpy(ref_no_hands), torch.from_numpy(motion.betas), torch.from_numpy(motion.trans))).norm(dim=-1)
    assert err.max() < 1e-4  # metres
    assert (joints(kin, back) - ref)[:, :22].norm(dim=-1).max() < 1e-4


def test_bvh_round_trip_with_cm_units_a_pose_rest_and_resampling(tmp_path, kin, motion):
    # Arms down in the file's rest pose: retargeting must undo it exactly.
    down = {f"{s}_{j}": Rotation.from_rotvec([0, 0, (-1 if s == "left" else 1) * 1.1])
            for s in ("left", "right") for j in ("shoulder", "elbow", "wrist", "hand")}
    text = write_bvh(motion, kin, rest_rotations=down, units=100.0)
    parsed = parse_bvh(text)
    assert parsed.joints[0].name == "Hips" and 0.2 < np.abs(parsed.rest_positions()).max() / 100 < 2
    (tmp_path / "clip.bvh").write_text(text)
    back = load_bvh(str(tmp_path / "clip.bvh"), kin, betas=motion.betas)
    assert back.fps == pytest.approx(60.0) and len(back) == 60
    assert (joints(kin, back) - joints(kin, motion)).norm(dim=-1).max() < 1e-3

    half = back.resample(30.0)
    assert len(half) == 30
    sub = motion.window(0, 60)
    sub.poses, sub.trans = motion.poses[::2].copy(), motion.trans[::2].copy()
    assert (joints(kin, half) - joints(kin, sub)).norm(dim=-1).max() < 1e-3


def test_bvh_joint_names_of_other_libraries_map(tmp_path, kin, motion):
    # The same file with Blender-style names ("thigh.L") and a "mixamorig:" prefix.
    text = write_bvh(motion, kin)
    renames = {"LeftUpLeg": "thigh.L", "RightUpLeg": "thigh.R", "LeftLeg": "shin.L", "RightLeg": "shin.R",
               "LeftArm": "upper_arm.L", "RightArm": "upper_arm.R", "Hips": "mixamorig:Hips"}
    for old, new in renames.items():
        text = text.replace(f"JOINT {old}\n", f"JOINT {new}\n").replace(f"ROOT {old}\n", f"ROOT {new}\n")
    (tmp_path / "renamed.bvh").write_text(text)
    back = load_bvh(str(tmp_path / "renamed.bvh"), kin, betas=motion.betas)
    assert (joints(kin, back) - joints(kin, motion)).norm(dim=-1).max() < 1e-3


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "does not start with HIERARCHY"),
        (b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n", "malformed"),
        (b"\xff\xfe\x00binary", "is not text"),
    ],
)
def test_corrupt_bvh_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.bvh"
    path.write_bytes(content)
    with pytest.raises(MotionFileError, match=message) as e:
        load_bvh(str(path), body_model.load_kinematics(body_model.STANDIN))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_truncated_bvh_is_a_clear_error(tmp_path, kin, motion):
    text = write_bvh(motion, kin)
    path = tmp_path / "cut.bvh"
    path.write_text(text[: int(len(text) * 0.8)])
    with pytest.raises(MotionFileError, match=r"is truncated: \d+ values for 60 frames"):
        load_bvh(str(path), kin)


def test_bvh_without_a_humanoid_skeleton_is_a_clear_error(tmp_path, kin):
    text = "HIERARCHY\nROOT Base\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 1\nFrame Time: 0.033\n0 0 0\n"
    path = tmp_path / "arm.bvh"
    path.write_text(text)
    with pytest.raises(MotionFileError, match="no joint for SMPL's left_hip"):
        load_bvh(str(path), kin)


def test_corrupt_amass_files_are_clear_errors(tmp_path, kin, motion):
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(MotionFileError, match="garbage.npz' is not a readable npz"):
        load_amass(str(tmp_path / "garbage.npz"), kin)
    np.savez(tmp_path / "nokeys.npz", poses=np.zeros((3, 156)))
    with pytest.raises(MotionFileError, match="nokeys.npz' lacks trans, mocap_framerate"):
        load_amass(str(tmp_path / "nokeys.npz"), kin)
    np.savez(tmp_path / "shape.npz", poses=np.zeros((3, 10)), trans=np.zeros((3, 3)), mocap_framerate=30.0)
    with pytest.raises(MotionFileError, match=r"poses has shape \(3, 10\)"):
        load_amass(str(tmp_path / "shape.npz"), kin)
    buf = io.BytesIO()
    write_amass(buf, motion, kin)
    (tmp_path / "cut.npz").write_bytes(buf.getvalue()[:200])
    with pytest.raises(MotionFileError, match="cut.npz' is not a readable npz"):
        load_amass(str(tmp_path / "cut.npz"), kin)


def test_bvh_rest_pose_far_from_smpls_gives_the_same_joints_and_natural_rotations(tmp_path, kin, motion):
    # Every bone of the file's rest pose turned by a large random rotation (LAFAN1's rest
    # pose, for one, has every bone along +x): bone directions alone leave each joint's
    # twist open, which must come out neither as wrong positions nor as twists that the
    # next joint undoes.
    rng = np.random.default_rng(5)
    bent = {name: Rotation.from_rotvec(rng.normal(size=3) / np.sqrt(3) * 1.6) for name in JOINT_NAMES}
    (tmp_path / "bent.bvh").write_text(write_bvh(motion, kin, rest_rotations=bent, units=100.0))
    back = load_bvh(str(tmp_path / "bent.bvh"), kin, betas=motion.betas)
    assert (joints(kin, back) - joints(kin, motion)).norm(dim=-1).max() < 1e-3
    diff = Rotation.from_rotvec(back.poses.reshape(-1, 3)) * Rotation.from_rotvec(motion.poses.reshape(-1, 3)).inv()
    per_joint = np.degrees(diff.magnitude().reshape(len(motion), 24)).mean(0)
    moving = [j for j in range(1, 22) if np.linalg.norm(motion.poses.reshape(-1, 24, 3)[:, j], axis=-1).max() > 0]
    # what remains is each joint's own mean twist (the importer removes it with the rig's offset)
    assert per_joint[moving].max() < 30.0, str(dict(zip([JOINT_NAMES[j] for j in moving], per_joint[moving].round(1).tolist())))


def test_bvh_hinges_fix_hip_and_shoulder_twists_even_when_the_motion_holds_them_turned(tmp_path, kin):
    # Two recordings of one rig must come out in one convention. A mean-twist rule cannot
    # tell a rig's offset from a person who holds the upper arm turned in for a whole
    # recording; the knee's and elbow's flexion planes can, as they are rigid in the thigh
    # and upper arm.
    from unimo.pipelines.motion import Motion
    from unimo.platform.smpl_skeleton import FLEXION_NORMAL, JOINT

    T = 40
    rest = kin.rest_joints(torch.zeros(10)).numpy()
    flex = np.linspace(0.2, 1.4, T)[:, None]
    poses = np.zeros((T, 24, 3))
    for hinge, parent, turn in (("left_elbow", "left_shoulder", 0.7), ("right_elbow", "right_shoulder", -0.6),
                                ("left_knee", "left_hip", 0.6), ("right_knee", "right_hip", -0.7)):
        poses[:, JOINT[hinge]] = flex * np.asarray(FLEXION_NORMAL[hinge])
        bone = rest[JOINT[hinge]] - rest[JOINT[parent]]
        poses[:, JOINT[parent]] = turn * bone / np.linalg.norm(bone)  # held turned: 35-40 degrees
    motion = Motion(poses.reshape(T, 72).astype(np.float32), np.zeros((T, 3), np.float32) + [0, 0.9, 0],
                    np.zeros(10, np.float32), 30.0)
    rng = np.random.default_rng(3)
    bent = {name: Rotation.from_rotvec(rng.normal(size=3) / np.sqrt(3) * 1.6) for name in JOINT_NAMES}
    (tmp_path / "held.bvh").write_text(write_bvh(motion, kin, rest_rotations=bent, units=100.0))
    back = load_bvh(str(tmp_path / "held.bvh"), kin, betas=motion.betas)
    offset = joints(kin, back) - joints(kin, motion)  # the importer stands the body on the ground
    assert (offset - offset[:, :1]).norm(dim=-1).max() < 1e-3
    for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_elbow", "left_knee"):
        j = JOINT[name]
        diff = Rotation.from_rotvec(back.poses.reshape(T, 24, 3)[:, j]) * Rotation.from_rotvec(poses[:, j]).inv()
        assert np.degrees(diff.magnitude()).max() < 3.0, name
