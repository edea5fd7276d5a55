"""Joints-only forward kinematics of SMPL: the cheap path for fitting and metrics.

SMPL's joints depend on the shape only through the rest mesh, and the joint regressor is
linear, so the rest joints are `J(betas) = J_template + J_shapedirs @ betas` with both
terms precomputed from the model once. Posing them is then a walk down the 24-joint
kinematic tree: no 6890-vertex skinning, and the same 24 joints smplx returns (to float
precision; tested).
"""

from __future__ import annotations

import torch
from torch import nn

from unimo.platform.rotations import axis_angle_to_matrix
from unimo.platform.smpl_skeleton import NUM_JOINTS, PARENTS


class JointKinematics(nn.Module):
    """`forward(poses, betas, trans) -> joints`, batched over frames."""

    def __init__(self, j_template, j_shapedirs, parents=PARENTS, sole=None):
        super().__init__()
        self.register_buffer("j_template", j_template.float())  # (24, 3)
        self.register_buffer("j_shapedirs", j_shapedirs.float())  # (24, 3, num_betas)
        self.parents = list(parents)
        # The lowest rest-mesh vertices (template, shape directions, the joint moving each):
        # posed rigidly with their joint, they tell where the soles are, without the mesh.
        nb = j_shapedirs.shape[-1]
        sole = sole or (torch.zeros(1, 3), torch.zeros(1, 3, nb), torch.zeros(1, dtype=torch.long))
        self.register_buffer("sole_template", sole[0].float())
        self.register_buffer("sole_shapedirs", sole[1].float())
        self.register_buffer("sole_joint", sole[2].long())

    @classmethod
    def from_smpl(cls, smpl, sole_vertices: int = 96) -> "JointKinematics":
        """From a loaded `smplx.SMPL`: regress the template and shape directions once."""
        j_reg = smpl.J_regressor.double()
        j_template = j_reg @ smpl.v_template.double()
        j_shapedirs = torch.einsum("jv,vcb->jcb", j_reg, smpl.shapedirs.double())
        lowest = smpl.v_template[:, 1].argsort()[:sole_vertices]
        sole = (smpl.v_template[lowest], smpl.shapedirs[lowest], smpl.lbs_weights[lowest].argmax(1))
        return cls(j_template, j_shapedirs, smpl.parents.tolist(), sole)

    @property
    def num_betas(self) -> int:
        return self.j_shapedirs.shape[-1]

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """(..., num_betas) -> (..., 24, 3) unposed joints."""
        betas = betas[..., : self.num_betas]
        return self.j_template + torch.einsum("jcb,...b->...jc", self.j_shapedirs[..., : betas.shape[-1]], betas)

    def sole_points(self, poses, betas, trans=None) -> torch.Tensor:
        """(B, K, 3) posed positions of the rest mesh's lowest vertices."""
        joints, rots = self.forward_with_rotations(poses, betas, trans)
        b = betas[..., : self.num_betas]
        rest_v = self.sole_template + torch.einsum("kcb,...b->...kc", self.sole_shapedirs[..., : b.shape[-1]], b)
        rest_j = self.rest_joints(betas)[..., self.sole_joint, :]
        local = (rest_v - rest_j).unsqueeze(-1)
        if local.dim() == 3:
            local = local.expand(len(poses), -1, -1, -1)
        return joints[:, self.sole_joint] + (rots[:, self.sole_joint] @ local).squeeze(-1)

    def forward(self, poses: torch.Tensor, betas: torch.Tensor, trans: torch.Tensor | None = None) -> torch.Tensor:
        """poses (B, 72) axis-angle, betas (B, nb) or (nb,), trans (B, 3) -> joints (B, 24, 3)."""
        return self.forward_with_rotations(poses, betas, trans)[0]

    def forward_with_rotations(self, poses, betas, trans=None):
        """Also return the global rotation of every joint, (B, 24, 3, 3)."""
        return self.forward_matrices(axis_angle_to_matrix(poses.reshape(poses.shape[0], NUM_JOINTS, 3)), betas, trans)

    def forward_matrices(self, rots, betas, trans=None):
        """From local rotation matrices (B, 24, 3, 3): joints (B, 24, 3) and global rotations.
        (Fitting optimises matrices: going through axis-angle would cost most of its backward pass.)"""
        batch = rots.shape[0]
        rest = self.rest_joints(betas)
        if rest.dim() == 2:
            rest = rest.expand(batch, -1, -1)
        glob_rot = [rots[:, 0]]
        glob_pos = [rest[:, 0]]
        for j in range(1, NUM_JOINTS):
            p = self.parents[j]
            glob_rot.append(glob_rot[p] @ rots[:, j])
            offset = (rest[:, j] - rest[:, p]).unsqueeze(-1)
            glob_pos.append(glob_pos[p] + (glob_rot[p] @ offset).squeeze(-1))
        joints = torch.stack(glob_pos, dim=1)
        if trans is not None:
            joints = joints + trans[:, None, :]
        return joints, torch.stack(glob_rot, dim=1)
