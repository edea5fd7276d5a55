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
    from unimo.pipelines import fit_init
    from unimo.platform import body_model as bm
    from unimo.platform import motion_metrics

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
            "mpjpe": [float(motion_metrics.mpjpe(pred[b], truth[b])) for b in range(B)],
            "pa_mpjpe": [float(motion_metrics.pa_mpjpe(pred[b], truth[b])) for b in range(B)],
            "residual_px": [float(r.mean()) for r in res.residual_px],
            "converged": [bool(c) for c in res.converged],
            "frames": [B * T], "seconds": [seconds],
        }


def evaluate_fit(corpus: str, clip_ids: list[str], noise_px: float, seed: int, cfg: FitConfig, body_model: str, chunk: int = 4) -> dict:
    import ray

    from unimo.pipelines import fit_init
    from unimo.platform import body_model as bm
    from unimo.platform import ray_session

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


def evaluate_fit_on_video(video: str, output: str, preprocess_overrides: list[str], body_model: str) -> dict:
    """Preprocess a real video with the detector, then measure what needs no 3D truth: the
    2D residual of the fit, its jitter (the third difference of the camera-frame joints,
    m/s^3; and of their projection, px/s^3, against the detector's own keypoints), and an
    overlay of the fitted body on a frame (returned as RGB, the frame with the body drawn)."""
    import pyarrow.dataset as pads

    from unimo.pipelines import shards
    from unimo.pipelines.overlay import draw_body
    from unimo.pipelines.preprocess import PreprocessConfig, run_preprocess
    from unimo.pipelines.video_io import decode
    from unimo.platform import body_model as bm
    from unimo.platform.config import load_config

    cfg = load_config(PreprocessConfig, None, [f"input={video}", f"output={output}", "keypoints=mediapipe",
                                               f"body_model={body_model}", *preprocess_overrides])
    summary = run_preprocess(cfg)
    rows = sorted(pads.dataset(f"{output}/{shards.CLIPS}", format="parquet").to_table().to_pylist(), key=lambda r: r["start_frame"])
    if not rows:
        raise ValueError(f"no window of '{video}' was fitted ({summary.inputs_failed} failed inputs): see {output}/{shards.ERRORS}")
    kin = bm.load_kinematics(body_model)
    residual, window_frames, jitter, kp_jitter, fit_2d_jitter = [], [], [], [], []
    for r in rows:
        fps, T = float(r["fps"]), int(r["num_frames"])
        with torch.no_grad():
            joints = kin(torch.from_numpy(shards.array(r, "poses")), torch.from_numpy(shards.array(r, "betas")),
                         torch.from_numpy(shards.array(r, "trans"))).numpy()
        conf = shards.array(r, "keypoint_conf")
        seen = conf > 0.3
        third = lambda x: np.diff(x, n=3, axis=0) * fps**3  # noqa: E731
        jitter.append(np.linalg.norm(third(joints), axis=-1).mean())
        kp_jitter.append((np.linalg.norm(third(shards.array(r, "keypoints2d")), axis=-1) * seen[3:]).sum() / max(seen[3:].sum(), 1))
        K = shards.array(r, "K")
        uv = joints[..., :2] / joints[..., 2:] * K[[0, 1], [0, 1]] + K[:2, 2]  # the fit, seen by the camera
        fit_2d_jitter.append((np.linalg.norm(third(uv), axis=-1) * seen[3:]).sum() / max(seen[3:].sum(), 1))
        residual.append(float(shards.array(r, "fit_residual_px").mean()))
        window_frames.append(T)
    # the overlay: the window whose middle frame has the person most spread out (mid-jump)
    best = max(rows, key=lambda r: np.ptp(shards.array(r, "keypoints2d")[int(r["num_frames"]) // 2], axis=0).prod())
    frames, _ = decode(best["frames_mp4"])
    k = int(best["num_frames"]) // 2
    drawn = draw_body(frames[k : k + 1], shards.array(best, "poses")[k : k + 1], shards.array(best, "trans")[k : k + 1],
                      shards.array(best, "betas"), shards.array(best, "K"), body_model)[0]
    return {
        "windows": len(rows), "frames": int(sum(window_frames)), "fps": float(rows[0]["fps"]),
        "residual_px": float(np.average(residual, weights=window_frames)),
        "jitter_m_s3": float(np.average(jitter, weights=window_frames)),
        "keypoint_jitter_px_s3": float(np.average(kp_jitter, weights=window_frames)),
        "fit_2d_jitter_px_s3": float(np.average(fit_2d_jitter, weights=window_frames)),
        "image_size": int(rows[0]["width"]), "overlay": np.concatenate([frames[k], drawn], axis=1),
        "overlay_window": f"{best['clip_id']} frame {k}",
    }


# (PA-MPJPE limit, MPJPE limit or None, in mm) by keypoint noise in px; real motion has its own
TARGETS = {"procedural": {0.0: (25.0, 50.0), 2.0: (35.0, None)},
           "real": {0.0: (35.0, 60.0), 2.0: (45.0, None)}}


def target_met(kind: str, noise_px: float, r: dict) -> tuple[str, str]:
    """The target's text and whether `r` meets it ('-' where none is set)."""
    if noise_px not in TARGETS[kind]:
        return "-", "-"
    pa_max, mpjpe_max = TARGETS[kind][noise_px]
    text = f"PA-MPJPE <= {pa_max:g} mm" + (f", MPJPE <= {mpjpe_max:g} mm" if mpjpe_max else "")
    met = r["pa_mpjpe_mm"] <= pa_max and (mpjpe_max is None or r["mpjpe_mm"] <= mpjpe_max)
    return text, "yes" if met else "no"


def report(corpora: list[tuple[str, str, str]], noise_px: list[float], seed: int, cfg: FitConfig,
           body_model: str) -> tuple[str, dict[str, float]]:
    """What `jobs/evaluate.py --stage fit` prints: a markdown table of the fit on each
    `(row label, metric key, corpus)` at each keypoint noise, with its target (procedural
    motion's for the keys 'procedural' and 'corpus', real motion's for the others), and the
    figures as metrics (`<key>/noise<px>/<name>`)."""
    rows = ["| motion | 2D keypoints | windows | MPJPE (mm) | PA-MPJPE (mm) | 2D residual (px) | converged | fit frames/s a core | "
            "target | met |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    metrics = {}
    for label, key, corpus in corpora:
        ids = corpus_format.CorpusManifest.read(corpus).clip_ids
        for noise in noise_px:
            r = evaluate_fit(corpus, ids, noise, seed, cfg, body_model)
            metrics.update({f"{key}/noise{noise:g}/{k}": v for k, v in r.items() if isinstance(v, float)})
            text, met = target_met("procedural" if key in ("procedural", "corpus") else "real", noise, r)
            rows.append(f"| {label} | ground truth + {noise:g} px noise | {r['windows']} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | "
                        f"{r['residual_px']:.2f} | {r['converged']:.0%} | {r['frames_per_s_core']:.0f} | {text} | {met} |")
    return "\n".join(rows), metrics


def video_table(video: str, r: dict) -> str:
    """What `jobs/evaluate.py --stage fit_video` prints, from `evaluate_fit_on_video`'s result."""
    return (f"fit on a real video: {video} ({r['windows']} windows, {r['frames']} frames at {r['fps']:g} fps, "
            f"{r['image_size']} px, MediaPipe keypoints)\n\n"
            "| 2D residual (px) | 3D joint jitter (m/s^3) | fit's 2D jitter (px/s^3) | detector keypoints' jitter (px/s^3) | overlay |\n"
            "| --- | --- | --- | --- | --- |\n"
            f"| {r['residual_px']:.2f} | {r['jitter_m_s3']:.1f} | {r['fit_2d_jitter_px_s3']:.0f} | {r['keypoint_jitter_px_s3']:.0f} | "
            f"{r['overlay_window']} |")
