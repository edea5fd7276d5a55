"""A learned initialisation for the SMPL fit: 2D keypoints of one frame -> SMPL rotations.

One view leaves every limb's depth ambiguous, and the fit's loss has a local minimum for
each reading: gradient descent keeps the one it starts in. A search over hypotheses from a
pose prior (the fit's other initialisation) finds the minimum the prior likes best, which
on real people was often the wrong one, and it costs most of the fit. This network reads the
depth from how people move instead: it lifts a frame's 2D keypoints to the global
orientation in the camera frame and the 23 body rotations, and the fit refines that one
hypothesis.

It trains once per machine, deterministically, in a few minutes on one core, on the same
motion as the pose prior (`pose_prior.training_poses`: real mocap outside every
evaluation's held-out split, and procedural poses), each frame seen by a random camera
(heading, pitch, distance, focal length, position in the frame), mirrored too. The result
is cached beside the pose prior with the files it learned from.
"""

from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import torch
from torch import nn

from unimo.platform.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rotation_6d, rotation_6d_to_matrix
from unimo.platform.smpl_skeleton import JOINT, MIRROR, NUM_JOINTS

LIFTER_VERSION = 2  # 2: light input noise (1% of the torso), 8,000 steps
LIFTER_SEED = 424_242
VISIBLE = 0.3  # keypoints with less confidence are left out of the lifter's input
STEPS = int(os.environ.get("UNIMO_LIFTER_STEPS", 8000))  # tests train a small one (conftest)
_PELVIS, _NECK = JOINT["pelvis"], JOINT["neck"]


def keypoint_features(kp: torch.Tensor, K: torch.Tensor, seen: torch.Tensor | None = None) -> torch.Tensor:
    """(..., 24, 2) pixels, (..., 3, 3) intrinsics and (..., 24) visibility -> (..., 72):
    normalised camera coordinates about the pelvis, scaled by the pelvis-neck length (so
    place and size in the image do not matter), zero where unseen, and the visibility."""
    f = torch.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]
    c = torch.stack([K[..., 0, 2], K[..., 1, 2]], -1)[..., None, :]
    xy = (kp - c) / f
    xy = xy - xy[..., _PELVIS : _PELVIS + 1, :]
    scale = xy[..., _NECK, :].norm(dim=-1).clamp(min=1e-4)[..., None, None]
    seen = torch.ones(kp.shape[:-1]) if seen is None else (seen > VISIBLE).float()
    return torch.cat([(xy / scale * seen[..., None]).flatten(-2), seen], -1)


