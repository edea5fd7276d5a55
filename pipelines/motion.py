"""A motion clip in SMPL parameters: the form every motion source produces.

World frame: y up, metres, ground at y = 0. `trans` is SMPL's translation: the root joint
sits at `J_pelvis(betas) + trans`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

from unimo.platform.errors import UnimoError
from unimo.platform.smpl_skeleton import NUM_JOINTS


class MotionFileError(UnimoError):
    """A motion-capture file that cannot be read: corrupt, truncated, or not the format."""


@dataclass
class Motion:
    poses: np.ndarray  # (T, 72) axis-angle, global orientation first
    trans: np.ndarray  # (T, 3) metres
    betas: np.ndarray  # (10,)
    fps: float
    meta: dict = field(default_factory=dict)  # where it came from: family, file, ...

    def __post_init__(self):
        self.poses = np.asarray(self.poses, dtype=np.float32).reshape(-1, NUM_JOINTS * 3)
        self.trans = np.asarray(self.trans, dtype=np.float32).reshape(-1, 3)
        self.betas = np.asarray(self.betas, dtype=np.float32).reshape(-1)
        if len(self.poses) != len(self.trans):
            raise ValueError(f"poses has {len(self.poses)} frames but trans has {len(self.trans)}")
        if not np.isfinite(self.poses).all() or not np.isfinite(self.trans).all():
            raise ValueError("motion holds NaN or infinite values")

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def window(self, start: int, length: int) -> "Motion":
        return Motion(self.poses[start : start + length], self.trans[start : start + length], self.betas, self.fps, dict(self.meta))

    def resample(self, fps: float) -> "Motion":
        """To another frame rate: slerp for rotations, linear for translation."""
        if abs(fps - self.fps) < 1e-6 or len(self) < 2:
            return Motion(self.poses, self.trans, self.betas, fps, dict(self.meta))
        t_src = np.arange(len(self)) / self.fps
        t_dst = np.arange(0, t_src[-1] + 1e-9, 1 / fps)
        rots = self.poses.reshape(len(self), NUM_JOINTS, 3)
        out = np.empty((len(t_dst), NUM_JOINTS, 3), dtype=np.float32)
        for j in range(NUM_JOINTS):
            out[:, j] = Slerp(t_src, Rotation.from_rotvec(rots[:, j]))(t_dst).as_rotvec()
        trans = np.stack([np.interp(t_dst, t_src, self.trans[:, i]) for i in range(3)], axis=1)
        return Motion(out.reshape(len(t_dst), -1), trans, self.betas, fps, dict(self.meta))


def place_on_ground(poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, kinematics, per_frame: bool) -> np.ndarray:
    """Translation with the soles on the floor (y = 0). `per_frame` sets it for every frame
    (motions that never leave the ground); otherwise one shift for the whole clip keeps
    jumps and falls."""
    with torch.no_grad():
        soles = kinematics.sole_points(
            torch.as_tensor(poses, dtype=torch.float32),
            torch.as_tensor(betas, dtype=torch.float32),
            torch.as_tensor(trans, dtype=torch.float32),
        ).numpy()
    lowest = soles[..., 1].min(axis=1)
    out = np.asarray(trans, dtype=np.float32).copy()
    out[:, 1] -= lowest if per_frame else lowest.min()
    return out


def rigidly_moved(poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, rot: np.ndarray, shift: np.ndarray, kinematics):
    """(poses, trans) of the same motion after x -> rot @ x + shift: every joint moves exactly
    so. `rot` (3, 3) or per frame (T, 3, 3), `shift` (3,) or (T, 3). SMPL turns the body
    about the pelvis joint J0(betas), not the origin (root joint = J0 + trans), so the
    translation becomes rot @ (J0 + trans) - J0 + shift, not rot @ trans + shift."""
    poses = np.asarray(poses, np.float64).reshape(len(trans), -1).copy()
    rot = np.broadcast_to(np.asarray(rot, np.float64), (len(poses), 3, 3))
    with torch.no_grad():
        j0 = kinematics.rest_joints(torch.as_tensor(betas, dtype=torch.float32).reshape(-1))[0].double().numpy()
    poses[:, :3] = Rotation.from_matrix(rot @ Rotation.from_rotvec(poses[:, :3]).as_matrix()).as_rotvec()
    moved = np.einsum("tij,tj->ti", rot, np.asarray(trans, np.float64) + j0) - j0 + shift
    return poses.astype(np.float32), moved.astype(np.float32)
