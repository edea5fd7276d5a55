"""Preprocessing speed, each figure a ratio against a baseline run in the same process:

1. decode stage (PyAV decode, resample, scale and crop) vs a plain PyAV decode loop over
   the same files, in source frames per second (target >= 0.8x);
2. SMPL fitting on the joints-only kinematics vs the same fit, for the same number of
   iterations, through smplx's full mesh (target >= 30x);
3. the default fit (learned initialisation) vs the prior-mode search it replaced, each with
   its own default iterations, in frames per second on one core;
4. the whole pipeline (jobs/preprocess.py's run_preprocess, default config) on a 2-CPU Ray
   vs a 1-CPU Ray, each in a fresh process (target >= 1.7x); from the 2-CPU run, frames a
   second a core end to end (target >= 30) and the core-hours 1,000 hours of 30 fps video
   would cost;
5. with --fit-batches 4,16,64 (instead of 1-4): the 2-CPU pipeline once for each `fit_batch`
   (at most that many windows a fit actor fits in one call), in that order, frames a second
   a core and the ratio against the latest run of the first value before it.
   The fit's result does not depend on the batch (each window's loss is its own and Adam
   is elementwise; tests/pipelines/test_fit.py), so only the speed is compared.

    .venv/bin/python benchmarks/bench_preprocess.py
    .venv/bin/python benchmarks/bench_preprocess.py --clips 64 --fit-batches 4,32,4,32
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time

import av
import numpy as np
import torch

from unimo.pipelines import corpus_format
from unimo.pipelines.corpus import CorpusConfig, make_clip
from unimo.pipelines.decode import DecodeConfig, decode_resampled
from unimo.pipelines.fit import FitConfig, fit_windows
from unimo.platform import body_model, storage


class FullMeshJoints:
    """Baseline kinematics for the fit: smplx's full forward pass (6890-vertex skinning)."""

    def __init__(self, spec: str):
        self.smpl = body_model.load_smpl(spec)
        self.fast = body_model.load_kinematics(spec)
        self.num_betas = self.fast.num_betas
        self.rest_joints = self.fast.rest_joints  # only used to initialise
        self.j_template, self.j_shapedirs = self.fast.j_template, self.fast.j_shapedirs  # names the lifter

    def __call__(self, poses, betas, trans):
        out = self.smpl(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=betas, transl=trans)
        return out.joints[:, :24]

    def forward_matrices(self, rots, betas, trans):
        """The fit's path: local rotation matrices (B, 24, 3, 3) in, through the whole mesh."""
        out = self.smpl(global_orient=rots[:, :1], body_pose=rots[:, 1:], betas=betas, transl=trans, pose2rot=False)
        return out.joints[:, :24], None


def plain_decode(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for f in c.decode(stream) if f.to_ndarray(format="rgb24") is not None)


def bench_decode(videos: list[bytes], size: int, rounds: int = 5) -> dict:
    """Alternate the two, several rounds, and compare medians: on a small shared machine a
    single pass of each drifts by +-15%."""
    cfg = DecodeConfig(size=size)
    for data in videos[:1]:
        plain_decode(data), decode_resampled(data, "warm-up", cfg)
    plain, stage = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n_plain = sum(plain_decode(d) for d in videos)
        t1 = time.perf_counter()
        n_stage = sum(len(decode_resampled(d, "bench", cfg)[0]) for d in videos)
        t2 = time.perf_counter()
        assert n_plain == n_stage
        plain.append(n_plain / (t1 - t0))
        stage.append(n_stage / (t2 - t1))
    p, s = float(np.median(plain)), float(np.median(stage))
    return {"plain_fps": p, "stage_fps": s, "ratio": s / p, "rounds": rounds}


def bench_fit(labels: list[dict], iterations: int) -> dict:
    torch.set_num_threads(1)
    kp = np.stack([lb["keypoints2d"] for lb in labels])
    vis = np.ones(kp.shape[:3], np.float32)
    K = np.stack([lb["K"] for lb in labels])
    cfg = FitConfig(iterations=iterations)
    frames = kp.shape[0] * kp.shape[1]
    fast = body_model.load_kinematics(body_model.STANDIN)
    fit_windows(kp[:1], vis[:1], K[:1], fast, FitConfig(iterations=2))  # warm-up (and the lifter, loaded)
    t0 = time.perf_counter()
    fit_windows(kp, vis, K, fast, cfg)
    t1 = time.perf_counter()
    fit_windows(kp, vis, K, FullMeshJoints(body_model.STANDIN), cfg)
    t2 = time.perf_counter()
    return {"fast_frame_iters": frames * iterations / (t1 - t0), "mesh_frame_iters": frames * iterations / (t2 - t1),
            "ratio": (t2 - t1) / (t1 - t0)}


SEARCH = FitConfig(init="search", iterations=400, gmm_prior=0.1, smooth_joints=2e3)  # the fit before the lifter


def bench_fit_speed(labels: list[dict]) -> dict:
    """Frames a second on one core: the default fit against the search it replaced."""
    torch.set_num_threads(1)
    kp = np.stack([lb["keypoints2d"] for lb in labels])
    vis, K = np.ones(kp.shape[:3], np.float32), np.stack([lb["K"] for lb in labels])
    fast = body_model.load_kinematics(body_model.STANDIN)
    fit_windows(kp[:1], vis[:1], K[:1], fast, FitConfig(init="search", iterations=4))  # warm-up: the GMM prior
    speed = {}
    for name, cfg in (("learned", FitConfig()), ("search", SEARCH)):
        t0 = time.perf_counter()
        fit_windows(kp, vis, K, fast, cfg)
        speed[name] = kp.shape[0] * kp.shape[1] / (time.perf_counter() - t0)
    return {"learned_fps": speed["learned"], "search_fps": speed["search"], "ratio": speed["learned"] / speed["search"]}


