"""The motion frame for learning: a fit moved from the camera's frame to a gravity-aligned one.

The fit lives in the camera's frame (OpenCV: x right, y down, z forward), where "up" is
wherever the camera happened to point. Everything that learns from motion (the features,
the tokenizer, corpora) assumes a world with y up along gravity, metres, the ground at
y = 0. The frame used here is the gravity-view frame of GVHMR:

    y   up, against gravity
    z   the camera's viewing direction projected on the ground (at the window's first frame)
    x   y cross z (to the camera's left)

and the soles' lowest point over the window at y = 0, the first frame's root above x = z = 0.
Its heading comes from the camera, so no world yaw is invented for real video.

Where gravity comes from (`gravity_source` in the shards):
- "labels": a rendered corpus clip's label camera (R per frame, t): exact, moving cameras
  included;
- "estimated": real video, no camera. The camera is taken as still and unrolled (the
  image's x axis horizontal), so only its pitch is unknown, and the pitch is read off the
  fitted body: its mean up direction over the window (see `estimate_up`). Measured on 40
  rendered procedural clips, from their fits: 3.6 degrees mean error (median 2.5, 90th
  percentile 8.5), against 8.5 for assuming a level camera (benchmarks/bench_gravity.py).
  A body lying down, or a camera that rolls or tilts during the window, breaks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unimo.pipelines.motion import place_on_ground, rigidly_moved
from unimo.platform.smpl_skeleton import JOINT

LABELS, ESTIMATED = "labels", "estimated"
_CAMERA_UP = np.array([0.0, -1.0, 0.0])  # image up, in the camera's frame (y points down)


@dataclass
class WorldMotion:
    poses: np.ndarray  # (T, 72) in the gravity-view frame
    trans: np.ndarray  # (T, 3)
    world_from_camera: np.ndarray  # (T, 3, 4): x_world = M[:, :3] @ x_cam + M[:, 3]
    source: str  # LABELS or ESTIMATED


def view_frame(up: np.ndarray) -> np.ndarray:
    """World-from-camera rotation (3, 3) of the gravity-view frame, given gravity's up (3,)
    in the camera's frame."""
    y = np.asarray(up, np.float64) / np.linalg.norm(up)
    z = np.array([0.0, 0.0, 1.0]) - y[2] * y  # the viewing direction, on the ground
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z])


def from_label_camera(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """World-from-camera (T, 3, 4) from a corpus label's world-to-camera R (T, 3, 3), t (T, 3):
    the label's world (y up) turned about y so that the first frame's camera looks along +z."""
    R, t = np.asarray(R, np.float64), np.asarray(t, np.float64)
    rot = view_frame(R[0][:, 1]) @ R[0] @ R.transpose(0, 2, 1)  # x_label_world = R^T (x_cam - t)
    return np.concatenate([rot, -np.einsum("tij,tj->ti", rot, t)[..., None]], -1)


def estimate_up(poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, kinematics) -> np.ndarray:
    """Gravity's up (3,) in the camera's frame from a camera-frame fit, for a still camera
    without roll: the mean over the window of two body directions, pelvis to neck (the
    torso: leans forward in a run) and ankles to neck (the whole body: tilts with a kick or
    a stride), kept to the camera's y-z plane (a sideways part would be roll, taken as
    zero). Each leans either way over a clip and they lean differently, so their mean is
    nearer vertical than either (the truth's own bias on rendered clips: about 2 degrees)."""
    with torch.no_grad():
        joints = kinematics(torch.as_tensor(poses, dtype=torch.float32), torch.as_tensor(betas, dtype=torch.float32),
                            torch.as_tensor(trans, dtype=torch.float32)).double().numpy()
    neck = joints[:, JOINT["neck"]]
    up = sum(_unit(neck - below).mean(0) for below in (joints[:, JOINT["pelvis"]],
                                                        joints[:, [JOINT["left_ankle"], JOINT["right_ankle"]]].mean(1)))
    up[0] = 0.0
    if up @ _CAMERA_UP <= 0 or not np.isfinite(up).all():  # a body upside down in the image: no cue
        return _CAMERA_UP.copy()
    return up / np.linalg.norm(up)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def to_world(poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, kinematics, camera: tuple | None = None) -> WorldMotion:
    """A camera-frame fit in the gravity-view frame. `camera`: the label's (R, t) per frame,
    for exact gravity; None estimates it (real video)."""
    if camera is not None:
        transform, source = from_label_camera(*camera), LABELS
    else:
        rot = view_frame(estimate_up(poses, trans, betas, kinematics))
        transform, source = np.concatenate([np.broadcast_to(rot, (len(poses), 3, 3)), np.zeros((len(poses), 3, 1))], -1), ESTIMATED
    world_poses, world_trans = rigidly_moved(poses, trans, betas, transform[:, :, :3], transform[:, :, 3], kinematics)
    grounded = place_on_ground(world_poses, world_trans, betas, kinematics, per_frame=False)
    with torch.no_grad():
        root = kinematics(torch.as_tensor(world_poses[:1]), torch.as_tensor(betas, dtype=torch.float32),
                          torch.as_tensor(grounded[:1]))[0, 0].numpy()
    shift = grounded - world_trans
    shift[:, [0, 2]] -= root[[0, 2]]
    transform = transform.copy()
    transform[:, :, 3] += shift
    return WorldMotion(world_poses, (world_trans + shift).astype(np.float32), transform.astype(np.float32), source)
