"""Rotation conversions in torch, batched over any leading dimensions.

Axis-angle is SMPL's storage format; matrices drive kinematics; the continuous 6D form
(Zhou et al. 2019, the first two matrix columns) is what networks predict.
"""

from __future__ import annotations

import torch


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3), by Rodrigues' formula (exact at angle 0)."""
    angle = aa.norm(dim=-1, keepdim=True)
    # sin(x)/x and (1-cos x)/x^2 by their Taylor series near 0, to keep gradients finite
    small = angle < 1e-4
    a2 = angle * angle
    safe = torch.where(small, torch.ones_like(angle), angle)
    sinc = torch.where(small, 1 - a2 / 6, torch.sin(safe) / safe)
    cosc = torch.where(small, 0.5 - a2 / 24, (1 - torch.cos(safe)) / (safe * safe))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + sinc[..., None] * k + cosc[..., None] * (k @ k)


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3), through quaternions (stable near 0 and pi)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) as (w, x, y, z) with w >= 0."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Four candidate solutions; take the one with the largest (best-conditioned) divisor.
    q_abs = torch.sqrt(
        torch.clamp(
            torch.stack(
                [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
            ),
            min=1e-12,
        )
    )
    cands = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    ) / (2 * q_abs[..., None])
    best = q_abs.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    s = xyz.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(s, q[..., :1])
    small = s < 1e-7
    scale = torch.where(small, 2 / q[..., :1].clamp(min=1e-7), angle / torch.where(small, torch.ones_like(s), s))
    return xyz * scale


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def quaternion_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, (..., 4) each, `t` broadcast over (...)."""
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    t = t[..., None] if t.dim() == q0.dim() - 1 else t
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    linear = sin_theta < 1e-6
    w0 = torch.where(linear, 1 - t, torch.sin((1 - t) * theta) / torch.where(linear, torch.ones_like(sin_theta), sin_theta))
    w1 = torch.where(linear, t, torch.sin(t * theta) / torch.where(linear, torch.ones_like(sin_theta), sin_theta))
    out = w0 * q0 + w1 * q1
    return out / out.norm(dim=-1, keepdim=True)


def matrix_to_rotation_6d(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (any 6 numbers give a rotation)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def euler_to_matrix(angles: torch.Tensor, order: str) -> torch.Tensor:
    """(..., 3) angles in radians, applied as intrinsic rotations in `order` (e.g. "ZXY":
    R = Rz(a0) @ Rx(a1) @ Ry(a2)), the BVH convention."""
    mats = [_axis_matrix(axis, angles[..., i]) for i, axis in enumerate(order.upper())]
    return mats[0] @ mats[1] @ mats[2]


def _axis_matrix(axis: str, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rows = {
        "X": [one, zero, zero, zero, c, -s, zero, s, c],
        "Y": [c, zero, s, zero, one, zero, -s, zero, c],
        "Z": [c, -s, zero, s, c, zero, zero, zero, one],
    }[axis]
    return torch.stack(rows, dim=-1).reshape(*angle.shape, 3, 3)


def rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The smallest rotation taking direction `a` to direction `b`, (..., 3) -> (..., 3, 3)."""
    a = torch.nn.functional.normalize(a, dim=-1)
    b = torch.nn.functional.normalize(b, dim=-1)
    axis = torch.cross(a, b, dim=-1)
    cos = (a * b).sum(-1, keepdim=True).clamp(-1, 1)
    sin = axis.norm(dim=-1, keepdim=True)
    # Opposite directions: turn by pi about any axis perpendicular to a.
    helper = torch.where(a[..., :1].abs() < 0.9, torch.tensor([1.0, 0, 0], dtype=a.dtype, device=a.device), torch.tensor([0, 1.0, 0], dtype=a.dtype, device=a.device))
    perp = torch.nn.functional.normalize(torch.cross(a, helper, dim=-1), dim=-1)
    axis = torch.where(sin < 1e-8, perp * torch.where(cos < 0, torch.pi, 0.0), axis / sin.clamp(min=1e-12) * torch.atan2(sin, cos))
    return axis_angle_to_matrix(axis)
