"""GPU check: the motion tokenizer at the GPU config, trained in this process by the local
runner, evaluated on the held-out sets, with its throughput.

It needs only torch, numpy, scipy, pyarrow, fsspec, pyyaml, tqdm and smplx (no Ray, MLflow
or PyAV), so it runs on a bare GPU box:

    python benchmarks/gpu_check.py                                 # CUDA, configs/motion_tokenizer_gpu.yaml
    python benchmarks/gpu_check.py trainer.steps=2000              # key=value overrides of that config
    python benchmarks/gpu_check.py --tiny                          # a CPU smoke run (what the tests run)

The held-out real mocap needs bvhtools' files (fetched from the package registry into
~/.cache/unimo, or $UNIMO_CACHE); without them it reports the procedural sets alone and
says so. Prints a markdown report and writes it, with the numbers as JSON, to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "motion_tokenizer_gpu.yaml"))
    parser.add_argument("--tiny", action="store_true", help="tiny model, a few steps, on the CPU")
    parser.add_argument("--out", default="", help="report folder (default: UNIMO_HOME/gpu_check)")
    args, overrides = parser.parse_known_args()

    from unimo.models.motion_tokenizer import evaluation as ev
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.training import local_runner, stages
    from unimo.models.training.accelerator import Accelerator
    from unimo.models.training.batches import InMemoryBatches
    from unimo.models.training.metrics_log import console_line
    from unimo.models.training.throughput import flops_per_step, matmul_flops, steady_rate
    from unimo.models.training.session import TrainConfig
    from unimo.pipelines.registry_data import RegistryDataError
    from unimo.platform import body_model
    from unimo.platform.config import load_config, to_dict
    from unimo.platform.home import home_path

    cfg = load_config(TrainConfig, args.config, overrides)
    plugin = stages.get("motion_tokenizer")
    if args.tiny:
        cfg = plugin.debug_overrides(replace(cfg, debug=True))
        cfg = replace(cfg, trainer=replace(cfg.trainer, use_gpu=False, precision="auto"))
    elif not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device here (--tiny runs the CPU smoke test)")
    # a fresh run each time: a check that resumed an earlier one would measure nothing
    cfg = replace(cfg, trainer=replace(cfg.trainer, run_name=f"gpu-check-{time.strftime('%Y%m%dT%H%M%S')}"))
    out = args.out or home_path("gpu_check" + ("_tiny" if args.tiny else ""))
    os.makedirs(out, exist_ok=True)
    notes = []

    started = time.perf_counter()
    try:
        data = plugin.prepare(cfg, use_ray=False)
    except RegistryDataError as e:  # an offline box: procedural motion only
        notes.append(f"training mocap unavailable ({e}); trained on procedural motion only")
        cfg = replace(cfg, motion_tokenizer=replace(cfg.motion_tokenizer, data=replace(cfg.motion_tokenizer.data, mocap_clips=0)))
        data = plugin.prepare(cfg, use_ray=False)
    data_s = time.perf_counter() - started

    log: list[tuple[int, float]] = []
    last: dict = {}

    def record(metrics: dict, step: int) -> None:
        if "train/steps_per_s" in metrics:  # the loop's rate leaves validation out: a step's training time from it
            log.append((step, step / metrics["train/steps_per_s"]))
        last.update(metrics)
        print(console_line(metrics, step, cfg.trainer.steps), flush=True)

    checkpoint_config = {"stage": cfg.stage, "stage_config": to_dict(data.stage_config), "train_config": to_dict(cfg)}
    started = time.perf_counter()
    result = local_runner.run(cfg.stage, data.stage_config, cfg.trainer, data.train, data.val, checkpoint_config,
                              tracking=None, log=record)
    train_s = time.perf_counter() - started
    steps_per_s = steady_rate(log)

    device = torch.device("cuda") if cfg.trainer.use_gpu else torch.device("cpu")
    acc = Accelerator(device, cfg.trainer.precision)
    stage = plugin.make_stage(data.stage_config)
    model = stage.build_model().to(device)
    batch = next(InMemoryBatches(data.train, 0).epoch(cfg.trainer.batch_size, 0))
    step_flops = flops_per_step(stage, model, batch, acc)
    peak = matmul_flops(device, acc.dtype, 256 if args.tiny else (8192 if device.type == "cuda" else 1024), 0.5 if args.tiny else 3.0)

    with result.as_directory() as folder:
        tok = MotionTokenizerInference.load(folder)
    kin = body_model.load_kinematics(tok.body_model)
    window = cfg.motion_tokenizer.data.window
    try:
        sets = ev.held_out_sets(window, kin)
        training_mocap = ev.mocap_windows(window, 200, kin, split="train")
    except RegistryDataError as e:
        notes.append(f"held-out mocap unavailable ({e}); procedural sets only")
        sets, training_mocap = {"procedural": ("procedural, unseen seeds", ev.procedural_windows(window, 32, kin))}, None
    if args.tiny:
        sets = {k: (name, rows[:16]) for k, (name, rows) in sets.items()}
    evaluation = {key: ev.evaluate(tok, rows) for key, (_, rows) in sets.items()}
    if training_mocap is not None and "mocap" in sets:
        evaluation["mocap"]["nearest_training_pose_mm"] = ev.nearest_pose_mm(sets["mocap"][1][:16] if args.tiny else sets["mocap"][1],
                                                                              training_mocap, kin)

    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__, "precision": str(acc.dtype).replace("torch.", ""), "config": args.config,
        "overrides": overrides, "tiny": args.tiny, "params": sum(p.numel() for p in model.parameters()),
        "train_windows": data.num_train, "steps": result.metrics.get("step"), "batch_size": cfg.trainer.batch_size,
        "data_seconds": data_s, "train_seconds": train_s, "steps_per_s": steps_per_s,
        "windows_per_s": steps_per_s * cfg.trainer.batch_size, "flops_per_step": step_flops,
        "train_flops_per_s": step_flops * steps_per_s, "matmul_flops_per_s": peak,
        "val": {k: v for k, v in last.items() if k.startswith("val/")}, "held_out": evaluation, "notes": notes,
    }
    report["flops_fraction_of_matmul"] = report["train_flops_per_s"] / peak
    text = markdown(report, {key: name for key, (name, _) in sets.items()})
    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "gpu_check.md"), "w") as f:
        f.write(text)
    print("\n" + text + f"\nwritten to {out}")


def markdown(r: dict, names: dict[str, str]) -> str:
    lines = [f"GPU check on {r['device']} (torch {r['torch']}, {r['precision']}): {r['params'] / 1e6:.1f} M parameters, "
             f"{r['train_windows']} training windows, {r['steps']} steps of {r['batch_size']}; data {r['data_seconds']:.0f} s, "
             f"training {r['train_seconds'] / 60:.1f} min.", "",
             "| throughput | value |", "| --- | --- |",
             f"| steps/s (second half of the run) | {r['steps_per_s']:.2f} |",
             f"| windows/s | {r['windows_per_s']:.0f} |",
             f"| training FLOP/s (counted FLOPs x steps/s) | {r['train_flops_per_s'] / 1e12:.3f} T |",
             f"| plain matmul FLOP/s, same device and dtype | {r['matmul_flops_per_s'] / 1e12:.3f} T |",
             f"| training / matmul | {r['flops_fraction_of_matmul']:.1%} |", "",
             "| held-out set | windows | MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) | usage | nearest training pose (mm) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, m in r["held_out"].items():
        nearest = f"{m['nearest_training_pose_mm']:.1f}" if "nearest_training_pose_mm" in m else "-"
        lines.append(f"| {names[key]} | {m['windows']} | {m['mpjpe_mm']:.1f} | {m['pa_mpjpe_mm']:.1f} | {m['pve_mm']:.1f} | "
                     f"{m['accel_err']:.2f} | {m['codebook_usage']:.0%} | {nearest} |")
    return "\n".join(lines + [f"\nNote: {n}" for n in r["notes"]]) + "\n"


if __name__ == "__main__":
    main()
