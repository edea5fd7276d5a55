"""BVH importer (and writer): Hips-rooted humanoid skeletons to SMPL motion.

Retargeting works on global rotations. For each SMPL joint with a BVH counterpart, the
rest-pose bone directions of the two skeletons give an alignment A (SMPL rest bone -> BVH
rest bone), and SMPL's global rotation is the BVH joint's global rotation times A. This
makes any BVH rest pose work (T-pose, A-pose, arms down), because the BVH's own rest pose
enters only through A. Units (cm or m) and body size are matched by leg length; per-joint
channel orders are read from the file.

A bone direction fixes A only up to a twist about the bone. Joints with two or more
children (pelvis, upper spine) take the twist from a second direction (neck and hips,
neck and shoulders). Hips and shoulders take it from the knee's and elbow's flexion plane,
which is rigid in the thigh and upper arm (`smpl_skeleton.FLEXION_NORMAL`), whatever the
motion. The other joints keep a constant offset when the rest pose is not a plain T- or
A-pose (LAFAN1's: every bone along +x, the pose made by large rotations), which would show
as 90-degree twists undone by the next joint; each such joint's mean twist over the
recording (a leaf's mean rotation) is removed. Joint positions do not change, the
rotations become the ones a person would name, and recordings of one rig agree: a
threshold on that mean would fix an offset in one recording and leave it in the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from unimo.pipelines.motion import Motion, MotionFileError, place_on_ground
from unimo.platform import storage
from unimo.platform.smpl_skeleton import FLEXION_NORMAL, JOINT, JOINT_NAMES, NUM_JOINTS, PARENTS, children

# SMPL joint -> BVH names seen in common mocap libraries (CMU, Mixamo, LAFAN1, Truebones),
# compared case-insensitively after dropping namespace prefixes such as "mixamorig:".
ALIASES = {
    "pelvis": ["hips", "hip", "pelvis", "root"],
    "neck": ["neck", "neck1"],
    "head": ["head", "face"],
}
for _side, _s in (("left", "l"), ("right", "r")):
    _S = _side.capitalize()
    ALIASES.update({
        f"{_side}_hip": [f"{_side}upleg", f"{_side}hip", f"{_s}hip", f"{_side}thigh", f"{_side}upperleg", f"{_s}hip"],
        f"{_side}_knee": [f"{_side}leg", f"{_side}knee", f"{_s}knee", f"{_side}lowleg", f"{_side}shin", f"{_side}lowerleg", f"{_s}knee"],
        f"{_side}_ankle": [f"{_side}foot", f"{_side}ankle", f"{_s}ankle", f"{_s}foot", f"{_s}ankle"],
        f"{_side}_foot": [f"{_side}toebase", f"{_side}toe", f"{_side}toes", f"{_s}toe", f"{_s}foot"],
        f"{_side}_collar": [f"{_side}shoulder", f"{_side}collar", f"{_side}clavicle", f"{_s}collar", f"{_s}collar"],
        f"{_side}_shoulder": [f"{_side}arm", f"{_side}uparm", f"{_side}upperarm", f"{_s}shoulder", f"{_s}shoulder"],
        f"{_side}_elbow": [f"{_side}forearm", f"{_side}lowarm", f"{_side}elbow", f"{_side}lowerarm", f"{_s}elbow", f"{_s}elbow"],
        f"{_side}_wrist": [f"{_side}hand", f"{_side}wrist", f"{_s}wrist", f"{_s}hand", f"{_s}wrist"],
        f"{_side}_hand": [f"{_side}handmiddle1", f"{_side}handindex1", f"{_side}fingerbase", f"{_s}hand"],
    })
SPINE = ["spine1", "spine2", "spine3"]  # matched to the BVH's spine chain by position
# Standard names the writer uses (Mixamo/LAFAN1 style).
WRITE_NAMES = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
    **{f"{s}_{j}": f"{s.capitalize()}{n}" for s in ("left", "right") for j, n in (
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("collar", "Shoulder"),
        ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"), ("hand", "HandMiddle1"))},
}


@dataclass
class BvhJoint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    end_site: np.ndarray | None = None


@dataclass
class Bvh:
    joints: list[BvhJoint]
    frame_time: float
    values: np.ndarray  # (T, total channels)

    def rest_positions(self) -> np.ndarray:
        """Joint positions (J, 3) of the rest pose the OFFSETs describe."""
        pos = np.zeros((len(self.joints), 3))
        for j, joint in enumerate(self.joints):
            pos[j] = joint.offset + (pos[joint.parent] if joint.parent >= 0 else 0)
        return pos

    def forward(self) -> tuple[np.ndarray, list[Rotation]]:
        """Global positions (T, J, 3) and global rotations (per joint, T each). Position
        channels, where a joint has them, replace its OFFSET."""
        T, col = len(self.values), 0
        pos = np.zeros((T, len(self.joints), 3))
        rots: list[Rotation] = []
        for j, joint in enumerate(self.joints):
            trans = joint.offset[None].repeat(T, 0)
            rot_axes, rot_cols = "", []
            for ch in joint.channels:
                kind = ch.lower()
                if kind.endswith("position"):
                    trans[:, "xyz".index(kind[0])] = self.values[:, col]
                else:
                    rot_axes += kind[0].upper()
                    rot_cols.append(col)
                col += 1
            local = Rotation.from_euler(rot_axes, self.values[:, rot_cols], degrees=True) if rot_axes else Rotation.identity(T)
            if joint.parent < 0:
                pos[:, j] = trans
                rots.append(local)
            else:
                pos[:, j] = pos[:, joint.parent] + rots[joint.parent].apply(trans)
                rots.append(rots[joint.parent] * local)
        return pos, rots


def parse_bvh(text: str, name: str = "BVH") -> Bvh:
    tokens = text.split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise MotionFileError(f"BVH file '{name}' does not start with HIERARCHY")
    joints: list[BvhJoint] = []
    stack: list[int] = []
    i = 1
    try:
        while tokens[i].upper() != "MOTION":
            tok = tokens[i].upper()
            if tok in ("ROOT", "JOINT"):
                joints.append(BvhJoint(tokens[i + 1], stack[-1] if stack else -1, np.zeros(3)))
                i += 2
            elif tok == "END":  # End Site { OFFSET x y z }
                if tokens[i + 2] != "{" or tokens[i + 3].upper() != "OFFSET" or tokens[i + 7] != "}":
                    raise ValueError("End Site must hold one OFFSET")
                joints[stack[-1]].end_site = np.array(tokens[i + 4 : i + 7], float)
                i += 8
            elif tok == "{":
                stack.append(len(joints) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                joints[-1].offset = np.array(tokens[i + 1 : i + 4], float)
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                joints[-1].channels = tokens[i + 2 : i + 2 + n]
                i += 2 + n
            else:
                raise ValueError(f"unexpected '{tokens[i]}'")
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array(tokens[i + 6 :], float)
    except (IndexError, ValueError) as e:
        raise MotionFileError(f"BVH file '{name}' is malformed ({e})") from None
    width = sum(len(j.channels) for j in joints)
    if not joints or width == 0 or frames <= 0 or frame_time <= 0:
        raise MotionFileError(f"BVH file '{name}' has no joints, channels or frames")
    if values.size != frames * width:
        raise MotionFileError(f"BVH file '{name}' is truncated: {values.size} values for {frames} frames of {width} channels")
    return Bvh(joints, frame_time, values.reshape(frames, width))


def _key(name: str) -> str:
    """'mixamorig:LeftArm' -> 'leftarm'; Blender's 'upper_arm.L' -> 'leftupperarm'."""
    name = name.split(":")[-1].lower()
    side = re.match(r"(.+)[._ ]([lr])$", name)
    if side:
        name = ("left" if side.group(2) == "l" else "right") + side.group(1)
    return re.sub(r"[^a-z0-9]", "", name)


