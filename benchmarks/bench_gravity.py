"""How well gravity is estimated for real video (no camera): on rendered procedural clips,
where the label camera gives the truth, the estimator (pipelines/gravity.estimate_up) runs
on the SMPL fit of each clip's 2D keypoints, as preprocessing runs it, and its up direction
is compared with the label camera's. Reported, in degrees (mean, median, 90th percentile):

- fit: the estimate from the fit (what shards of real video get);
- truth: the estimate from the true motion seen by the same camera (the cue's own bias,
  with a perfect fit);
- level: assuming a level camera (zero pitch), the baseline an estimate must beat.

    .venv/bin/python benchmarks/bench_gravity.py --clips 40
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from unimo.pipelines import corpus_format, gravity
from unimo.pipelines.corpus import CorpusConfig, clip_id, make_clip
from unimo.pipelines.fit import FitConfig, fit_windows
from unimo.pipelines.motion import rigidly_moved
from unimo.platform import body_model


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def summary(errors: list[float]) -> str:
    e = np.asarray(errors)
    return f"mean {e.mean():5.1f}  median {np.median(e):5.1f}  p90 {np.percentile(e, 90):5.1f}  max {e.max():5.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=FitConfig.iterations, help="fit iterations (the preprocessing default)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    kin = body_model.load_kinematics("standin")
    with tempfile.TemporaryDirectory() as root:
        cfg = CorpusConfig(clips=args.clips, frames=args.frames, size=128, seed=args.seed)
        info = [make_clip(cfg, root, i, [])["info"] for i in range(args.clips)]
        labels = [corpus_format.read_label(corpus_format.label_path(root, clip_id(i))) for i in range(args.clips)]
    start = time.perf_counter()
    fit = fit_windows(np.stack([lb["keypoints2d"] for lb in labels]), np.stack([lb["visibility"] for lb in labels]).astype(np.float32),
                      np.stack([lb["K"] for lb in labels]), kin, FitConfig(iterations=args.iterations))
    seconds = time.perf_counter() - start
    errors: dict[str, list[float]] = {"fit": [], "truth": [], "level": []}
    by_family: dict[str, list[float]] = {}
    for i, lb in enumerate(labels):
        true_up = lb["R"][0][:, 1].astype(np.float64)  # world +y in the first frame's camera
        cam_poses, cam_trans = rigidly_moved(lb["poses"], lb["trans"], lb["betas"], lb["R"], lb["t"], kin)
        errors["fit"].append(angle_deg(gravity.estimate_up(fit.poses[i], fit.trans[i], fit.betas[i], kin), true_up))
        errors["truth"].append(angle_deg(gravity.estimate_up(cam_poses, cam_trans, lb["betas"], kin), true_up))
        errors["level"].append(angle_deg(np.array([0.0, -1.0, 0.0]), true_up))
        by_family.setdefault(info[i].get("family", "?"), []).append(errors["fit"][-1])
    print(f"{args.clips} rendered procedural clips of {args.frames} frames at 128 px (seed {args.seed}); fit: "
          f"{args.iterations} iterations, {seconds:.0f} s, mean residual {fit.residual_px.mean():.1f} px")
    print("error of gravity's up direction (degrees):")
    for name, e in errors.items():
        print(f"  {name:6s} {summary(e)}")
    print("  from the fit, by motion family: " + ", ".join(f"{f} {np.mean(e):.1f} ({len(e)})" for f, e in sorted(by_family.items())))


if __name__ == "__main__":
    main()
