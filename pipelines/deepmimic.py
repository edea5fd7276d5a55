"""DeepMimic importer: the humanoid clips pybullet ships (`humanoid3d_*.txt`) to SMPL motion.

A clip is JSON: `Loop` ("wrap" or "none") and `Frames`, one list of 44 numbers a frame:

    duration (s), root position (3, y up, metres), root rotation (w, x, y, z),
    chest, neck, right hip (w, x, y, z), right knee (radians), right ankle, right shoulder
    (w, x, y, z), right elbow (radians), then the same seven for the left side.

The rotations are local, on DeepMimic's humanoid (pybullet's `humanoid/humanoid.urdf`,
loaded at a quarter scale): it faces +x, its right side is +z, its arms hang down in the
rest pose, and knees and elbows are hinges about their local z. The importer writes that
skeleton as a BVH (names the BVH importer maps, one intrinsic ZXY rotation a joint) and
retargets it with `bvh.retarget`, so rest-pose alignment, units and body size are handled
once, for both formats. DeepMimic has no collars, toes, head or hand joints: SMPL's follow
their parents.
"""

from __future__ import annotations

import json

import numpy as np
from scipy.spatial.transform import Rotation

from unimo.pipelines.bvh import Bvh, BvhJoint, retarget
from unimo.pipelines.motion import Motion, MotionFileError, place_on_ground
from unimo.platform import storage

VALUES_PER_FRAME = 44
_URDF_SCALE = 0.25  # pybullet loads the humanoid at this scale; the root path is in its metres

# (BVH name, parent, offset in URDF units, what the frame holds: "quat", "hinge" or None)
SKELETON = [
    ("Hips", -1, (0.0, 0.0, 0.0), "quat"),
    ("Spine", 0, (0.0, 0.944604, 0.0), "quat"),  # DeepMimic's chest
    ("Neck", 1, (0.0, 0.895576, 0.0), "quat"),
    ("Head", 2, (0.0, 0.7, 0.0), None),  # a fixed point above the neck: the neck's bone direction
    ("RightUpLeg", 0, (0.0, 0.0, 0.339548), "quat"),
    ("RightLeg", 4, (0.0, -1.686184, 0.0), "hinge"),
    ("RightFoot", 5, (0.0, -1.639480, 0.0), "quat"),
    ("RightArm", 1, (-0.096200, 0.974000, 0.732440), "quat"),
    ("RightForeArm", 7, (0.0, -1.099152, 0.0), "hinge"),
    ("RightHand", 8, (0.0, -1.035788, 0.0), None),
    ("LeftUpLeg", 0, (0.0, 0.0, -0.339548), "quat"),
    ("LeftLeg", 10, (0.0, -1.686184, 0.0), "hinge"),
    ("LeftFoot", 11, (0.0, -1.639480, 0.0), "quat"),
    ("LeftArm", 1, (-0.096200, 0.974000, -0.732440), "quat"),
    ("LeftForeArm", 13, (0.0, -1.099152, 0.0), "hinge"),
    ("LeftHand", 14, (0.0, -1.035788, 0.0), None),
]
# The order of the rotations in a frame, after the root's: the file's joint order.
FRAME_ORDER = ["Spine", "Neck", "RightUpLeg", "RightLeg", "RightFoot", "RightArm", "RightForeArm",
               "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftArm", "LeftForeArm"]


def parse_frames(text: str, name: str) -> tuple[np.ndarray, bool]:
    """(frames (T, 44), loops) from a clip's JSON text."""
    try:
        data = json.loads(text)
        frames = np.asarray(data["Frames"], dtype=np.float64)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise MotionFileError(f"DeepMimic file '{name}' is not a motion clip ({type(e).__name__}: {e})") from None
    if frames.ndim != 2 or frames.shape[1] != VALUES_PER_FRAME or len(frames) < 2:
        raise MotionFileError(f"DeepMimic file '{name}': Frames has shape {frames.shape}, expected (T >= 2, {VALUES_PER_FRAME})")
    if not np.isfinite(frames).all():
        raise MotionFileError(f"DeepMimic file '{name}' holds NaN or infinite values")
    return frames, str(data.get("Loop", "none")).lower() == "wrap"


