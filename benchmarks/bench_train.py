"""Training speed: the local runner against Ray Train, 2 Ray workers against 1, and the
training FLOP/s against a plain matmul's, all in this process on the same data.

    .venv/bin/python benchmarks/bench_train.py [--steps 300] [--hidden 128] [--batch 32]

Every run trains the same motion tokenizer on the same windows (a motion-only procedural
corpus generated once), with the same seed and the same process budget: the local runner
uses 2 torch threads, a single Ray worker gets 1.5 CPU (2 threads, Ray Data keeps the
rest), two workers 0.75 CPU (1 thread) each. Steps/s is the steady rate over the second
half of each run, from the logged step times (start-up and first-epoch reads excluded);
the wall time from the runner's call to its return is shown beside it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

import torch


def run_once(runner: str, cfg, data, workers: int = 1) -> dict:
    import mlflow

    from unimo.models.training import local_runner, ray_runner
    from unimo.models.training.throughput import steady_rate
    from unimo.platform import tracking

    trainer = replace(cfg.trainer, runner=runner, num_workers=workers, run_name=f"bench-{runner}-{workers}-{time.time_ns()}")
    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.create_run(tracking.experiment_id("bench_train"), run_name=trainer.run_name)
    track = {"uri": tracking.tracking_uri(), "run_id": run.info.run_id}
    ckpt = {"stage": cfg.stage, "stage_config": {}, "train_config": {}}
    start = time.perf_counter()
    if runner == "local":
        torch.set_num_threads(2)
        train, val = data["arrays"]
        local_runner.run(cfg.stage, data["stage_config"], trainer, train, val, ckpt, track)
    else:
        train, val = data["datasets"]
        ray_runner.run(cfg.stage, data["stage_config"], trainer, train, val, ckpt, track)
    wall = time.perf_counter() - start
    # the loop logs its cumulative rate at each log step: recover each step's time from it
    hist = sorted(client.get_metric_history(run.info.run_id, "train/steps_per_s"), key=lambda m: m.step)
    times = [(m.step, m.step / m.value) for m in hist]
    return {"steps_per_s": steady_rate(times), "wall_s": wall, "windows_per_step": trainer.batch_size * workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=1024)
    args = parser.parse_args()
    os.environ.setdefault("UNIMO_HOME", tempfile.mkdtemp(prefix="bench_train_"))
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    from unimo.models.training import stages
    from unimo.models.training.accelerator import Accelerator
    from unimo.models.training.batches import InMemoryBatches
    from unimo.models.training.session import TrainConfig
    from unimo.models.training.throughput import flops_per_step, matmul_flops
    from unimo.platform import ray_session

    plugin = stages.get("motion_tokenizer")
    cfg = TrainConfig()
    mt = cfg.motion_tokenizer
    cfg = replace(cfg, motion_tokenizer=replace(mt, data=replace(mt.data, corpus_clips=args.clips, mocap_clips=0, val_windows=64),
                                                model=replace(mt.model, hidden=args.hidden, code_dim=64, codebook_size=512)),
                  trainer=replace(cfg.trainer, steps=args.steps, batch_size=args.batch, lr=1e-3, checkpoint_every=args.steps,
                                  eval_every=10 * args.steps, log_every=10, warmup_steps=20))
    ray_session.connect()
    prepared = plugin.prepare(cfg, use_ray=True)
    arrays = plugin.prepare(cfg, use_ray=False)
    data = {"stage_config": prepared.stage_config, "datasets": (prepared.train, prepared.val), "arrays": (arrays.train, arrays.val)}
    print(f"motion tokenizer hidden {args.hidden}, batch {args.batch}, {args.steps} steps, {prepared.num_train} windows")

    results = {}
    for name, runner, workers in (("local", "local", 1), ("ray, 1 worker", "ray", 1), ("ray, 2 workers", "ray", 2)):
        results[name] = run_once(runner, cfg, data, workers)
        print(f"  {name}: {results[name]['steps_per_s']:.2f} steps/s, wall {results[name]['wall_s']:.0f} s", flush=True)

    torch.set_num_threads(2)
    stage = plugin.make_stage(prepared.stage_config)
    model = stage.build_model()
    acc = Accelerator(torch.device("cpu"))
    batch = next(InMemoryBatches(arrays.train, 0).epoch(args.batch, 0))
    step_flops = flops_per_step(stage, model, batch, acc)
    peak = matmul_flops(torch.device("cpu"), torch.float32, 1024, 5.0)

    local, one, two = results["local"], results["ray, 1 worker"], results["ray, 2 workers"]
    print("\n| run | steps/s | windows/s | wall (s) | vs local |\n| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        wps = r["steps_per_s"] * r["windows_per_step"]
        print(f"| {name} | {r['steps_per_s']:.2f} | {wps:.0f} | {r['wall_s']:.0f} | {wps / (local['steps_per_s'] * local['windows_per_step']):.2f}x |")
    print(f"\nRay overhead, 1 worker against the local runner: {1 - one['steps_per_s'] / local['steps_per_s']:+.1%} of steps/s")
    print(f"2 Ray workers against 1: {two['steps_per_s'] * 2 / one['steps_per_s']:.2f}x windows/s")
    train_flops = step_flops * local["steps_per_s"]
    print(f"training: {step_flops / 1e9:.2f} GFLOP a step, {train_flops / 1e9:.1f} GFLOP/s (local runner); "
          f"plain fp32 matmul 1024^3 on 2 threads: {peak / 1e9:.1f} GFLOP/s; ratio {train_flops / peak:.1%}")


if __name__ == "__main__":
    main()
