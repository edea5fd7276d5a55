"""How well the SMPL fit recovers 3D truth: fit the corpus's ground-truth 2D keypoints (with
optional pixel noise) and compare the fitted joints with the true ones in camera space."""

from __future__ import annotations

import time

import numpy as np
import torch

from unimo.pipelines import corpus_format
from unimo.pipelines.fit import FitConfig, fit_windows


def camera_joints(label: dict, kinematics) -> torch.Tensor:
    """True joints (T, 24, 3) in the camera frame."""
    world = kinematics(torch.from_numpy(label["poses"]), torch.from_numpy(label["betas"]), torch.from_numpy(label["trans"]))
    return world @ torch.from_numpy(label["R"]).transpose(1, 2) + torch.from_numpy(label["t"])[:, None]


def fit_chunk(corpus: str, clip_ids: list[str], noise_px: float, seed: int, cfg: FitConfig, body_model: str,
              lifter: dict | None = None) -> dict:
    """Fit some clips; return per-frame errors (mm) and residuals (a Ray task)."""
    from unimo.models import metrics
    from unimo.pipelines import fit_init
    from unimo.platform import body_model as bm

    torch.set_num_threads(1)
    fit_init.install(lifter)
    kin = bm.load_kinematics(body_model)
    labels = [corpus_format.read_label(corpus_format.label_path(corpus, c)) for c in clip_ids]
    kp = np.stack([lb["keypoints2d"] for lb in labels]).astype(np.float32)
    kp += np.random.default_rng(seed).normal(0, noise_px, kp.shape).astype(np.float32) if noise_px else 0
    start = time.perf_counter()
    res = fit_windows(kp, np.ones(kp.shape[:3], np.float32), np.stack([lb["K"] for lb in labels]), kin, cfg)
    seconds = time.perf_counter() - start
    B, T = kp.shape[:2]
    pred = kin(torch.from_numpy(res.poses.reshape(B * T, 72)), torch.from_numpy(res.betas).repeat_interleave(T, 0),
               torch.from_numpy(res.trans.reshape(-1, 3))).reshape(B, T, 24, 3)
    truth = torch.stack([camera_joints(lb, kin) for lb in labels])
    with torch.no_grad():
        return {
            "mpjpe": [float(metrics.mpjpe(pred[b], truth[b])) for b in range(B)],
            "pa_mpjpe": [float(metrics.pa_mpjpe(pred[b], truth[b])) for b in range(B)],
            "residual_px": [float(r.mean()) for r in res.residual_px],
            "converged": [bool(c) for c in res.converged],
            "frames": [B * T], "seconds": [seconds],
        }


def evaluate_fit(corpus: str, clip_ids: list[str], noise_px: float, seed: int, cfg: FitConfig, body_model: str, chunk: int = 4) -> dict:
    import ray

    from unimo.platform import ray_session

    from unimo.pipelines import fit_init
    from unimo.platform import body_model as bm

    ray_session.connect()
    lifter = ray.put(fit_init.shareable(bm.load_kinematics(body_model))) if cfg.init == "learned" else None
    task = ray.remote(num_cpus=1)(fit_chunk)
    parts = ray.get([task.remote(corpus, clip_ids[i : i + chunk], noise_px, seed + i, cfg, body_model, lifter)
                     for i in range(0, len(clip_ids), chunk)])
    merged = {k: sum((p[k] for p in parts), []) for k in parts[0]}
    return {
        "windows": len(clip_ids),
        "mpjpe_mm": float(np.mean(merged["mpjpe"])),
        "pa_mpjpe_mm": float(np.mean(merged["pa_mpjpe"])),
        "residual_px": float(np.mean(merged["residual_px"])),
        "converged": float(np.mean(merged["converged"])),
        "frames_per_s_core": float(sum(merged["frames"]) / sum(merged["seconds"])),  # each task fits on one thread
        "per_window": merged,
    }
