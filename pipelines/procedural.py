"""Procedural human motion: ten families of periodic movement with random style.

Each family writes joint angles as smooth functions of a phase. The generator adds random
speed, amplitude, heading, timing, body shape and a little low-frequency noise, then puts
the feet on the ground with the body model's own kinematics, so that the same motion
stands correctly on any SMPL-format model.

Joint frames at rest match the world (T-pose, y up, +x the body's left, +z forward), so
the angles below read anatomically: `flex_hip` turns a thigh forward, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from unimo.pipelines.motion import Motion, place_on_ground
from unimo.platform.smpl_skeleton import JOINT, JOINT_LIMITS, NUM_JOINTS

FAMILIES = ("walk", "run", "jump", "squat", "wave", "turn", "kick", "sit_stand", "boxing", "idle")


@dataclass
class Style:
    speed: float  # cycles faster or slower (x)
    amplitude: float  # larger or smaller movements (x)
    heading: float  # radians about y
    phase: float  # radians
    side: int  # +1 left / -1 right, for one-sided moves


def _x(a):
    return Rotation.from_rotvec(np.stack([a, 0 * a, 0 * a], -1))


def _y(a):
    return Rotation.from_rotvec(np.stack([0 * a, a, 0 * a], -1))


def _z(a):
    return Rotation.from_rotvec(np.stack([0 * a, 0 * a, a], -1))


class _Pose:
    """Local joint rotations being composed for T frames, named anatomically."""

    def __init__(self, T: int):
        self.T = T
        self.rot = [Rotation.identity(T) for _ in range(NUM_JOINTS)]

    def apply(self, joint: str, r: Rotation) -> None:
        j = JOINT[joint]
        self.rot[j] = r * self.rot[j]  # r after what is there, in the parent's frame

    def flex_hip(self, side, a):  # thigh forward
        self.apply(f"{side}_hip", _x(-a))

    def abduct_hip(self, side, a):  # thigh outward
        self.apply(f"{side}_hip", _z(a if side == "left" else -a))

    def flex_knee(self, side, a):  # shin backward
        self.apply(f"{side}_knee", _x(a))

    def flex_ankle(self, side, a):  # toes up
        self.apply(f"{side}_ankle", _x(-a))

    def lower_arm(self, side, a):  # from T-pose towards the body's side
        self.apply(f"{side}_shoulder", _z(-a if side == "left" else a))

    def swing_arm(self, side, a):  # arm (already lowered) forward
        self.apply(f"{side}_shoulder", _x(-a))

    def flex_elbow(self, side, a):  # forearm towards the front / the shoulder
        self.apply(f"{side}_elbow", _y(-a if side == "left" else a))

    def bend_spine(self, a, twist=0.0):  # forward, and twist to the left
        for j, share in (("spine1", 0.4), ("spine2", 0.3), ("spine3", 0.3)):
            self.apply(j, _y(np.asarray(twist) * share) * _x(np.asarray(a) * share))

    def nod(self, a):
        self.apply("neck", _x(a * 0.5))
        self.apply("head", _x(a * 0.5))

    def axis_angles(self) -> np.ndarray:
        return np.stack([r.as_rotvec() for r in self.rot], axis=1)  # (T, 24, 3)


@dataclass
class RootMotion:
    """How a family moves the whole body: forward speed (m/s), turn rate (rad/s) and extra
    height (m, e.g. a jump's flight); scalars or per-frame arrays."""

    speed: float | np.ndarray = 0.0
    turn_rate: float | np.ndarray = 0.0
    hop: float | np.ndarray = 0.0


def _bump(u: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth periodic pulse: a Gaussian in the cycle position u (0..1), wrapped."""
    d = (u - centre + 0.5) % 1.0 - 0.5
    return np.exp(-((d / width) ** 2))


def _arms_relaxed(p: _Pose, s: Style, t: np.ndarray) -> None:
    for side in ("left", "right"):
        p.lower_arm(side, np.full_like(t, 1.25))
        p.flex_elbow(side, np.full_like(t, 0.2))


def _gait(p: _Pose, s: Style, phase: np.ndarray, hip_amp, knee_amp, arm_amp, elbow) -> None:
    for side, sign in (("left", 1), ("right", -1)):
        ph = phase + (0 if side == "left" else np.pi)
        p.flex_hip(side, 0.1 + hip_amp * np.sin(ph))
        p.flex_knee(side, 0.1 + knee_amp * np.clip(np.sin(ph + 1.2), 0, None) ** 1.5)
        p.flex_ankle(side, 0.15 * np.sin(ph - 0.6))
        p.lower_arm(side, np.full_like(phase, 1.3))
        p.swing_arm(side, -arm_amp * np.sin(ph))
        p.flex_elbow(side, np.full_like(phase, elbow) + 0.15 * np.sin(ph))


def walk(p, s, t):
    phase = 2 * np.pi * 0.95 * s.speed * t + s.phase
    _gait(p, s, phase, 0.42 * s.amplitude, 0.9 * s.amplitude, 0.35 * s.amplitude, 0.25)
    p.bend_spine(0.05 + 0.02 * np.sin(2 * phase), twist=0.08 * np.sin(phase))
    return RootMotion(speed=1.25 * s.speed * s.amplitude)


def run(p, s, t):
    phase = 2 * np.pi * 1.4 * s.speed * t + s.phase
    _gait(p, s, phase, 0.7 * s.amplitude, 1.6 * s.amplitude, 0.7 * s.amplitude, 1.4)
    p.bend_spine(0.18 + 0.03 * np.sin(2 * phase), twist=0.12 * np.sin(phase))
    hop = 0.06 * s.amplitude * np.clip(np.sin(2 * phase), 0, None)
    return RootMotion(speed=3.0 * s.speed * s.amplitude, hop=hop)


def jump(p, s, t):
    period = 1.3 / s.speed
    u = ((t * 1 / period) + s.phase / (2 * np.pi)) % 1.0  # 0..1 in each jump
    crouch = _bump(u, 0.3, 0.1)  # squat before take-off and after landing
    land = _bump(u, 0.95, 0.1)
    bend = s.amplitude * (crouch + 0.6 * land)
    for side in ("left", "right"):
        p.flex_hip(side, 1.0 * bend)
        p.flex_knee(side, 1.6 * bend)
        p.flex_ankle(side, 0.4 * bend)
        p.lower_arm(side, 1.3 - 0.0 * u)
        p.swing_arm(side, -0.6 * crouch + 2.2 * _bump(u, 0.55, 0.15) * s.amplitude)
        p.flex_elbow(side, 0.3 + 0.3 * crouch)
    p.bend_spine(0.5 * bend)
    flight = np.clip(np.sin(np.pi * (u - 0.4) / 0.5), 0, None) ** 2 * ((u > 0.4) & (u < 0.9))
    return RootMotion(hop=0.45 * s.amplitude * flight)


def squat(p, s, t):
    depth = s.amplitude * 0.5 * (1 - np.cos(2 * np.pi * 0.45 * s.speed * t + s.phase))
    for side in ("left", "right"):
        p.flex_hip(side, 1.3 * depth)
        p.flex_knee(side, 1.9 * depth)
        p.flex_ankle(side, 0.5 * depth)
        p.lower_arm(side, 1.3 - 1.2 * depth)
        p.swing_arm(side, 1.4 * depth)
    p.bend_spine(0.45 * depth)
    return RootMotion()


def wave(p, s, t):
    _arms_relaxed(p, s, t)
    side = "left" if s.side > 0 else "right"
    p.lower_arm(side, np.full_like(t, -1.6))  # undo, then raise above the shoulder
    p.flex_elbow(side, 1.2 + 0.45 * s.amplitude * np.sin(2 * np.pi * 1.6 * s.speed * t + s.phase))
    p.bend_spine(0.03 * np.sin(2 * np.pi * 0.3 * t), twist=0.1 * s.side)
    p.nod(0.1 * np.sin(2 * np.pi * 0.5 * t))
    return RootMotion()


def turn(p, s, t):
    phase = 2 * np.pi * 0.9 * s.speed * t + s.phase
    _gait(p, s, phase, 0.25 * s.amplitude, 0.7 * s.amplitude, 0.2, 0.3)
    return RootMotion(speed=0.35 * s.speed, turn_rate=s.side * 1.2 * s.speed)


def kick(p, s, t):
    _arms_relaxed(p, s, t)
    side = "left" if s.side > 0 else "right"
    u = (t * 0.7 * s.speed + s.phase / (2 * np.pi)) % 1.0
    lift = _bump(u, 0.5, 0.12) * s.amplitude
    p.flex_hip(side, 1.5 * lift)
    p.flex_knee(side, 1.4 * _bump(u, 0.42, 0.1) * s.amplitude)
    p.bend_spine(-0.2 * lift)
    for arm in ("left", "right"):
        p.lower_arm(arm, -0.5 * lift)
    return RootMotion()


def sit_stand(p, s, t):
    depth = s.amplitude * 0.5 * (1 - np.cos(2 * np.pi * 0.22 * s.speed * t + s.phase))
    depth = np.clip(depth, 0, 1)
    for side in ("left", "right"):
        p.flex_hip(side, 1.5 * depth)
        p.flex_knee(side, 1.6 * depth)
        p.abduct_hip(side, 0.1 * depth)
        p.lower_arm(side, 1.3 - 0.3 * depth)
        p.swing_arm(side, 0.7 * depth)
        p.flex_elbow(side, 0.3 + 0.8 * depth)
    p.bend_spine(0.35 * np.sin(np.pi * depth))
    return RootMotion()


def boxing(p, s, t):
    for side in ("left", "right"):
        p.flex_hip(side, np.full_like(t, 0.25))
        p.flex_knee(side, np.full_like(t, 0.4))
        p.abduct_hip(side, np.full_like(t, 0.1))
    period = 0.8 / s.speed
    for side, offset in (("left", 0.0), ("right", 0.5)):
        u = (t / period + offset + s.phase / (2 * np.pi)) % 1.0
        punch = _bump(u, 0.5, 0.11) * s.amplitude
        p.lower_arm(side, 1.2 - 0.6 * punch)
        p.swing_arm(side, 0.9 + 0.5 * punch)
        p.flex_elbow(side, 2.0 - 1.6 * punch)
        p.bend_spine(0.0, twist=(0.25 if side == "right" else -0.25) * punch)
    p.bend_spine(0.15 + 0.03 * np.sin(2 * np.pi * 2 * t))
    return RootMotion(hop=0.02 * np.abs(np.sin(2 * np.pi * 1.5 * s.speed * t)))


def idle(p, s, t):
    _arms_relaxed(p, s, t)
    sway = np.sin(2 * np.pi * 0.25 * s.speed * t + s.phase)
    for side, sign in (("left", 1), ("right", -1)):
        p.abduct_hip(side, 0.04 + 0.03 * sign * sway)
        p.swing_arm(side, 0.1 * s.amplitude * np.sin(2 * np.pi * 0.2 * t + sign))
    p.bend_spine(0.04 * sway, twist=0.1 * s.amplitude * np.sin(2 * np.pi * 0.15 * t))
    p.nod(0.15 * s.amplitude * np.sin(2 * np.pi * 0.3 * t + s.phase))
    return RootMotion()


_FAMILY_FNS = {f.__name__: f for f in (walk, run, jump, squat, wave, turn, kick, sit_stand, boxing, idle)}


def _smooth_noise(rng: np.random.Generator, T: int, dims: int, fps: float, scale: float) -> np.ndarray:
    """Low-frequency noise: a few random sinusoids per dimension, below 0.7 Hz."""
    t = np.arange(T)[:, None] / fps
    out = np.zeros((T, dims))
    for _ in range(3):
        f = rng.uniform(0.1, 0.7, dims)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, dims)) * rng.uniform(0, scale, dims)
    return out


def random_style(rng: np.random.Generator) -> Style:
    return Style(
        speed=float(rng.uniform(0.8, 1.25)),
        amplitude=float(rng.uniform(0.7, 1.15)),
        heading=float(rng.uniform(0, 2 * np.pi)),
        phase=float(rng.uniform(0, 2 * np.pi)),
        side=int(rng.choice([-1, 1])),
    )


def random_betas(rng: np.random.Generator, num_betas: int = 10) -> np.ndarray:
    return np.clip(rng.normal(0, 1, num_betas), -2, 2).astype(np.float32)


def generate(family: str, frames: int, fps: float, rng: np.random.Generator, kinematics, betas=None, style=None) -> Motion:
    """One clip of `family` with a random style and shape, feet on the ground."""
    if family not in _FAMILY_FNS:
        raise ValueError(f"unknown motion family '{family}' (known: {', '.join(FAMILIES)})")
    style = style or random_style(rng)
    betas = random_betas(rng, kinematics.num_betas) if betas is None else np.asarray(betas, np.float32)
    t = np.arange(frames) / fps
    pose = _Pose(frames)
    root_motion = _FAMILY_FNS[family](pose, style, t)
    speed, turn_rate, hop = (np.broadcast_to(x, t.shape) for x in (root_motion.speed, root_motion.turn_rate, root_motion.hop))
    local = pose.axis_angles()
    local[:, 1:] += _smooth_noise(rng, frames, (NUM_JOINTS - 1) * 3, fps, 0.03).reshape(frames, NUM_JOINTS - 1, 3)
    local = _clamp_to_limits(local)

    heading = style.heading + np.cumsum(turn_rate) / fps
    root = Rotation.from_rotvec(np.stack([0 * t, heading, 0 * t], -1)) * Rotation.from_rotvec(local[:, 0])
    local[:, 0] = root.as_rotvec()
    forward = np.stack([np.sin(heading), 0 * t, np.cos(heading)], -1)
    step = forward * speed[:, None] / fps
    trans = np.cumsum(step, axis=0) - step[0]
    trans = place_on_ground(local.reshape(frames, -1), trans, betas, kinematics, per_frame=True)
    trans[:, 1] += hop
    return Motion(local.reshape(frames, -1), trans, betas, fps, {"family": family, "style": style.__dict__})


def _clamp_to_limits(local: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(local, axis=-1, keepdims=True)
    limit = np.asarray(JOINT_LIMITS)[None, :, None]
    return np.where(angle > limit, local * limit / np.maximum(angle, 1e-9), local)
