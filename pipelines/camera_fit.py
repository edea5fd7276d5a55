"""A camera for a motion that has none: register a gravity-aligned motion to the person in a
video through their 2D keypoints, so the recovered body can be drawn over them.

Motion capture returns motion in its own world (y up, starting at the origin, facing +z):
one view fixes neither where the camera stands nor where the person is. This finds a still
camera (one rotation for the clip: the same assumption as the gravity estimate of real
video) and, for each frame, where the body stands in front of it (a translation), that best
project the motion's joints onto the detected keypoints. The pose and the body's heading
stay the motion's own: where they are wrong, the overlay shows it.

Several headings are tried from scratch (a person seen from the front and from behind
project alike), then refined together with pitch, roll and the per-frame translations by
Adam on a confidence-weighted robust reprojection error, with a small penalty on the
translations' acceleration. The best start wins.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from unimo.platform.rotations import axis_angle_to_matrix

VISIBLE = 0.3  # keypoints with less confidence are left out
HEADINGS = 8


def world_to_camera(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(...) angles -> (..., 3, 3): world (y up) to camera (OpenCV: y down, looking along +z)."""
    zero = torch.zeros_like(yaw)
    flip = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
    return (axis_angle_to_matrix(torch.stack([zero, zero, roll], -1)) @ axis_angle_to_matrix(torch.stack([pitch, zero, zero], -1))
            @ flip @ axis_angle_to_matrix(torch.stack([zero, yaw, zero], -1)))


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (..., 3) -> pixels (..., 2)."""
    z = points[..., 2:].clamp(min=1e-3)
    return points[..., :2] / z * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]


def fit_camera(joints: np.ndarray, keypoints: np.ndarray, conf: np.ndarray, K: np.ndarray, iterations: int = 600,
               smooth: float = 10.0) -> tuple[np.ndarray, np.ndarray, float]:
    """World joints (T, J, 3), keypoints (T, J, 2) px, confidences (T, J), intrinsics (3, 3) ->
    (rotation world -> camera (3, 3), per-frame shift (T, 3), reprojection error in px (the
    confidence-weighted mean over seen keypoints)), so that camera = rotation @ world + shift.
    Frames where no keypoint is seen follow their neighbours."""
    X = torch.as_tensor(joints, dtype=torch.float32)
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    w = torch.as_tensor(conf, dtype=torch.float32) * (torch.as_tensor(conf) > VISIBLE)
    if not (w > 0).any():
        raise ValueError("no keypoint was seen in any frame: the motion cannot be registered to the video")
    Kt = torch.as_tensor(K, dtype=torch.float32)
    T = len(X)
    # the scale of the person in pixels against in metres gives the depth; the seen keypoints' mean gives the place
    seen = w > 0
    spread_px = torch.stack([(kp[t][seen[t]] - kp[t][seen[t]].mean(0)).norm(dim=-1).mean() if seen[t].sum() > 1 else torch.tensor(float("nan"))
                             for t in range(T)])
    spread_m = torch.stack([(X[t][seen[t]] - X[t][seen[t]].mean(0)).norm(dim=-1).mean() if seen[t].sum() > 1 else torch.tensor(float("nan"))
                            for t in range(T)])
    depth = float(np.nanmedian((Kt[0, 0] * spread_m / spread_px).numpy())) if torch.isfinite(spread_px).any() else 3.0
    centre = torch.where(seen.any(-1, keepdim=True), (kp * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1e-6), Kt[:2, 2])
    ray = torch.cat([(centre - Kt[:2, 2]) / torch.stack([Kt[0, 0], Kt[1, 1]]), torch.ones(T, 1)], -1) * depth  # (T, 3)

    yaw = torch.arange(HEADINGS, dtype=torch.float32) * (2 * math.pi / HEADINGS)
    pitch, roll = torch.zeros(HEADINGS), torch.zeros(HEADINGS)
    mean_joint = (X * seen[..., None]).sum(1) / seen.sum(1, keepdim=True).clamp(min=1)
    with torch.no_grad():
        shift = ray - torch.einsum("kij,tj->kti", world_to_camera(yaw, pitch, roll), mean_joint)  # seen joints' mean on the ray
    params = [p.clone().requires_grad_(True) for p in (yaw, pitch, roll, shift)]
    opt = torch.optim.Adam([{"params": params[:3], "lr": 0.05}, {"params": params[3:], "lr": 0.02}])
    scale = float(spread_px[torch.isfinite(spread_px)].mean()) if torch.isfinite(spread_px).any() else 100.0

    def losses():
        R = world_to_camera(*params[:3])  # (k, 3, 3)
        cam = torch.einsum("kij,tnj->ktni", R, X) + params[3][:, :, None]
        err = (project(cam, Kt) - kp).norm(dim=-1)  # (k, T, J)
        robust = torch.nn.functional.huber_loss(err / scale, torch.zeros_like(err), delta=0.1, reduction="none")
        data = (robust * w).sum((-1, -2)) / w.sum()
        accel = (params[3][:, 2:] - 2 * params[3][:, 1:-1] + params[3][:, :-2]).pow(2).sum(-1).mean(-1) if T > 2 else torch.zeros(len(R))
        return data + smooth * accel / depth**2, err

    for _ in range(iterations):
        loss, _ = losses()
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        loss, err = losses()
        best = int(loss.argmin())
        R = world_to_camera(*(p[best] for p in params[:3]))
        residual = float((err[best] * w).sum() / w.sum())
    return R.numpy(), params[3][best].detach().numpy(), residual
