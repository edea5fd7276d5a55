"""Long videos, window by window: where the windows start, and how their motions join.

Windows of T frames overlap by `overlap` frames. Each window's motion is decoded where the
motion so far stands at the window's first frame (its root position and heading, the side
information the motion tokenizer takes), so the root never jumps at a seam; across the
overlap the two estimates are cross-faded (root linearly, joint rotations by normalised
quaternion interpolation), so the pose does not jump either.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def window_starts(frames: int, window: int, overlap: int) -> list[int]:
    """Starts of windows of `window` frames covering `frames` frames (the last one flush
    with the end); a video shorter than one window gets one window (padded by the caller)."""
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, {window}), got {overlap}")
    if frames <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    return starts


def cross_fade(poses: np.ndarray, trans: np.ndarray, new_poses: np.ndarray, new_trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blend two estimates of the same frames, (n, 72) and (n, 3) each, from all-old at the
    first frame to all-new after the last."""
    n = len(poses)
    w = (np.arange(n) + 1.0) / (n + 1)
    q_old = Rotation.from_rotvec(poses.reshape(-1, 3)).as_quat().reshape(n, -1, 4)
    q_new = Rotation.from_rotvec(new_poses.reshape(-1, 3)).as_quat().reshape(n, -1, 4)
    q_new *= np.sign((q_old * q_new).sum(-1, keepdims=True) + 1e-12)  # the same hemisphere: the short way round
    q = (1 - w)[:, None, None] * q_old + w[:, None, None] * q_new
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    blended = Rotation.from_quat(q.reshape(-1, 4)).as_rotvec().reshape(n, -1).astype(np.float32)
    return blended, ((1 - w)[:, None] * trans + w[:, None] * new_trans).astype(np.float32)