class PoseLifter(nn.Module):
    """An MLP with residual blocks (as in Martinez et al. 2017): 72 in, 24 x 6D rotations out."""

    def __init__(self, width: int = 512, blocks: int = 2):
        super().__init__()
        self.inp = nn.Linear(3 * NUM_JOINTS, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
                                    for _ in range(blocks))
        self.out = nn.Linear(width, 6 * NUM_JOINTS)
        identity = matrix_to_rotation_6d(torch.eye(3)).repeat(NUM_JOINTS)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(identity)  # starts at the rest pose

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(..., 72) -> (..., 24, 6): the global orientation in the camera frame, then the body."""
        h = self.inp(features)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).unflatten(-1, (NUM_JOINTS, 6))


def _mirror(poses: np.ndarray) -> np.ndarray:
    """Left and right swapped: a reflection in x, so y and z of every axis-angle flip."""
    aa = poses.reshape(-1, NUM_JOINTS, 3)[:, MIRROR] * np.array([1.0, -1.0, -1.0])
    return aa.reshape(len(poses), -1).astype(np.float32)


def random_views(poses: torch.Tensor, kinematics, rng: torch.Generator):
    """Each world pose (B, 72) seen by a random camera: (keypoints (B, 24, 2), K (B, 3, 3),
    camera-frame poses (B, 72))."""
    B = len(poses)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(B, generator=rng)  # noqa: E731
    yaw, pitch = u(0, 2 * math.pi), u(-0.5, 0.35)
    zero = torch.zeros(B)
    # world (y up) -> camera (y down, looking along +z at the person's back when yaw = 0)
    R = (axis_angle_to_matrix(torch.stack([pitch, zero, zero], -1)) @ axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
         @ axis_angle_to_matrix(torch.stack([zero, yaw, zero], -1)))
    root = R @ axis_angle_to_matrix(poses[:, :3])
    cam_poses = torch.cat([matrix_to_axis_angle(root), poses[:, 3:]], -1)
    betas = torch.randn(B, kinematics.num_betas, generator=rng) * 0.5
    joints = kinematics(cam_poses, betas)
    joints = joints - joints[:, :1]
    depth = u(2.0, 7.0)
    focal = u(300.0, 1500.0)
    size = 1000.0
    # the pelvis anywhere in the middle of the image
    px, py = u(-0.3, 0.3) * size, u(-0.2, 0.2) * size
    center = torch.stack([px / focal * depth, py / focal * depth, depth], -1)
    points = joints + center[:, None]
    K = torch.zeros(B, 3, 3)
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2] = K[:, 1, 2] = size / 2
    K[:, 2, 2] = 1
    z = points[..., 2:].clamp(min=0.2)
    kp = points[..., :2] / z * focal[:, None, None] + size / 2
    return kp, K, cam_poses


def train_lifter(poses: np.ndarray, kinematics, steps: int = STEPS, batch: int = 256, seed: int = LIFTER_SEED,
                 noise: float = 0.01, unseen: float = 0.05, progress: bool = False) -> PoseLifter:
    """Fit a PoseLifter on world-frame SMPL poses (N, 72), mirrored as well."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(np.concatenate([poses, _mirror(poses)])).float()
    model = PoseLifter()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    for step in range(steps):
        idx = torch.randint(len(data), (batch,), generator=rng)
        with torch.no_grad():
            kp, K, target = random_views(data[idx], kinematics, rng)
            target_mats = axis_angle_to_matrix(target.reshape(batch, NUM_JOINTS, 3))
            true_joints = kinematics(target, torch.zeros(kinematics.num_betas))
            # detector-like input: pixel noise of up to `noise` of the torso, and a few joints unseen
            torso = (kp[:, _NECK] - kp[:, _PELVIS]).norm(dim=-1)[:, None, None]
            kp = kp + torch.randn(kp.shape, generator=rng) * torso * noise * torch.rand(batch, 1, 1, generator=rng)
            seen = (torch.rand(batch, NUM_JOINTS, generator=rng) > unseen * torch.rand(batch, 1, generator=rng)).float()
            seen[:, [_PELVIS, _NECK]] = 1.0
        pred = rotation_6d_to_matrix(model(keypoint_features(kp, K, seen)))
        joints = kinematics(matrix_to_axis_angle(pred).reshape(batch, -1), torch.zeros(kinematics.num_betas))
        loss = ((pred - target_mats) ** 2).sum((-1, -2)).mean() + 10 * ((joints - joints[:, :1]) - (true_joints - true_joints[:, :1])).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress and step % 500 == 0:
            print(f"lifter step {step}: loss {loss.item():.4f}", flush=True)
    return model.eval()


_LOADED: dict[str, PoseLifter] = {}


def load_lifter(kinematics) -> PoseLifter:
    """The lifter for a body model's kinematics: trained on first use on this machine, then
    read from the cache (and kept in memory)."""
    from unimo.pipelines.pose_prior import training_poses
    from unimo.platform.body_model import _cache_dir

    key = _body_key(kinematics)
    if key in _LOADED:
        return _LOADED[key]
    path = os.environ.get("UNIMO_LIFTER") or os.path.join(_cache_dir(), "priors", f"fit_lifter_v{LIFTER_VERSION}_{STEPS}_{key}.pt")
    if not os.path.exists(path):
        from unimo.platform import console

        console.say(f"training the fit's pose lifter for this machine ({STEPS} steps, about {STEPS * 50 // 60000 + 1} min on a core, once; "
                    f"cached in {os.path.dirname(path)})")
        poses, sources = training_poses()
        with torch.random.fork_rng(), torch.enable_grad():  # callers may be inside no_grad
            model = train_lifter(poses, kinematics)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        torch.save({"state": model.state_dict(), "sources": json.dumps(sources)}, tmp)
        os.replace(tmp, path)
    saved = torch.load(path, weights_only=True)
    model = PoseLifter()
    model.load_state_dict(saved["state"])
    model.sources = json.loads(saved.get("sources", "[]"))
    _LOADED[key] = model.eval()
    return _LOADED[key]


def shareable(kinematics) -> dict:
    """The lifter as plain data, for a driver to hand to its workers (so a cluster's nodes
    neither train their own nor need a shared cache)."""
    model = load_lifter(kinematics)
    return {"key": _body_key(kinematics), "state": {k: v.numpy() for k, v in model.state_dict().items()}, "sources": model.sources}


def install(shared: dict | None) -> None:
    """Make a driver's lifter (from `shareable`) the one this process uses."""
    if shared is None or shared["key"] in _LOADED:
        return
    model = PoseLifter()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in shared["state"].items()})
    model.sources = shared["sources"]
    _LOADED[shared["key"]] = model.eval()


def _body_key(kinematics) -> str:
    """Names a body model by its joints' template and shape directions."""
    digest = hashlib.sha256(kinematics.j_template.numpy().tobytes() + kinematics.j_shapedirs.numpy().tobytes())
    return digest.hexdigest()[:12]