def map_joints(bvh: Bvh) -> dict[int, int]:
    """SMPL joint index -> BVH joint index, for the joints the BVH has."""
    keys = [_key(j.name) for j in bvh.joints]
    found: dict[int, int] = {}
    for smpl_name, aliases in ALIASES.items():
        for alias in aliases:
            if alias in keys:
                found[JOINT[smpl_name]] = keys.index(alias)
                break
    if JOINT["pelvis"] not in found:
        found[JOINT["pelvis"]] = 0  # the root is the hips in a humanoid BVH
    needed = ["left_hip", "right_hip", "left_knee", "right_knee", "neck"]
    missing = [n for n in needed if JOINT[n] not in found]
    if missing:
        raise MotionFileError(f"BVH skeleton has no joint for SMPL's {', '.join(missing)} (joints: {', '.join(j.name for j in bvh.joints[:12])}...)")
    # Spine: the BVH joints strictly between the hips and the neck.
    chain, j = [], bvh.joints[found[JOINT["neck"]]].parent
    while j >= 0 and j != found[JOINT["pelvis"]]:
        chain.append(j)
        j = bvh.joints[j].parent
    chain.reverse()
    if chain:
        picks = np.linspace(0, len(chain) - 1, 3).round().astype(int) if len(chain) >= 3 else [0, len(chain) - 1, len(chain) - 1]
        for smpl_name, k in zip(SPINE, picks):
            found.setdefault(JOINT[smpl_name], chain[k])
    return found


