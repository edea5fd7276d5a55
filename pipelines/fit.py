"""SMPL pseudo-labels from 2D keypoints: batched optimisation over whole clip windows.

For B windows of T frames at once, in the camera's frame (x right, y down, z forward), it
fits per-frame pose and translation and one shape per window, minimising

    robust 2D reprojection (Geman-McClure, weighted by visibility or confidence)
  + pose priors (small rotations; no knees or elbows bent backwards; optionally a Gaussian
    mixture over body poses, as in SMPLify: pose_prior.py)
  + shape prior (betas near the mean)
  + temporal smoothness (joint accelerations and pose velocities)

on the joints-only kinematics (no mesh: this is what makes it fast), with Adam on 6D
rotations. Monocular 2D is ambiguous (each limb has a depth reading either way) and
gradient descent keeps the reading it starts in, so the start decides. Two starts:

- `init=learned` (default): a network lifts each frame's keypoints to rotations
  (fit_init.py, trained on real and procedural motion); that one hypothesis a window is
  refined, root and translation first. Measured on held-out real mocap it is both better
  and over 10x cheaper than the search (docs/evaluation.md, docs/benchmarks.md).
- `init=search`: a batch of hypotheses a window: several headings (root-only warm-up),
  then each kept heading restarted from every mode of the GMM pose prior, the best few
  refined. This was the fit before the lifter; it was tuned with gmm_prior=0.1 and
  smooth_joints=2000, and its prior chose procedural-looking poses on real people.

The camera translation starts from the 2D scale of the torso.

On a GPU (`device`, 'auto' by default: a GPU when the process has one) the same code runs
with every tensor on it; the walk down the kinematic tree is a few hundred small kernels an
iteration, so a GPU pays only with many windows a call (`preprocess.gpu_fit_batch`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from unimo.platform.config import option
from unimo.platform.errors import UnimoError
from unimo.platform.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)
from unimo.platform.smpl_skeleton import JOINT, NUM_JOINTS

# windows a fit call: the optimiser's per-step overhead is shared by the windows of a call,
# so on one CPU thread 64 a call fit 2.4-3.9x the frames/s of 4, and a GPU wants hundreds
# (docs/benchmarks.md); a small run takes fewer a call, but not under the minimum
CPU_WINDOWS_A_CALL = 32
MIN_CPU_WINDOWS_A_CALL = 4
GPU_WINDOWS_A_CALL = 256

_TORSO = (JOINT["pelvis"], JOINT["neck"])
# Joints placed by the root alone, whatever the limbs do: the warm-up fits only these.
_TORSO_JOINTS = [JOINT[n] for n in ("pelvis", "left_hip", "right_hip", "spine1", "spine2", "spine3", "neck",
                                    "left_collar", "right_collar", "left_shoulder", "right_shoulder")]
_BENDS_FORWARD_ONLY = {  # joint: (axis, sign of allowed bend)
    JOINT["left_knee"]: (0, 1.0), JOINT["right_knee"]: (0, 1.0),
    JOINT["left_elbow"]: (1, -1.0), JOINT["right_elbow"]: (1, 1.0),
}


@dataclass
class FitConfig:
    iterations: int = option(300, help="Adam steps (learned init: an eighth root-only, the rest everything; search: a quarter "
                                       "root-only, a quarter exploring poses, the rest refining)")
    lr: float = option(0.05, help="Adam learning rate")
    robust_sigma_px: float = option(40.0, help="Geman-McClure scale of the 2D residual, pixels")
    pose_prior: float = option(1.0, help="weight of the simple pose prior (small angles, no backward knees)")
    shape_prior: float = option(0.5, help="weight of the shape prior (too strong, and proportions and depths go wrong)")
    smooth_joints: float = option(300.0, help="weight of joint acceleration (m/frame^2)^2 (more holds real motion back)")
    smooth_pose: float = option(1.0, help="weight of pose velocity")
    converged_px: float = option(6.0, help="a window converged when its mean residual is below this")
    gmm_prior: float = option(0.0, help="weight of the GMM pose prior (pose_prior.py); 0 disables it")
    noise_ref_px: float = option(1.0, help="the 2D term weighs ref^2 / (sigma^2 + floor^2) for keypoints with noise sigma "
                                           "(estimated per window): the priors' weights hold at sigma = ref; 0: fixed weights")
    noise_floor_px: float = option(0.5, help="the least keypoint noise assumed (pixel rounding, a body unlike the model's)")
    init: Literal["learned", "search"] = option("learned", help="'learned': start from the pose lifter (fit_init.py) and refine; 'search': headings x prior modes")
    headings: int = option(4, help="search: initial facing directions tried per window (root-only warm-up)")
    keep_headings: int = option(2, help="search: headings kept after the root-only warm-up")
    pose_inits: bool = option(True, help="search: start every kept heading from each mode of the GMM pose prior")
    keep_hypotheses: int = option(3, help="search: hypotheses per window kept after the pose-mode exploration and refined")
    device: str = option("auto", help="'auto' (a GPU when this process has one, else the CPU), 'cpu', 'cuda' or 'cuda:N'")


@dataclass
class FitResult:
    poses: np.ndarray  # (B, T, 72) axis-angle in the camera frame
    trans: np.ndarray  # (B, T, 3) SMPL translation in the camera frame, metres
    betas: np.ndarray  # (B, 10)
    residual_px: np.ndarray  # (B, T) mean reprojection error of visible joints, pixels
    converged: np.ndarray  # (B,) bool


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (..., N, 3) with per-window K (B, 3, 3) broadcast over frames."""
    z = points[..., 2:3].clamp(min=0.1)
    xy = points[..., :2] / z
    fx, fy = K[:, 0, 0, None, None, None], K[:, 1, 1, None, None, None]
    cx, cy = K[:, 0, 2, None, None, None], K[:, 1, 2, None, None, None]
    return torch.cat([xy[..., :1] * fx + cx, xy[..., 1:] * fy + cy], dim=-1)


