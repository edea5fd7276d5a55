"""The SMPL fit on a GPU against one CPU core: frames a second as the batch of windows
grows, and the two devices' fits of the same windows scored against the truth. The CPU
core fits as preprocessing's CPU fit actors do, `fit.CPU_WINDOWS_A_CALL` (32) windows a call.

    python benchmarks/bench_fit_device.py              # CUDA (fails with one line where there is none)
    python benchmarks/bench_fit_device.py --device cpu --batches 4,64   # the CPU's own batch scaling
    python benchmarks/bench_fit_device.py --tiny       # a CPU smoke run, both sides on the CPU (the tests)

On a GPU the fit is launch-bound: each Adam step walks the 24-joint tree in a few hundred
small kernels, whatever the batch, so what it costs a frame falls with the windows a call
until the GPU is busy. This measures where that is, for `preprocess.gpu_fit_batch`.

Windows: procedural motion (the corpus's families, 32 frames at 30 fps) seen by the
corpus's random cameras, exact 2D keypoints of all joints. No Ray, PyAV or MLflow, so it
runs on a bare GPU box: it needs smplx (the stand-in body) and the fit's lifter, from
UNIMO_LIFTER or the cache (else it trains one first, about 7 minutes on a core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

import numpy as np
import torch

HOURS_OF_VIDEO = 1000 * 3600 * 30  # frames in 1,000 hours at 30 fps


def windows(count: int, frames: int, seed: int = 0):
    """(keypoints (B, T, 24, 2), K (B, 3, 3), true camera-frame joints (B, T, 24, 3))."""
    from unimo.pipelines import procedural, synthetic
    from unimo.platform import body_model, render

    kin = body_model.load_kinematics(body_model.STANDIN)
    kps, Ks, truths = [], [], []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        family = procedural.FAMILIES[int(rng.integers(len(procedural.FAMILIES)))]
        motion = procedural.generate(family, frames, 30.0, rng, kin)
        with torch.no_grad():
            world = kin(torch.from_numpy(motion.poses), torch.from_numpy(motion.betas), torch.from_numpy(motion.trans))
        K, R, t = synthetic.random_camera(rng, world[:, 0].numpy(), 256, 30.0)
        uv, _ = render.project(world, K, R, t)  # the corpus labels' projection
        kps.append(uv.numpy())
        Ks.append(K.numpy())
        truths.append(world @ R.transpose(1, 2) + t[:, None])
    return np.stack(kps).astype(np.float32), np.stack(Ks).astype(np.float32), torch.stack(truths)


def timed_fit(kp, K, cfg, device: str):
    """Seconds for one fit of all windows on `device`, after a warm-up call, and its result."""
    from unimo.pipelines.fit import fit_windows
    from unimo.platform import body_model

    kin = body_model.load_kinematics(body_model.STANDIN)
    vis = np.ones(kp.shape[:3], np.float32)
    cfg = replace(cfg, device=device)
    fit_windows(kp[:1], vis[:1], K[:1], kin, replace(cfg, iterations=4))  # warm-up: lifter, CUDA context
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    result = fit_windows(kp, vis, K, kin, cfg)
    sync()
    return time.perf_counter() - start, result


def pa_mpjpe_mm(result, truth) -> float:
    from unimo.platform import body_model, motion_metrics

    kin = body_model.load_kinematics(body_model.STANDIN)
    B, T = result.poses.shape[:2]
    with torch.no_grad():
        fitted = kin(torch.from_numpy(result.poses.reshape(B * T, 72)), torch.from_numpy(result.betas).repeat_interleave(T, 0),
                     torch.from_numpy(result.trans.reshape(B * T, 3))).reshape(B, T, 24, 3)
        return float(np.mean([float(motion_metrics.pa_mpjpe(fitted[b], truth[b])) for b in range(B)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a few small windows, both sides on the CPU")
    parser.add_argument("--device", default="cuda", help="the device measured against one CPU core (fit.device's values)")
    parser.add_argument("--batches", default="4,64,256,1024", help="windows a fit call on the device")
    parser.add_argument("--cpu_windows", type=int, default=64, help="windows the one-core CPU fit times")
    parser.add_argument("--cpu_batch", type=int, default=0,
                        help="windows a CPU fit call (default: preprocessing's CPU fit actors', fit.CPU_WINDOWS_A_CALL)")
    parser.add_argument("--out", default="", help="also write the numbers as JSON here")
    args = parser.parse_args()

    from unimo.pipelines.fit import CPU_WINDOWS_A_CALL, FitConfig, fit_device
    from unimo.platform.errors import UnimoError

    torch.set_num_threads(1)  # the CPU side is one core, as one preprocessing fit actor
    cfg = FitConfig(iterations=20) if args.tiny else FitConfig()
    frames = 8 if args.tiny else 32
    device = "cpu" if args.tiny else args.device
    try:
        checked = fit_device(device)  # a device this machine lacks: one line, before any work
    except UnimoError as e:
        sys.exit(f"bench_fit_device: {e}")
    name = torch.cuda.get_device_name(checked) if checked.type == "cuda" else "1 thread"
    batches = [2, 4] if args.tiny else [int(b) for b in args.batches.split(",")]
    cpu_windows = 4 if args.tiny else args.cpu_windows
    cpu_batch = min(4 if args.tiny else args.cpu_batch or CPU_WINDOWS_A_CALL, cpu_windows)
    kp, K, truth = windows(max(batches + [cpu_windows]), frames)

    cpu_seconds, cpu_pa = 0.0, []
    for i in range(0, cpu_windows, cpu_batch):
        seconds, result = timed_fit(kp[i : i + cpu_batch], K[i : i + cpu_batch], cfg, "cpu")
        cpu_seconds += seconds
        cpu_pa += [pa_mpjpe_mm(result, truth[i : i + cpu_batch])] * len(result.poses)  # weighed by windows
    cpu_fps = cpu_windows * frames / cpu_seconds
    rows = [{"device": "cpu (1 thread)", "windows_a_call": cpu_batch, "frames_per_s": cpu_fps, "vs_one_core": 1.0,
             "pa_mpjpe_mm": float(np.mean(cpu_pa)), "windows_scored": cpu_windows}]
    for batch in batches:
        seconds, result = timed_fit(kp[:batch], K[:batch], cfg, device)
        fps = batch * frames / seconds
        rows.append({"device": f"{device} ({name})", "windows_a_call": batch, "frames_per_s": fps, "vs_one_core": fps / cpu_fps,
                     "pa_mpjpe_mm": pa_mpjpe_mm(result, truth[:batch]), "windows_scored": batch})

    print(f"\nSMPL fit, {cfg.iterations} iterations a window of {frames} frames; {name} against one CPU core\n")
    print("| device | windows a call | frames/s | vs one core | device-hours per 1,000 h of video | PA-MPJPE (mm) | windows scored |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['device']} | {r['windows_a_call']} | {r['frames_per_s']:.0f} | {r['vs_one_core']:.1f}x | "
              f"{HOURS_OF_VIDEO / r['frames_per_s'] / 3600:.0f} | {r['pa_mpjpe_mm']:.1f} | {r['windows_scored']} |")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"iterations": cfg.iterations, "frames": frames, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
