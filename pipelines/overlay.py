"""The fitted body drawn over the frames it was fitted to: what a person checks first.

The fit lives in the camera's frame (the shards' `poses`, `trans` and `K`), so the mesh is
rendered with an identity camera and blended over the video: where it sits on the person,
the fit matches the image; where a limb points elsewhere, it does not.
"""

from __future__ import annotations

import numpy as np
import torch

BODY_RGB = (0.35, 0.75, 1.0)


def draw_body(frames: np.ndarray, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, K: np.ndarray,
              body_model: str = "standin", alpha: float = 0.6, chunk: int = 32) -> np.ndarray:
    """frames (T, H, W, 3) uint8 and a camera-frame fit (poses (T, 72), trans (T, 3), betas,
    K (3, 3)) -> frames with the body blended over them."""
    from unimo.pipelines.synthetic import rig
    from unimo.platform.render import MeshRenderer

    body = rig(body_model)
    T, H, W = frames.shape[:3]
    poses_t, trans_t = torch.as_tensor(poses, dtype=torch.float32), torch.as_tensor(trans, dtype=torch.float32)
    betas_t = torch.as_tensor(betas, dtype=torch.float32).reshape(1, -1).expand(T, -1)
    with torch.no_grad():
        verts = body.smpl(global_orient=poses_t[:, :3], body_pose=poses_t[:, 3:], betas=betas_t, transl=trans_t).vertices
    renderer = MeshRenderer(body.faces, H, W)
    colors = torch.tensor(BODY_RGB).expand(len(body.faces), 3)
    out = frames.copy()
    eye, zero = torch.eye(3).expand(chunk, 3, 3), torch.zeros(chunk, 3)
    for i in range(0, T, chunk):
        n = min(chunk, T - i)
        image = torch.from_numpy(frames[i : i + n]).float() / 255
        drawn = renderer.render(verts[i : i + n], torch.as_tensor(K, dtype=torch.float32), eye[:n], zero[:n], colors, image,
                                light_dir=(0.0, -0.6, -0.8))  # camera frame: y down, light from the camera
        mask = drawn.mask.numpy()[..., None]
        blend = (1 - alpha) * frames[i : i + n] + alpha * drawn.rgb.numpy()
        out[i : i + n] = np.where(mask, blend, frames[i : i + n]).round().astype(np.uint8)
    return out