def keypoint_noise_px(kp: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """(B,) the keypoints' noise, pixels, per window: from their third differences in time,
    where motion leaves almost nothing at video rates (exact keypoints of real mocap give
    0.05 px) and independent noise of std s leaves std s * sqrt(20); the median makes it robust.
    Noisier keypoints say less, so the fit leans more on its priors (a Gaussian likelihood
    with that std, in effect)."""
    if kp.shape[1] < 4:
        return torch.zeros(kp.shape[0])
    seen = (vis[:, 3:] > 0) & (vis[:, 2:-1] > 0) & (vis[:, 1:-2] > 0) & (vis[:, :-3] > 0)
    d3 = (kp[:, 3:] - 3 * kp[:, 2:-1] + 3 * kp[:, 1:-2] - kp[:, :-3]).abs()
    return torch.stack([d3[b][seen[b]].median() if seen[b].any() else torch.tensor(0.0) for b in range(len(kp))]) / (0.6745 * 20**0.5)


def _gmof(residual_sq: torch.Tensor, sigma: float) -> torch.Tensor:
    return sigma**2 * residual_sq / (sigma**2 + residual_sq)


def initial_translation(kp: torch.Tensor, vis: torch.Tensor, K: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """(B, T, 3) root positions from the 2D torso length: depth = f * torso_3d / torso_2d."""
    a, b = _TORSO
    torso_2d = (kp[..., a, :] - kp[..., b, :]).norm(dim=-1)  # (B, T)
    seen = (vis[..., a] > 0) & (vis[..., b] > 0)
    # windows with no visible torso fall back to the median over the window
    median = torch.stack([t[s].median() if s.any() else torch.tensor(100.0) for t, s in zip(torso_2d, seen)])
    torso_2d = torch.where(seen, torso_2d, median[:, None]).clamp(min=4.0)
    torso_3d = (rest[:, a] - rest[:, b]).norm(dim=-1)  # (B,)
    f = K[:, 0, 0, None]
    z = f * torso_3d[:, None] / torso_2d
    root_2d = kp[..., a, :]
    x = (root_2d[..., 0] - K[:, 0, 2, None]) * z / f
    y = (root_2d[..., 1] - K[:, 1, 2, None]) * z / K[:, 1, 1, None]
    return torch.stack([x, y, z], dim=-1)


class _Objective:
    """The loss of N hypotheses, one value each; hypothesis n fits window `win[n]`."""

    def __init__(self, kp, vis, K, kinematics, cfg: FitConfig, gmm):
        self.kp, self.vis, self.K, self.kin, self.cfg, self.gmm = kp, vis, K, kinematics, cfg, gmm
        self.torso = torch.zeros(NUM_JOINTS)
        self.torso[_TORSO_JOINTS] = 1.0
        self.data_weight = torch.ones(len(kp))  # per window: how much its keypoints say (their noise)

    def __call__(self, win, params, full: bool = True):
        root6d, body6d, trans, betas = params
        cfg = self.cfg
        N, T = root6d.shape[:2]
        mats = torch.cat([rotation_6d_to_matrix(root6d)[:, :, None], rotation_6d_to_matrix(body6d)], dim=2)
        joints = self.kin.forward_matrices(mats.reshape(N * T, NUM_JOINTS, 3, 3), betas.repeat_interleave(T, 0), trans.reshape(-1, 3))[0]
        joints = joints.reshape(N, T, NUM_JOINTS, 3)
        uv = _project(joints, self.K[win])
        res_sq = ((uv - self.kp[win]) ** 2).sum(-1)
        vis = self.vis[win] if full else self.vis[win] * self.torso
        loss = (_gmof(res_sq, cfg.robust_sigma_px) * vis).sum((1, 2)) / vis.sum((1, 2)).clamp(min=1) * self.data_weight[win]
        if full:
            # small rotations and hinges bent one way, on the matrices: 3 - trace = 2 (1 - cos angle)
            # ~ angle^2, and the skew part's axis components have the axis-angle's signs
            body = mats[:, :, 1:]
            skew = torch.stack([body[..., 2, 1] - body[..., 1, 2], body[..., 0, 2] - body[..., 2, 0], body[..., 1, 0] - body[..., 0, 1]], -1) / 2
            bend = sum(torch.relu(-sign * skew[:, :, j - 1, axis]) ** 2 for j, (axis, sign) in _BENDS_FORWARD_ONLY.items())
            angle_sq = 3 - body.diagonal(dim1=-2, dim2=-1).sum(-1)
            loss = loss + cfg.pose_prior * (angle_sq.sum(-1).mean(1) * 0.01 + bend.mean(1))
            if self.gmm is not None:
                loss = loss + cfg.gmm_prior * self.gmm(matrix_to_axis_angle(body).reshape(N, T, -1)).mean(1)
            loss = loss + cfg.shape_prior * (betas**2).mean(-1)
            if T > 2:
                acc = joints[:, 2:] - 2 * joints[:, 1:-1] + joints[:, :-2]
                loss = loss + cfg.smooth_joints * (acc**2).sum(-1).mean((1, 2))
                loss = loss + cfg.smooth_pose * ((mats[:, 1:] - mats[:, :-1]) ** 2).sum((-1, -2)).mean((1, 2))
        return loss, joints, uv, mats


def _adam(objective, win, params, train, steps: int, lr: float, full: bool = True) -> None:
    opt = torch.optim.Adam(train, lr=lr)
    for _ in range(steps):
        loss, *_ = objective(win, params, full)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()


def _keep_best(loss: torch.Tensor, windows: int, k: int) -> torch.Tensor:
    """Indices of the k lowest-loss hypotheses of every window (each has the same number, contiguous)."""
    per = loss.reshape(windows, -1)
    k = min(k, per.shape[1])
    return (per.topk(k, dim=1, largest=False).indices + torch.arange(windows)[:, None] * per.shape[1]).reshape(-1)


def _select(params, idx):
    return tuple(p.detach()[idx].clone().requires_grad_(True) for p in params)


def fit_device(name: str) -> torch.device:
    """The device `FitConfig.device` names, checked: a one-line error where it is missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UnimoError(f"fit.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got '{name}'")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnimoError(f"fit.device={name}, but torch sees no CUDA device here (fit.device=auto or cpu fits on the CPU)")
    return device


_ON_DEVICE: dict = {}


def on_device(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A module's copy on `device`, made once (the cached CPU original stays where it is)."""
    if device.type == "cpu" or module is None:
        return module
    key = (id(module), str(device))
    if key not in _ON_DEVICE:
        _ON_DEVICE[key] = (module, copy.deepcopy(module).to(device))  # the original kept alive: its id stays unique
    return _ON_DEVICE[key][1]


def fit_windows(
    keypoints2d: np.ndarray,
    visibility: np.ndarray,
    K: np.ndarray,
    kinematics,
    cfg: FitConfig = FitConfig(),
) -> FitResult:
    """keypoints2d (B, T, 24, 2) px, visibility (B, T, 24) in [0, 1], K (B, 3, 3)."""
    if cfg.init not in ("learned", "search"):
        raise ValueError(f"fit.init must be 'learned' or 'search', got '{cfg.init}'")
    device = fit_device(cfg.device)
    # what the fit learned before (trained on the CPU on first use), copied to the device once
    lifter = gmm = None
    if cfg.init == "learned":
        from unimo.pipelines.fit_init import load_lifter

        lifter = on_device(load_lifter(kinematics), device)
    if cfg.gmm_prior > 0 or cfg.init == "search":
        from unimo.pipelines.pose_prior import load_gmm_prior

        gmm = on_device(load_gmm_prior(), device)
    kin = on_device(kinematics, device)
    kp = torch.as_tensor(keypoints2d, dtype=torch.float32, device=device)
    vis = torch.as_tensor(visibility, dtype=torch.float32, device=device)
    Kt = torch.as_tensor(K, dtype=torch.float32, device=device)
    # every tensor the fit makes lands on the device too (a no-op context on the CPU)
    with torch.device(device) if device.type != "cpu" else contextlib.nullcontext():
        objective = _Objective(kp, vis, Kt, kin, cfg, gmm if cfg.gmm_prior > 0 else None)
        if cfg.noise_ref_px > 0:
            objective.data_weight = cfg.noise_ref_px**2 / (keypoint_noise_px(kp, vis) ** 2 + cfg.noise_floor_px**2)
        if cfg.init == "search":
            win, params = _search(objective, kp, vis, Kt, kin, cfg, gmm)
        else:
            win, params = _from_lifter(objective, kp, vis, Kt, kin, cfg, lifter)
        B, T = kp.shape[:2]
        with torch.no_grad():
            loss, joints, uv, mats = objective(win, params)
            best = _keep_best(loss, B, 1)
            aa = matrix_to_axis_angle(mats)
            err = (uv - kp[win]).norm(dim=-1)
            seen = vis[win] > 0
            residual = ((err * seen).sum(-1) / seen.sum(-1).clamp(min=1))[best]
            return FitResult(
                poses=aa[best].reshape(B, T, -1).cpu().numpy(),
                trans=params[2][best].detach().cpu().numpy(),
                betas=params[3][best].detach().cpu().numpy(),
                residual_px=residual.cpu().numpy(),
                converged=(residual.mean(1) < cfg.converged_px).cpu().numpy(),
            )


def _from_lifter(objective, kp, vis, K, kinematics, cfg: FitConfig, lifter):
    """One hypothesis a window, the lifter's, refined: root and translation on the torso
    first, then everything."""
    from unimo.pipelines.fit_init import keypoint_features

    B = kp.shape[0]
    with torch.no_grad():
        pred = lifter(keypoint_features(kp, K[:, None], vis))  # (B, T, 24, 6)
        betas = torch.zeros(B, kinematics.num_betas)
        rest = kinematics.rest_joints(betas)
        trans = initial_translation(kp, vis, K, rest) - rest[:, None, 0]
    params = _select((pred[:, :, 0], pred[:, :, 1:], trans, betas), slice(None))
    win = torch.arange(B)
    warmup = max(cfg.iterations // 8, 1)
    _adam(objective, win, params, [params[0], params[2]], warmup, cfg.lr, full=False)
    _adam(objective, win, params, list(params), max(cfg.iterations - warmup, 1), cfg.lr)
    return win, params


def _search(objective, kp, vis, Kt, kinematics, cfg: FitConfig, gmm):
    """Many hypotheses a window: headings, then the pose prior's modes; the best few refined."""
    B, T = kp.shape[:2]
    nb = kinematics.num_betas
    J = NUM_JOINTS - 1

    # 1. Headings: each window repeated H times, upright in the camera frame (SMPL's y up ->
    # image up, facing the camera), then turned; only root and translation fit the torso.
    H = cfg.headings
    win = torch.arange(B).repeat_interleave(H)
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
    yaw = torch.arange(H, dtype=torch.float32).repeat(B) * (2 * math.pi / H)
    turn = axis_angle_to_matrix(torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], -1))
    root6d = matrix_to_rotation_6d(upright @ turn)[:, None].expand(B * H, T, 6)
    mean_pose = gmm.means.mean(0).reshape(J, 3) if gmm is not None else torch.zeros(J, 3)
    body6d = matrix_to_rotation_6d(axis_angle_to_matrix(mean_pose)).expand(B * H, T, J, 6)
    betas = torch.zeros(B * H, nb)
    with torch.no_grad():
        rest = kinematics.rest_joints(betas)
        trans = initial_translation(kp[win], vis[win], Kt[win], rest) - rest[:, None, 0]
    params = _select((root6d, body6d, trans, betas), slice(None))
    warmup = max(cfg.iterations // 4, 1)
    _adam(objective, win, params, [params[0], params[2]], warmup, cfg.lr, full=False)
    with torch.no_grad():
        keep = _keep_best(objective(win, params, full=False)[0], B, cfg.keep_headings)
    params, win = _select(params, keep), win[keep]

    # 2. Body poses: the limbs' depth is ambiguous in 2D and gradient descent rarely crosses
    # from one reading to the other, so every kept heading starts from each mode of the pose
    # prior; after a short fit only the best few go on.
    explore = max(cfg.iterations // 4, 1) if cfg.pose_inits else 0
    if explore:
        C = gmm.means.shape[0]
        modes = matrix_to_rotation_6d(axis_angle_to_matrix(gmm.means.reshape(C, J, 3)))
        root6d, body6d, trans, betas = (p.detach().repeat_interleave(C, 0) for p in params)
        body6d = modes.repeat(len(win), 1, 1)[:, None].expand(-1, T, J, 6)
        params, win = _select((root6d, body6d, trans, betas), slice(None)), win.repeat_interleave(C)
        _adam(objective, win, params, list(params), explore, cfg.lr)
        with torch.no_grad():
            keep = _keep_best(objective(win, params)[0], B, cfg.keep_hypotheses)
        params, win = _select(params, keep), win[keep]

    # 3. Refine the survivors and keep each window's best.
    _adam(objective, win, params, list(params), max(cfg.iterations - warmup - explore, 1), cfg.lr)
    return win, params
