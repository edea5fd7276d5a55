"""Where the person is in each frame, from its 2D keypoints: the mask that weighs the video
tokenizer's pixel loss towards the body (`loss.body_weight`) and scores the body apart
(`val/psnr_body`).

Why: at 64 px the person is about 10 px wide and covers a tenth of the frame. An
unweighted pixel loss spends the tokens' bits on the other nine tenths, and the CPU
tokenizer gave the body back as a blur without arms (24.5 dB over the frame): V2M then has
no pose to read from the tokens (docs/evaluation.md, the token probe). The keypoints are
there in both kinds of training data: a corpus's labels and the preprocessing shards'
(given or detected), so the weighting costs no new labels.

The mask: each bone of the SMPL skeleton (a joint to its parent) is a capsule of radius
`radius` x the person's height in that frame (the keypoints' vertical extent), plus a disc
of twice that radius at the head joint, whose keypoint is mid-head; edges fall off over a
pixel. Joints with confidence under `min_confidence` draw nothing.
"""

from __future__ import annotations

import numpy as np

from unimo.platform.smpl_skeleton import NUM_JOINTS, PARENTS

HEAD = 15  # SMPL's head joint
BONES = np.array([(j, PARENTS[j]) for j in range(1, NUM_JOINTS)])  # (23, 2): child, parent


def body_mask(keypoints: np.ndarray, height: int, width: int, confidence: np.ndarray | None = None, radius: float = 0.06,
              min_confidence: float = 0.3) -> np.ndarray:
    """keypoints (T, 24, 2) in pixels (x, y) -> float32 (T, height, width) in [0, 1]."""
    kp = np.asarray(keypoints, np.float32)
    T = kp.shape[0]
    ok = np.ones(kp.shape[:2], bool) if confidence is None else np.asarray(confidence) >= min_confidence
    ok &= np.isfinite(kp).all(-1)
    mask = np.zeros((T, height, width), np.float32)
    for t in range(T):
        if ok[t].sum() < 2:
            continue
        visible = kp[t][ok[t]]
        r = radius * max(float(np.ptp(visible[:, 1])), 1.0) + 0.5
        # only the pixels near the person: its keypoints' box, grown by the head's disc and the edge
        x0, y0 = np.maximum(np.floor(visible.min(0) - 2 * r - 2), 0).astype(int)
        x1, y1 = np.minimum(np.ceil(visible.max(0) + 2 * r + 2), [width, height]).astype(int)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5  # pixel centres
        pixels = np.stack([xs.ravel(), ys.ravel()], -1)  # (P, 2)
        bones = BONES[ok[t][BONES[:, 0]] & ok[t][BONES[:, 1]]]
        a, b = kp[t][bones[:, 1]], kp[t][bones[:, 0]]  # (n, 2) segment ends
        ab = b - a
        along = np.clip(((pixels[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-6), 0, 1)  # (P, n)
        distance = np.linalg.norm(pixels[:, None] - (a + along[..., None] * ab), axis=-1).min(-1, initial=np.inf) - r
        if ok[t][HEAD]:
            distance = np.minimum(distance, np.linalg.norm(pixels - kp[t][HEAD], axis=-1) - 2 * r)
        mask[t, y0:y1, x0:x1] = np.clip(1 - distance, 0, 1).reshape(y1 - y0, x1 - x0)  # 1 inside, 0 a pixel outside
    return mask