def _frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    up = up / np.linalg.norm(up)
    left = left - left.dot(up) * up
    left = left / np.linalg.norm(left)
    return np.stack([left, up, np.cross(left, up)], axis=1)


def _bone(rest: np.ndarray, joint: int) -> np.ndarray | None:
    """Rest direction from a SMPL joint to its first child (None for leaves)."""
    kids = children(joint)
    return rest[kids[0]] - rest[joint] if kids else None


def _twist_angles(local: Rotation, axis: np.ndarray) -> np.ndarray:
    """Swing-twist decomposition: the angle (T,) of each rotation's twist about `axis`."""
    q = local.as_quat()  # x, y, z, w
    return 2 * np.arctan2(q[:, :3] @ (axis / np.linalg.norm(axis)), q[:, 3])


def _hinge_twist(local_child: Rotation, axis: np.ndarray, child_bone: np.ndarray, normal: np.ndarray) -> Rotation | None:
    """The twist about a joint's bone `axis` that turns its child's observed flexion plane
    onto the hinge's `normal` (SMPL rest frame), or None if the hinge hardly bends."""
    a = axis / np.linalg.norm(axis)
    n = np.cross(a, local_child.apply(child_bone)).sum(axis=0)  # weighted by sin(flexion)
    n -= n.dot(a) * a
    if np.linalg.norm(n) < np.sin(np.radians(10.0)) * len(local_child) * np.linalg.norm(child_bone):
        return None
    target = np.asarray(normal) - np.dot(normal, a) * a
    angle = np.arctan2(a.dot(np.cross(target, n)), target.dot(n))
    return Rotation.from_rotvec(angle * a)


def _twist_fix(j: int, local: Rotation, glob: list[Rotation], rest: np.ndarray) -> Rotation:
    """The constant rotation that joint j's global rotation takes on the right (see the
    module docstring); `local` is j's rotation against its corrected parent."""
    kids = children(j)
    if len(kids) > 1:
        return Rotation.identity()  # twist fixed by two directions already
    if not kids:
        return local.mean().inv()
    hinge = FLEXION_NORMAL.get(JOINT_NAMES[kids[0]])
    if hinge is not None:  # hips and shoulders: the knee's or elbow's flexion plane
        fix = _hinge_twist(glob[j].inv() * glob[kids[0]], _bone(rest, j), _bone(rest, kids[0]), hinge)
        if fix is not None:
            return fix
    axis = _bone(rest, j)
    angles = _twist_angles(local, axis)
    mean = np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())
    return Rotation.from_rotvec(-mean * axis / np.linalg.norm(axis))


