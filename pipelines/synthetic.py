"""Synthetic human video: a motion rendered as a clothed body in front of a random camera,
with the 3D truth and 2D keypoints that produced it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from unimo.pipelines.motion import Motion
from unimo.platform import body_model
from unimo.platform.render import MeshRenderer, RenderOutput, joint_visibility, look_at
from unimo.platform.smpl_skeleton import JOINT, JOINT_NAMES, NUM_JOINTS, PARENTS, children

# Clothing regions by the joint that moves a vertex most.
SKIN, HAIR, SHIRT, SLEEVE, PANTS, SHOES = range(6)
_REGION_OF_JOINT = {
    **{j: PANTS for j in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee")},
    **{j: SHOES for j in ("left_ankle", "right_ankle", "left_foot", "right_foot")},
    **{j: SHIRT for j in ("spine1", "spine2", "spine3", "left_collar", "right_collar", "left_shoulder", "right_shoulder")},
    **{j: SLEEVE for j in ("left_elbow", "right_elbow")},
    **{j: SKIN for j in ("neck", "head", "left_wrist", "right_wrist", "left_hand", "right_hand")},
}
_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.90, 0.72, 0.56], [0.78, 0.57, 0.44], [0.55, 0.38, 0.26], [0.36, 0.24, 0.16]])


@dataclass
class BodyRig:
    """What rendering needs from a body model, computed once per process."""

    smpl: object
    faces: torch.Tensor  # (F, 3)
    face_joint: torch.Tensor  # (F,) the joint moving each face most
    face_region: np.ndarray  # (F,) clothing region
    joint_radius: torch.Tensor  # (24,) body thickness around each joint
    neighbours: list  # joint -> {itself, parent, children}


@functools.lru_cache(maxsize=2)
def rig(spec: str = body_model.STANDIN) -> BodyRig:
    smpl = body_model.load_smpl(spec)
    faces = smpl.faces_tensor
    vertex_joint = smpl.lbs_weights.argmax(1)
    face_joint = vertex_joint[faces[:, 0]]
    region_of_joint = np.array([_REGION_OF_JOINT[n] for n in JOINT_NAMES])
    vregion = region_of_joint[vertex_joint.numpy()]
    # Hair: the top and back of the head, in the rest pose.
    v = smpl.v_template.numpy()
    rest = (smpl.J_regressor @ smpl.v_template).numpy()
    head = rest[JOINT["head"]]
    is_head = vertex_joint.numpy() == JOINT["head"]
    hair = is_head & ((v[:, 1] > head[1] + 0.12) | ((v[:, 2] < head[2] - 0.01) & (v[:, 1] > head[1] + 0.02)))
    vregion[hair] = HAIR
    radius = torch.zeros(NUM_JOINTS)
    for j in range(NUM_JOINTS):
        near = torch.from_numpy(v[vertex_joint.numpy() == j]) if (vertex_joint == j).any() else torch.from_numpy(v)
        radius[j] = (near - torch.from_numpy(rest[j])).norm(dim=1).median()
    neighbours = [{j, PARENTS[j], *children(j)} - {-1} for j in range(NUM_JOINTS)]
    return BodyRig(smpl, faces, face_joint, vregion[faces[:, 0].numpy()], radius.clamp(0.04, 0.2), neighbours)


def random_face_colors(rng: np.random.Generator, body: BodyRig) -> torch.Tensor:
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.92, 1.05)
    shirt, pants, shoes = rng.uniform(0.05, 0.95, (3, 3))
    hair = rng.uniform(0.02, 0.35) * np.array([1.0, rng.uniform(0.6, 0.9), rng.uniform(0.3, 0.6)])
    sleeve = shirt if rng.random() < 0.5 else skin
    palette = np.stack([skin, hair, shirt, sleeve, pants, shoes])
    return torch.from_numpy(np.clip(palette[body.face_region], 0, 1)).float()


def random_background(rng: np.random.Generator, size: int) -> torch.Tensor:
    """Flat, a gradient, or smooth texture noise; (size, size, 3) in [0, 1]."""
    kind = rng.integers(3)
    a, b = rng.uniform(0, 1, (2, 3))
    if kind == 0:
        bg = np.broadcast_to(a, (size, size, 3))
    elif kind == 1:
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:size, 0:size] / size
        u = (np.cos(angle) * xs + np.sin(angle) * ys)
        u = (u - u.min()) / (np.ptp(u) + 1e-9)
        bg = a * (1 - u[..., None]) + b * u[..., None]
    else:
        cells = int(rng.integers(4, 17))
        noise = torch.from_numpy(rng.uniform(0, 1, (1, 3, cells, cells))).float()
        noise = torch.nn.functional.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)[0]
        bg = a * 0.5 + 0.5 * noise.permute(1, 2, 0).numpy() * b
    return torch.from_numpy(np.clip(np.ascontiguousarray(bg), 0, 1)).float()


def random_camera(rng: np.random.Generator, root: np.ndarray, size: int, fps: float, moving: bool | None = None):
    """A pinhole camera that keeps the person in frame: random focal length, distance,
    height and yaw; it tracks the person's smoothed path and, if `moving`, slowly orbits
    and dollies. Returns K (3, 3), R (T, 3, 3), t (T, 3)."""
    T = len(root)
    focal = size * rng.uniform(1.1, 1.7)
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]])
    distance = 2.1 * focal / size * rng.uniform(1.0, 1.35)  # the whole body (and a jump) fits
    height = rng.uniform(0.6, 1.9)
    yaw = rng.uniform(0, 2 * np.pi)
    moving = rng.random() < 0.5 if moving is None else moving
    s = np.linspace(0, 1, T)
    yaw = yaw + (rng.uniform(-0.35, 0.35) * s if moving else 0 * s)
    distance = distance * (1 + (rng.uniform(-0.12, 0.12) * s if moving else 0 * s))
    # Look at a heavily smoothed path at mid-body height: the camera pans, it does not shake.
    kernel = np.ones(int(fps)) / int(fps)
    target = np.stack([np.convolve(np.pad(root[:, i], (len(kernel) // 2, len(kernel) - 1 - len(kernel) // 2), mode="edge"), kernel, "valid") for i in range(3)], 1)
    target[:, 1] = 0.9 + 0.1 * (root[:, 1] - root[0, 1])
    eye = target + np.stack([distance * np.sin(yaw), height - target[:, 1], distance * np.cos(yaw)], -1)
    R, t = look_at(torch.from_numpy(eye).float(), torch.from_numpy(target).float())
    return torch.from_numpy(K).float(), R, t


@dataclass
class RenderedClip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    mask: np.ndarray  # (T, H, W) bool
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    keypoints2d: np.ndarray  # (T, 24, 2)
    visibility: np.ndarray  # (T, 24) bool


def render_motion(motion: Motion, body: BodyRig, size: int, rng: np.random.Generator, chunk: int = 64) -> RenderedClip:
    """Pose the mesh for every frame, and render it with a random look and camera."""
    T = len(motion)
    poses = torch.from_numpy(motion.poses)
    betas = torch.from_numpy(motion.betas)[None].expand(T, -1)
    trans = torch.from_numpy(motion.trans)
    with torch.no_grad():
        out = body.smpl(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=betas, transl=trans)
    verts, joints = out.vertices, out.joints[:, :NUM_JOINTS]
    K, R, t = random_camera(rng, joints[:, 0].numpy(), size, motion.fps)
    colors = random_face_colors(rng, body)
    background = random_background(rng, size)
    light = rng.normal(0, 1, 3) * np.array([0.6, 0.3, 0.6]) + np.array([0, 0.8, 0])
    renderer = MeshRenderer(body.faces, size, size)
    parts = [
        renderer.render(verts[i : i + chunk], K, R[i : i + chunk], t[i : i + chunk], colors, background,
                        light_dir=tuple(light), ambient=float(rng.uniform(0.3, 0.5)))
        for i in range(0, T, chunk)
    ]
    rendered = RenderOutput(*(torch.cat([getattr(p, f) for p in parts]) for f in ("rgb", "mask", "depth", "face_id")))
    uv, visible = joint_visibility(joints, K, R, t, rendered, body.face_joint, body.joint_radius, body.neighbours)
    return RenderedClip(
        frames=rendered.rgb.numpy(), mask=rendered.mask.numpy(), K=K.numpy(), R=R.numpy(), t=t.numpy(),
        keypoints2d=uv.numpy().astype(np.float32), visibility=visible.numpy(),
    )