def _quat(values: np.ndarray) -> Rotation:
    """(T, 4) w, x, y, z -> Rotation (scipy takes x, y, z, w)."""
    return Rotation.from_quat(values[:, [1, 2, 3, 0]])


def to_bvh(frames: np.ndarray) -> Bvh:
    """DeepMimic frames as a BVH on the humanoid's skeleton, in metres."""
    T = len(frames)
    local: dict[str, Rotation] = {"Hips": _quat(frames[:, 4:8])}
    col = 8
    for name in FRAME_ORDER:
        kind = next(k for n, _, _, k in SKELETON if n == name)
        if kind == "quat":
            local[name] = _quat(frames[:, col : col + 4])
            col += 4
        else:
            local[name] = Rotation.from_rotvec(frames[:, col, None] * np.array([0.0, 0.0, 1.0]))
            col += 1
    joints, values = [], [frames[:, 1:4]]
    for name, parent, offset, kind in SKELETON:
        channels = (["Xposition", "Yposition", "Zposition"] if parent < 0 else []) + (["Zrotation", "Xrotation", "Yrotation"] if kind else [])
        joints.append(BvhJoint(name, parent, np.asarray(offset) * _URDF_SCALE, channels))
        if kind:
            values.append(local[name].as_euler("ZXY", degrees=True))
    frame_time = float(np.median(frames[frames[:, 0] > 0, 0]))
    return Bvh(joints, frame_time, np.concatenate(values, axis=1).reshape(T, -1))


def loop(frames: np.ndarray, cycles: int) -> np.ndarray:
    """A looping clip played `cycles` times: each cycle starts where the last ended, with
    the root's ground displacement and turn of a cycle carried on (as DeepMimic plays them)."""
    if cycles <= 1:
        return frames
    first, last = frames[0], frames[-1]  # a wrap clip's last frame is the next cycle's first
    turn = _yaw(_quat(last[None, 4:8])) * _yaw(_quat(first[None, 4:8])).inv()
    step = last[1:4] - first[1:4]
    step[1] = 0.0
    out, offset, heading = [frames[:-1]], np.zeros(3), Rotation.identity()
    for _ in range(1, cycles):
        heading, offset = turn * heading, offset + (heading.apply(step))
        cycle = frames[:-1].copy()
        root = cycle[:, 1:4] - first[1:4]
        cycle[:, 1:4] = heading.apply(root) + first[1:4] + offset  # a turn about y keeps the height
        q = (heading * _quat(cycle[:, 4:8])).as_quat()  # x, y, z, w
        cycle[:, 4:8] = q[:, [3, 0, 1, 2]]
        out.append(cycle)
    return np.concatenate(out + [out[-1][-1:]])


def _yaw(rot: Rotation) -> Rotation:
    """The turn about y of a rotation (its heading)."""
    forward = rot.apply([1.0, 0.0, 0.0])
    return Rotation.from_rotvec(np.array([0.0, 1.0, 0.0]) * np.arctan2(-forward[:, 2], forward[:, 0])[:, None])


def load_deepmimic(path: str, kinematics, betas=None, min_seconds: float = 0.0) -> Motion:
    """Read one DeepMimic clip (any storage URL) as a y-up SMPL Motion at the clip's frame
    rate, feet on the floor. A looping clip is repeated until it lasts `min_seconds`."""
    raw = storage.read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MotionFileError(f"DeepMimic file '{path}' is not text") from None
    frames, loops = parse_frames(text, path)
    bvh = to_bvh(frames)
    if loops and min_seconds > 0:
        cycle_seconds = max((len(frames) - 1) * bvh.frame_time, 1e-6)
        bvh = to_bvh(loop(frames, int(np.ceil(min_seconds / cycle_seconds))))
    betas = np.zeros(kinematics.num_betas, np.float32) if betas is None else np.asarray(betas, np.float32)
    poses, trans = retarget(bvh, kinematics, betas)
    trans = place_on_ground(poses, trans, betas, kinematics, per_frame=False)
    return Motion(poses, trans, betas, round(1.0 / bvh.frame_time, 3), {"source": path, "format": "deepmimic", "loops": loops})