def _natural_twists(glob: list[Rotation], rest: np.ndarray) -> list[Rotation]:
    """Global rotations with constant twist offsets removed (see the module docstring);
    root to leaves, so each joint's local rotation is taken against its corrected parent."""
    out = [glob[0]]
    for j in range(1, NUM_JOINTS):
        out.append(glob[j] * _twist_fix(j, out[PARENTS[j]].inv() * glob[j], glob, rest))
    return out


def retarget(bvh: Bvh, kinematics, betas: np.ndarray, up_axis: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """BVH motion -> SMPL (poses (T, 72), trans (T, 3)) for a body with `betas`."""
    mapping = map_joints(bvh)
    pos, rots = bvh.forward()
    rest_bvh = bvh.rest_positions()
    rest = kinematics.rest_joints(torch.as_tensor(betas, dtype=torch.float32)).numpy().astype(float)
    if up_axis == "z":
        to_y_up = Rotation.from_rotvec([-np.pi / 2, 0, 0])
    elif up_axis == "y":
        to_y_up = Rotation.identity()
    else:
        raise ValueError(f"up_axis must be 'y' or 'z', got '{up_axis}'")

    def bvh_pos(smpl_joint):  # rest position of a SMPL joint's BVH counterpart
        return rest_bvh[mapping[smpl_joint]]

    # Alignment A_j: SMPL rest bone -> BVH rest bone, in world axes.
    align: list[Rotation] = [Rotation.identity()] * NUM_JOINTS
    hips = (JOINT["left_hip"], JOINT["right_hip"])
    # The root: match the (pelvis -> spine, right hip -> left hip) frames of both skeletons,
    # from the pelvis's own children (a bent spine in the rest pose must not tilt it).
    neck = JOINT["neck"]
    up = next(j for j in (JOINT["spine1"], JOINT["spine2"], JOINT["spine3"], neck)
              if j in mapping and np.linalg.norm(bvh_pos(j) - bvh_pos(0)) > 1e-6 * np.abs(rest_bvh).max())
    smpl_frame = _frame(rest[up] - rest[0], rest[hips[0]] - rest[hips[1]])
    bvh_frame = _frame(bvh_pos(up) - bvh_pos(0), bvh_pos(hips[0]) - bvh_pos(hips[1]))
    align[0] = Rotation.from_matrix(bvh_frame @ smpl_frame.T)
    framed = {0}
    # The upper spine: its neck and the shoulder line, when the file has both shoulders.
    spine3, collars = JOINT["spine3"], (JOINT["left_collar"], JOINT["right_collar"])
    if all(j in mapping for j in (spine3, neck, *collars)):
        with np.errstate(invalid="ignore", divide="ignore"):
            smpl_frame = _frame(rest[neck] - rest[spine3], rest[collars[0]] - rest[collars[1]])
            bvh_frame = _frame(bvh_pos(neck) - bvh_pos(spine3), bvh_pos(collars[0]) - bvh_pos(collars[1]))
        if np.isfinite(bvh_frame).all():
            align[spine3] = Rotation.from_matrix(bvh_frame @ smpl_frame.T)
            framed.add(spine3)
    for j in range(1, NUM_JOINTS):
        if j in framed:
            continue
        d_smpl = _bone(rest, j)
        kid = children(j)[0] if children(j) else None
        if j in mapping and kid is not None and kid in mapping and d_smpl is not None:
            d_bvh = bvh_pos(kid) - bvh_pos(j)
            if np.linalg.norm(d_bvh) > 1e-9:
                align[j] = _rotation_between(d_smpl, d_bvh)
                continue
        align[j] = align[PARENTS[j]]  # no bone to compare: keep the parent's alignment

    # Global SMPL rotations; joints without a BVH counterpart follow their parent.
    glob: list[Rotation] = []
    for j in range(NUM_JOINTS):
        if j in mapping:
            glob.append(to_y_up * rots[mapping[j]] * align[j])
        else:
            glob.append(glob[PARENTS[j]] * (align[PARENTS[j]].inv() * align[j]))
    glob = _natural_twists(glob, rest)
    local = [glob[0]] + [glob[PARENTS[j]].inv() * glob[j] for j in range(1, NUM_JOINTS)]
    poses = np.stack([r.as_rotvec() for r in local], axis=1).reshape(len(pos), -1)

    # Units and body size: scale the root path by the ratio of leg lengths.
    def leg(points, hip, knee, ankle):
        return np.linalg.norm(points[knee] - points[hip]) + np.linalg.norm(points[ankle] - points[knee])

    lk, la = JOINT["left_knee"], JOINT["left_ankle"]
    bvh_leg = leg(rest_bvh, mapping[hips[0]], mapping[lk], mapping.get(la, mapping[lk]))
    scale = leg(rest, hips[0], lk, la) / max(bvh_leg, 1e-9)
    root = to_y_up.apply(pos[:, mapping[0]] * scale)
    trans = root - rest[0]
    return poses.astype(np.float32), trans.astype(np.float32)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> Rotation:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), np.clip(a.dot(b), -1, 1)
    if s < 1e-9:
        if c > 0:
            return Rotation.identity()
        perp = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        return Rotation.from_rotvec(perp / np.linalg.norm(perp) * np.pi)
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c))


