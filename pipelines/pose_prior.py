"""A Gaussian-mixture prior over SMPL body poses (as in SMPLify), fit on procedural motion.

The mixture is fit once per machine, deterministically, on poses sampled from every
procedural family with seeds of its own (never those of corpora or evaluations), and
cached beside the stand-in body model. Users with real mocap can fit it on that instead
(`fit_gmm_prior(poses)`).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from torch import nn

PRIOR_SEED = 987_654  # kept apart from corpus and evaluation seeds
COMPONENTS = 8


class GMMPosePrior(nn.Module):
    """Negative log-likelihood of the best component: min_k 0.5 m_k(x) - log w_k + 0.5 log|S_k|."""

    def __init__(self, means, precisions, log_weights, log_dets):
        super().__init__()
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))
        self.register_buffer("precisions", torch.as_tensor(precisions, dtype=torch.float32))
        self.register_buffer("offsets", torch.as_tensor(-log_weights + 0.5 * log_dets, dtype=torch.float32))

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        d = pose[..., None, :] - self.means  # (..., K, 69)
        maha = torch.einsum("...ki,kij,...kj->...k", d, self.precisions, d)
        return (0.5 * maha + self.offsets).amin(-1) - self.offsets.min()


def fit_gmm_prior(body_poses: np.ndarray, components: int = COMPONENTS, seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-3, random_state=seed, max_iter=200)
    gmm.fit(body_poses)
    return {
        "means": gmm.means_, "precisions": gmm.precisions_, "log_weights": np.log(gmm.weights_),
        "log_dets": np.linalg.slogdet(gmm.covariances_)[1],
    }


def sample_procedural_poses(frames_per_clip: int = 60, clips: int = 400) -> np.ndarray:
    from unimo.pipelines import procedural
    from unimo.platform import body_model

    kin = body_model.load_kinematics(body_model.STANDIN)
    rng = np.random.default_rng(PRIOR_SEED)
    poses = [procedural.generate(procedural.FAMILIES[i % len(procedural.FAMILIES)], frames_per_clip, 30.0, rng, kin).poses[:, 3:]
             for i in range(clips)]
    return np.concatenate(poses)


@functools.lru_cache(maxsize=1)
def load_gmm_prior() -> GMMPosePrior:
    from unimo.platform.body_model import _cache_dir

    path = os.path.join(_cache_dir(), "priors", f"gmm_pose_prior_v1_{COMPONENTS}.npz")
    if not os.path.exists(path):
        params = fit_gmm_prior(sample_procedural_poses())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}.npz"
        np.savez(tmp, **params)
        os.replace(tmp, path)
    with np.load(path) as data:
        return GMMPosePrior(data["means"], data["precisions"], data["log_weights"], data["log_dets"])
