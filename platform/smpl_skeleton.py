"""The SMPL skeleton: 24 joints, their order and kinematic tree. One definition, shared by
the body model, kinematics, importers, renderer and metrics."""

from __future__ import annotations

import math

JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
]
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
NUM_JOINTS = len(JOINT_NAMES)
NUM_BODY_JOINTS = NUM_JOINTS - 1  # all but the root: the "body pose"
JOINT = {name: i for i, name in enumerate(JOINT_NAMES)}

# Left/right pairs, e.g. for mirroring motion.
MIRROR = [JOINT_NAMES.index(n.replace("left", "@").replace("right", "left").replace("@", "right")) for n in JOINT_NAMES]

# The arms, collars down to hands (for decoder expert groups and arm-mixing augmentation).
ARM_JOINT_NAMES = [n for n in JOINT_NAMES if any(k in n for k in ("collar", "shoulder", "elbow", "wrist", "hand"))]

# Hinge joints and the direction of (parent bone x child bone) when they flex, in SMPL's
# rest frame (+x left, +y up, +z forward): knees bend the shin back, elbows the forearm
# forward. A rigid property of the body, whatever the motion.
FLEXION_NORMAL = {"left_knee": (1.0, 0.0, 0.0), "right_knee": (1.0, 0.0, 0.0),
                  "left_elbow": (0.0, -1.0, 0.0), "right_elbow": (0.0, 1.0, 0.0)}

# Rough anatomical limits (radians) of the axis-angle size of each joint's local rotation:
# procedural motion respects them, and generated motion is scored against them.
JOINT_LIMITS = (math.pi, 2.2, 2.2, 0.8, 2.4, 2.4, 0.6, 0.9, 0.9, 0.6, 0.6, 0.6,
                0.8, 0.5, 0.5, 0.8, 2.6, 2.6, 2.5, 2.5, 1.2, 1.2, 0.5, 0.5)

FEET = [JOINT["left_ankle"], JOINT["right_ankle"], JOINT["left_foot"], JOINT["right_foot"]]


def children(joint: int) -> list[int]:
    return [j for j, p in enumerate(PARENTS) if p == joint]