def load_bvh(path: str, kinematics, betas=None, up_axis: str = "y") -> Motion:
    """Read a BVH file (any storage URL) as a SMPL Motion at the file's frame rate, with
    the feet put on the floor."""
    raw = storage.read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MotionFileError(f"BVH file '{path}' is not text") from None
    bvh = parse_bvh(text, path)
    betas = np.zeros(kinematics.num_betas, np.float32) if betas is None else np.asarray(betas, np.float32)
    poses, trans = retarget(bvh, kinematics, betas, up_axis)
    trans = place_on_ground(poses, trans, betas, kinematics, per_frame=False)
    fps = round(1.0 / bvh.frame_time, 3)
    return Motion(poses, trans, betas, fps, {"source": path, "format": "bvh"})


def write_bvh(motion: Motion, kinematics, rest_rotations: dict[str, Rotation] | None = None, units: float = 100.0) -> str:
    """Motion -> BVH text on SMPL's skeleton with standard names, ZXY channels.

    `rest_rotations` bends the file's rest pose (global rotation per joint's outgoing
    bones, e.g. arms down), with the motion unchanged; `units` per metre (100: cm)."""
    rest = kinematics.rest_joints(torch.as_tensor(motion.betas, dtype=torch.float32)).numpy().astype(float)
    q = [rest_rotations.get(n, Rotation.identity()) if rest_rotations else Rotation.identity() for n in JOINT_NAMES]
    T = len(motion)
    local = motion.poses.reshape(T, NUM_JOINTS, 3)
    glob: list[Rotation] = []
    for j in range(NUM_JOINTS):
        r = Rotation.from_rotvec(local[:, j])
        glob.append(r if j == 0 else glob[PARENTS[j]] * r)
    bvh_glob = [glob[j] * q[j].inv() for j in range(NUM_JOINTS)]
    bvh_local = [bvh_glob[0]] + [bvh_glob[PARENTS[j]].inv() * bvh_glob[j] for j in range(1, NUM_JOINTS)]

    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        p = PARENTS[j]
        offset = (rest[j] if p < 0 else q[p].apply(rest[j] - rest[p])) * units
        lines.append(f"{pad}{'ROOT' if p < 0 else 'JOINT'} {WRITE_NAMES[JOINT_NAMES[j]]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        chans = "6 Xposition Yposition Zposition" if p < 0 else "3"
        lines.append(f"{pad}  CHANNELS {chans} Zrotation Xrotation Yrotation")
        kids = children(j)
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 {0.05 * units:.6f} 0", pad + "  }"])
        lines.append(pad + "}")

    emit(0, 0)
    order = []

    def walk(j):
        order.append(j)
        for c in children(j):
            walk(c)

    walk(0)
    root_pos = (motion.trans + rest[0]) * units
    cols = [root_pos] + [bvh_local[j].as_euler("ZXY", degrees=True) for j in order]
    values = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    return "\n".join(lines) + "\n"
