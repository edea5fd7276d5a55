"""A Gaussian-mixture prior over SMPL body poses (as in SMPLify), fit on real and procedural motion.

A prior fit on procedural motion alone holds real people to procedural poses: from exact 2D
keypoints of real mocap, the fit then matched the 2D and got the 3D wrong (PA-MPJPE 113 mm),
because the prior scored the true poses far worse than a wrong depth reading. So the
mixture learns from every real mocap file the registries carry that is not held out for
evaluation (bvhtools' training files, DeepMimic's training clips) beside procedural poses of
every family (seeds of its own, never those of corpora or evaluations), in equal parts.

The mixture is fit once per machine, deterministically, and cached beside the stand-in body
model with the list of files it learned from (`PoseSources`): an evaluation refuses to score
a file the prior has seen. Users with their own mocap can fit it on that
(`fit_gmm_prior(poses)`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os

import numpy as np
import torch
from torch import nn

from unimo.platform.errors import UnimoError

PRIOR_SEED = 987_654  # kept apart from corpus and evaluation seeds
PRIOR_VERSION = 2  # 1: procedural poses only
COMPONENTS = 16
REAL_SOURCES = ("bvhtools", "deepmimic")  # registry mocap, training split only
REAL_FPS = 15.0  # real recordings sampled at this rate: neighbouring frames add little


class GMMPosePrior(nn.Module):
    """Negative log-likelihood of the best component: min_k 0.5 m_k(x) - log w_k + 0.5 log|S_k|."""

    def __init__(self, means, precisions, log_weights, log_dets, sources: list[dict] | None = None):
        super().__init__()
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))
        self.register_buffer("precisions", torch.as_tensor(precisions, dtype=torch.float32))
        self.register_buffer("offsets", torch.as_tensor(-log_weights + 0.5 * log_dets, dtype=torch.float32))
        self.sources = sources or []  # the files it learned from: name and sha256

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        d = pose[..., None, :] - self.means  # (..., K, 69)
        maha = torch.einsum("...ki,kij,...kj->...k", d, self.precisions, d)
        return (0.5 * maha + self.offsets).amin(-1) - self.offsets.min()


class SeenByPriorError(UnimoError):
    """An evaluation asked to score motion the pose prior learned from."""


def file_sha256(path: str) -> str:
    from unimo.platform import storage

    return hashlib.sha256(storage.read_bytes(path)).hexdigest()


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
    poses = [procedural.generate(procedural.FAMILIES[i % len(procedural.FAMILIES)], frames_per_clip, 30.0, rng, kin).poses
             for i in range(clips)]
    return np.concatenate(poses)


def real_training_poses() -> tuple[np.ndarray, list[dict]]:
    """Poses (N, 72) of every registry mocap file outside the evaluations' held-out
    split, at REAL_FPS, and the files they came from."""
    from unimo.pipelines.corpus import REGISTRY_SOURCES, load_motion_file
    from unimo.pipelines.registry_data import registry_motion
    from unimo.platform import body_model

    kin = body_model.load_kinematics(body_model.STANDIN)
    poses, sources = [], []
    for name in REAL_SOURCES:
        for path in registry_motion(name, "train"):
            motion = load_motion_file(REGISTRY_SOURCES[name], path, kin, REAL_FPS)
            poses.append(motion.poses)
            sources.append({"source": name, "file": os.path.basename(path), "sha256": file_sha256(path), "frames": len(motion)})
    return np.concatenate(poses), sources


@functools.lru_cache(maxsize=1)
def training_poses() -> tuple[np.ndarray, list[dict]]:
    """Poses (N, 72) that priors learn from, real and procedural in equal parts, and the
    real files they came from."""
    real, sources = real_training_poses()
    procedural = sample_procedural_poses()
    rng = np.random.default_rng(PRIOR_SEED)
    n = min(len(real), len(procedural))
    return np.concatenate([real[rng.permutation(len(real))[:n]], procedural[rng.permutation(len(procedural))[:n]]]), sources


def build_prior() -> tuple[dict[str, np.ndarray], list[dict]]:
    """The mixture's parameters, fit on the body poses of `training_poses`."""
    poses, sources = training_poses()
    return fit_gmm_prior(poses[:, 3:]), sources


@functools.lru_cache(maxsize=1)
def load_gmm_prior() -> GMMPosePrior:
    from unimo.platform.body_model import _cache_dir

    path = os.path.join(_cache_dir(), "priors", f"gmm_pose_prior_v{PRIOR_VERSION}_{COMPONENTS}.npz")
    if not os.path.exists(path):
        params, sources = build_prior()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}.npz"
        np.savez(tmp, **params, sources=np.str_(json.dumps(sources)))
        os.replace(tmp, path)
    with np.load(path) as data:
        return GMMPosePrior(data["means"], data["precisions"], data["log_weights"], data["log_dets"],
                            json.loads(str(data["sources"])))


def refuse_seen(paths: list[str]) -> None:
    """Raise if the pose prior learned from any of these motion files (compared by content)."""
    seen = {s["sha256"]: s for s in load_gmm_prior().sources}
    for path in paths:
        hit = seen.get(file_sha256(path))
        if hit:
            raise SeenByPriorError(f"'{path}' is {hit['source']}'s {hit['file']}, which the fit's pose prior learned from: "
                                   f"evaluate on held-out files")
