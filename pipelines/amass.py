"""AMASS importer: SMPL-H (or SMPL-X / SMPL) `.npz` files to SMPL motion.

AMASS stores `poses` (T, 156) for SMPL-H: 22 body joints then 30 hand joints. SMPL's first
22 joints are the same; SMPL's two hand joints (22, 23) have no SMPL-H counterpart and are
left at rest. AMASS worlds are z-up; unimo's is y-up, so the root rotation and translation
are turned by -90 degrees about x, around the origin of the world.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from unimo.pipelines.motion import Motion, MotionFileError
from unimo.platform import storage

_BODY_VALUES = 22 * 3  # joints shared by SMPL, SMPL-H and SMPL-X
_Z_UP_TO_Y_UP = Rotation.from_rotvec([-np.pi / 2, 0, 0])


def load_amass(path: str, kinematics, up_axis: str = "z", num_betas: int = 10) -> Motion:
    """Read one AMASS `.npz` (any storage URL) as a y-up SMPL Motion."""
    try:
        with np.load(io.BytesIO(storage.read_bytes(path)), allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise MotionFileError(f"AMASS file '{path}' is not a readable npz ({type(e).__name__}: {e})") from None
    missing = [k for k in ("poses", "trans") if k not in fields]
    fps_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in fields), None)
    if missing or fps_key is None:
        missing += [] if fps_key else ["mocap_framerate"]
        raise MotionFileError(f"AMASS file '{path}' lacks {', '.join(missing)}")
    poses = fields["poses"]
    if poses.ndim != 2 or poses.shape[1] < _BODY_VALUES or poses.shape[1] % 3:
        raise MotionFileError(f"AMASS file '{path}': poses has shape {poses.shape}, expected (T, 156) for SMPL-H")
    trans = fields["trans"]
    if trans.shape != (len(poses), 3):
        raise MotionFileError(f"AMASS file '{path}': trans has shape {trans.shape}, expected ({len(poses)}, 3)")
    if len(poses) == 0:
        raise MotionFileError(f"AMASS file '{path}' has no frames")
    betas = np.zeros(num_betas, np.float32)
    if "betas" in fields:
        b = np.asarray(fields["betas"]).reshape(-1)[:num_betas]
        betas[: len(b)] = b

    smpl_poses = np.zeros((len(poses), 72), np.float32)
    smpl_poses[:, :_BODY_VALUES] = poses[:, :_BODY_VALUES]
    trans = trans.astype(np.float32)
    if up_axis == "z":
        smpl_poses[:, :3], trans = rotate_world(smpl_poses[:, :3], trans, betas, kinematics, _Z_UP_TO_Y_UP)
    elif up_axis != "y":
        raise ValueError(f"up_axis must be 'y' or 'z', got '{up_axis}'")
    gender = str(fields["gender"]) if "gender" in fields else "neutral"
    return Motion(smpl_poses, trans, betas, float(fields[fps_key]), {"source": path, "format": "amass", "gender": gender})


def rotate_world(root_orient: np.ndarray, trans: np.ndarray, betas: np.ndarray, kinematics, rot: Rotation):
    """Turn a motion's world by `rot` about the origin. SMPL rotates the body about its
    root joint J0(betas), not the origin, so the translation needs J0 to follow."""
    j0 = kinematics.rest_joints(torch.as_tensor(betas, dtype=torch.float32))[0].numpy()
    new_root = (rot * Rotation.from_rotvec(root_orient)).as_rotvec()
    new_trans = rot.apply(trans + j0) - j0
    return new_root.astype(np.float32), new_trans.astype(np.float32)


def save_amass(path: str, motion: Motion, kinematics, gender: str = "neutral") -> None:
    """Write a y-up SMPL Motion as an AMASS-style `.npz` (z-up; `poses` (T, 72), `trans`,
    `betas`, `mocap_framerate`, `gender`), which `load_amass` reads back."""
    root, trans = rotate_world(motion.poses[:, :3], motion.trans, motion.betas, kinematics, _Z_UP_TO_Y_UP.inv())
    poses = motion.poses.copy()
    poses[:, :3] = root
    buffer = io.BytesIO()
    np.savez(buffer, poses=poses.astype(np.float32), trans=trans.astype(np.float32), betas=motion.betas.astype(np.float32),
             mocap_framerate=np.float64(motion.fps), gender=np.str_(gender))
    storage.write_bytes(path, buffer.getvalue())