def run_pipeline(corpus: str, out: str, cpus: int, overrides: tuple[str, ...] = ()) -> tuple[float, int]:
    """The whole pipeline in a fresh process with a fresh Ray of `cpus` CPUs: wall seconds,
    and the windows a fit call it used."""
    args = [f"input={corpus}/videos", f"output={out}", "keypoints=labels", *overrides]
    code = (
        "import sys, time; from unimo.platform import ray_session; "
        f"ray_session.connect(num_cpus={cpus}, include_dashboard=False); "
        "from unimo.platform.config import load_config; "
        "from unimo.pipelines.preprocess import PreprocessConfig, run_preprocess; "
        f"cfg = load_config(PreprocessConfig, None, {args!r}); "
        "t = time.perf_counter(); s = run_preprocess(cfg); print('SECONDS', time.perf_counter() - t, s.fit_batch)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "RAY_DATA_DISABLE_PROGRESS_BARS": "1"})
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("SECONDS")][-1]
    return float(line.split()[1]), int(line.split()[2])


def bench_fit_batches(corpus: str, tmp: str, batches: list[int], frames: int) -> None:
    """The 2-CPU pipeline once per fit_batch, each into a fresh output (else it resumes);
    each run against the latest run of the first value before it (this machine drifts)."""
    runs = []
    for i, b in enumerate(batches):
        seconds, used = run_pipeline(corpus, os.path.join(tmp, f"out_run{i}"), 2, (f"fit_batch={b}",))
        runs.append({"fit_batch": b, "windows_a_call": used, "seconds": seconds, "frames_per_s_core": frames / seconds / 2})
    print(json.dumps({"fit_batch_2cpu": runs}, indent=1))
    print(f"\n| fit_batch (2 CPUs, in run order) | windows a call used | seconds | frames/s a core | "
          f"core-hours per 1,000 h | vs the last fit_batch={batches[0]} before it |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = None
    for r in runs:
        ratio = f"{base / r['seconds']:.2f}x" if base and r["fit_batch"] != batches[0] else "-"
        if r["fit_batch"] == batches[0]:
            base = r["seconds"]
        print(f"| {r['fit_batch']} | {r['windows_a_call']} | {r['seconds']:.1f} | {r['frames_per_s_core']:.1f} | "
              f"{1000 * 30 / r['frames_per_s_core']:.0f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--fit-iterations", type=int, default=30)
    parser.add_argument("--fit-batches", default="",
                        help="comma-separated fit_batch values: run only the 2-CPU pipeline, once per value, in this order")
    args = parser.parse_args()
    fit_batches = [int(b) for b in args.fit_batches.split(",") if b]

    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus")
        cfg = CorpusConfig(clips=args.clips, frames=args.frames, size=256, seed=77)
        for i in range(args.clips):
            make_clip(cfg, corpus, i, [])
        if fit_batches:
            return bench_fit_batches(corpus, tmp, fit_batches, args.clips * args.frames)
        ids = [f"clip_{i:06d}" for i in range(args.clips)]
        videos = [storage.read_bytes(corpus_format.video_path(corpus, c)) for c in ids]
        labels = [corpus_format.read_label(corpus_format.label_path(corpus, c)) for c in ids]

        decode = bench_decode(videos, size=128)
        fit = bench_fit(labels[:4], args.fit_iterations)
        speed = bench_fit_speed(labels[:4])
        one, _ = run_pipeline(corpus, os.path.join(tmp, "out1"), 1)
        two, _ = run_pipeline(corpus, os.path.join(tmp, "out2"), 2)

    frames = args.clips * args.frames
    per_core = frames / two / 2
    results = {
        "decode": decode, "fit": fit, "fit_speed": speed,
        "pipeline": {"seconds_1cpu": one, "seconds_2cpu": two, "ratio": one / two, "frames_per_s_core": per_core,
                     "core_hours_per_1000_h_30fps": 1000 * 3600 * 30 / per_core / 3600},
    }
    print(json.dumps(results, indent=1))
    print("\n| measure | ours | baseline | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| decode stage vs plain PyAV loop (256 px H.264 -> 128 px) | {decode['stage_fps']:.0f} frames/s | "
          f"{decode['plain_fps']:.0f} frames/s | {decode['ratio']:.2f}x | >= 0.8x |")
    print(f"| fit, joints-only vs smplx full mesh ({args.fit_iterations} iterations) | {fit['fast_frame_iters']:.0f} frame-it/s | "
          f"{fit['mesh_frame_iters']:.0f} frame-it/s | {fit['ratio']:.1f}x | >= 30x |")
    print(f"| fit speed, learned init vs prior-mode search (one core, 4 windows) | {speed['learned_fps']:.1f} frames/s | "
          f"{speed['search_fps']:.1f} frames/s | {speed['ratio']:.1f}x | - |")
    print(f"| whole pipeline, 2 CPUs vs 1 ({args.clips} clips x {args.frames} frames) | {two:.1f} s | {one:.1f} s | "
          f"{one / two:.2f}x | >= 1.7x |")
    print(f"\nend to end on 2 CPUs: {per_core:.1f} frames/s a core (target >= 30); 1,000 hours of 30 fps video: "
          f"{results['pipeline']['core_hours_per_1000_h_30fps']:.0f} core-hours")


if __name__ == "__main__":
    main()
