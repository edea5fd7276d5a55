"""GPU check: a tokenizer at its GPU config, trained in this process by the local runner,
evaluated on held-out data, with its throughput.

It needs only torch, numpy, scipy, pyarrow, fsspec, pyyaml, tqdm and smplx (no Ray, MLflow
or PyAV), so it runs on a bare GPU box:

    python benchmarks/gpu_check.py                                 # the motion tokenizer, configs/motion_tokenizer_gpu.yaml
    python benchmarks/gpu_check.py trainer.steps=2000              # key=value overrides of that config
    python benchmarks/gpu_check.py --stage video_tokenizer         # the video tokenizer, configs/video_tokenizer_gpu.yaml
    python benchmarks/gpu_check.py --tiny [--stage ...]            # a CPU smoke run (what the tests run)

Motion: the held-out real mocap needs bvhtools' files (fetched from the package registry
into ~/.cache/unimo, or $UNIMO_CACHE); without them it reports the procedural sets alone
and says so. Video: with no PyAV to decode mp4, the training and held-out clips are
rendered in memory by local processes (`--workers`, one torch thread each), the same
frames the corpus job would encode, without H.264's losses; the held-out videos use the
evaluation's seed (1000). Prints a markdown report and writes it, with the numbers as JSON,
to --out.
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
    parser.add_argument("--stage", default="motion_tokenizer", choices=["motion_tokenizer", "video_tokenizer"])
    parser.add_argument("--config", default="", help="the training config (default: configs/<stage>_gpu.yaml)")
    parser.add_argument("--tiny", action="store_true", help="tiny model, a few steps, on the CPU")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="video: processes rendering the clips")
    parser.add_argument("--out", default="", help="report folder (default: UNIMO_HOME/gpu_check)")
    args, overrides = parser.parse_known_args()
    args.config = args.config or os.path.join(REPO, "configs", f"{args.stage}_gpu.yaml")

    from unimo.models.training import local_runner, stages
    from unimo.models.training.accelerator import Accelerator
    from unimo.models.training.batches import InMemoryBatches
    from unimo.models.training.data import num_examples
    from unimo.models.training.metrics_log import console_line
    from unimo.models.training.session import TrainConfig
    from unimo.models.training.throughput import flops_per_step, matmul_flops, steady_rate
    from unimo.platform.config import load_config, to_dict
    from unimo.platform.home import home_path

    cfg = load_config(TrainConfig, args.config, overrides)
    if cfg.stage != args.stage:
        sys.exit(f"gpu_check: config '{args.config}' trains stage '{cfg.stage}', not --stage {args.stage}")
    plugin = stages.get(cfg.stage)
    if args.tiny:
        cfg = plugin.debug_overrides(replace(cfg, debug=True))
        cfg = replace(cfg, trainer=replace(cfg.trainer, use_gpu=False, precision="auto"))
    elif not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device here (--tiny runs the CPU smoke test)")
    # a fresh run each time: a check that resumed an earlier one would measure nothing
    cfg = replace(cfg, trainer=replace(cfg.trainer, run_name=f"gpu-check-{time.strftime('%Y%m%dT%H%M%S')}"))
    out = args.out or home_path("gpu_check" + ("_tiny" if args.tiny else ""))
    os.makedirs(out, exist_ok=True)
    notes: list[str] = []
    check = {"motion_tokenizer": MotionCheck, "video_tokenizer": VideoCheck}[cfg.stage](cfg, args, notes)

    started = time.perf_counter()
    stage_config, train, val = check.data(plugin)
    cfg = check.cfg  # as trained (an offline box trains the motion tokenizer without mocap)
    data_s = time.perf_counter() - started

    log: list[tuple[int, float]] = []
    last: dict = {}

    def record(metrics: dict, step: int) -> None:
        if "train/steps_per_s" in metrics:  # the loop's rate leaves validation out: a step's training time from it
            log.append((step, step / metrics["train/steps_per_s"]))
        last.update(metrics)
        print(console_line(metrics, step, cfg.trainer.steps), flush=True)

    checkpoint_config = {"stage": cfg.stage, "stage_config": to_dict(stage_config), "train_config": to_dict(cfg)}
    started = time.perf_counter()
    result = local_runner.run(cfg.stage, stage_config, cfg.trainer, train, val, checkpoint_config, tracking=None, log=record)
    train_s = time.perf_counter() - started
    steps_per_s = steady_rate(log)

    device = torch.device("cuda") if cfg.trainer.use_gpu else torch.device("cpu")
    acc = Accelerator(device, cfg.trainer.precision)
    stage = plugin.make_stage(stage_config)
    model = stage.build_model().to(device)
    batch = next(InMemoryBatches(train, 0).epoch(cfg.trainer.batch_size, 0))
    step_flops = flops_per_step(stage, model, batch, acc)
    peak = matmul_flops(device, acc.dtype, 256 if args.tiny else (8192 if device.type == "cuda" else 1024), 0.5 if args.tiny else 3.0)

    with result.as_directory() as folder:
        evaluation = check.evaluate(folder)

    report = {
        "stage": cfg.stage,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__, "precision": str(acc.dtype).replace("torch.", ""), "config": args.config,
        "overrides": overrides, "tiny": args.tiny, "params": sum(p.numel() for p in model.parameters()),
        "train_examples": num_examples(train), "example": check.example, "steps": result.metrics.get("step"),
        "batch_size": cfg.trainer.batch_size, "data_seconds": data_s, "train_seconds": train_s, "steps_per_s": steps_per_s,
        "examples_per_s": steps_per_s * cfg.trainer.batch_size, "flops_per_step": step_flops,
        "train_flops_per_s": step_flops * steps_per_s, "matmul_flops_per_s": peak,
        "val": {k: v for k, v in last.items() if k.startswith("val/")}, "held_out": evaluation, "notes": notes,
    }
    report["flops_fraction_of_matmul"] = report["train_flops_per_s"] / peak
    text = markdown(report, check.table(evaluation))
    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "gpu_check.md"), "w") as f:
        f.write(text)
    print("\n" + text + f"\nwritten to {out}")


class MotionCheck:
    """The motion tokenizer: procedural and registry mocap windows, evaluated on the held-out sets."""

    example = "window"

    def __init__(self, cfg, args, notes: list[str]):
        self.cfg, self.args, self.notes = cfg, args, notes

    def data(self, plugin):
        from unimo.pipelines.registry_data import RegistryDataError

        try:
            data = plugin.prepare(self.cfg, use_ray=False)
        except RegistryDataError as e:  # an offline box: procedural motion only
            self.notes.append(f"training mocap unavailable ({e}); trained on procedural motion only")
            mt = self.cfg.motion_tokenizer
            self.cfg = replace(self.cfg, motion_tokenizer=replace(mt, data=replace(mt.data, mocap_clips=0)))
            data = plugin.prepare(self.cfg, use_ray=False)
        return data.stage_config, data.train, data.val

    def evaluate(self, folder: str) -> dict:
        from unimo.models.motion_tokenizer import evaluation as ev
        from unimo.models.motion_tokenizer.api import MotionTokenizerInference
        from unimo.pipelines.registry_data import RegistryDataError
        from unimo.platform import body_model

        tok = MotionTokenizerInference.load(folder)
        kin = body_model.load_kinematics(tok.body_model)
        window = self.cfg.motion_tokenizer.data.window
        try:
            sets = ev.held_out_sets(window, kin)
            training_mocap = ev.mocap_windows(window, 200, kin, split="train")
        except RegistryDataError as e:
            self.notes.append(f"held-out mocap unavailable ({e}); procedural sets only")
            sets, training_mocap = {"procedural": ("procedural, unseen seeds", ev.procedural_windows(window, 32, kin))}, None
        if self.args.tiny:
            sets = {k: (name, rows[:16]) for k, (name, rows) in sets.items()}
        self.names = {key: name for key, (name, _) in sets.items()}
        evaluation = {key: ev.evaluate(tok, rows) for key, (_, rows) in sets.items()}
        if training_mocap is not None and "mocap" in sets:
            evaluation["mocap"]["nearest_training_pose_mm"] = ev.nearest_pose_mm(
                sets["mocap"][1][:16] if self.args.tiny else sets["mocap"][1], training_mocap, kin)
        return evaluation

    def table(self, evaluation: dict) -> list[str]:
        lines = ["| held-out set | windows | MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) | usage | nearest training pose (mm) |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for key, m in evaluation.items():
            nearest = f"{m['nearest_training_pose_mm']:.1f}" if "nearest_training_pose_mm" in m else "-"
            lines.append(f"| {self.names[key]} | {m['windows']} | {m['mpjpe_mm']:.1f} | {m['pa_mpjpe_mm']:.1f} | {m['pve_mm']:.1f} | "
                         f"{m['accel_err']:.2f} | {m['codebook_usage']:.0%} | {nearest} |")
        return lines


class VideoCheck:
    """The video tokenizer: clips of rendered procedural videos (no PyAV here), evaluated on
    the held-out seed's clips as `jobs/evaluate.py --stage video_tokenizer` scores them."""

    example = "clip"
    HELD_OUT_SEED = 1000  # the evaluation job's

    def __init__(self, cfg, args, notes: list[str]):
        self.cfg, self.args, self.notes = cfg, args, notes

    def data(self, plugin):
        from unimo.models.video_tokenizer.data import rendered_arrays
        from unimo.models.video_tokenizer.stage import check_clip_shape

        vt = self.cfg.video_tokenizer
        d = vt.data
        check_clip_shape(vt)
        videos, held_out = (24, 4) if self.args.tiny else (d.corpus_clips, 32)
        video_frames = max(d.corpus_frames, d.frames)
        train = rendered_arrays(videos, video_frames, d.frames, d.size, seed=0, workers=self.args.workers, progress=True)
        self.held_out = rendered_arrays(held_out, video_frames, d.frames, d.size, seed=self.HELD_OUT_SEED,
                                        workers=self.args.workers, progress=True)
        val = {k: v[: d.val_clips] for k, v in self.held_out.items()}
        self.notes.append(f"{videos} training videos (seed 0) and {held_out} held-out videos (seed {self.HELD_OUT_SEED}) of "
                          f"{video_frames} frames, rendered at {max(d.size, 64)} px, never H.264-encoded; validation during "
                          f"training on the first {len(val['video'])} held-out clips")
        return vt, train, val

    def evaluate(self, folder: str) -> dict:
        from unimo.models.video_tokenizer import evaluation as ev
        from unimo.models.video_tokenizer.api import VideoTokenizerInference

        device = "cuda" if self.cfg.trainer.use_gpu else "cpu"
        tok = VideoTokenizerInference.load(folder, device=device)
        return {"rendered": ev.evaluate(tok, self.held_out["video"], self.held_out["body"], batch=32)}

    def table(self, evaluation: dict) -> list[str]:
        m = self.cfg.video_tokenizer.model
        lines = [f"Video tokenizer: {m.temporal_factor}x time, {m.spatial_factor}x space, FSQ {m.levels}, hidden {m.hidden}, "
                 f"depth {m.depth}; clips of {self.cfg.video_tokenizer.data.frames} frames at {self.cfg.video_tokenizer.data.size} px.", "",
                 "| held-out set | clips | PSNR (dB) | first-frame PSNR (dB) | body PSNR (dB) | SSIM | codebook usage |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        for key, r in evaluation.items():
            lines.append(f"| rendered clips, seed {self.HELD_OUT_SEED} (no H.264) | {r['clips']} | {r['psnr']:.2f} | "
                         f"{r['psnr_first_frame']:.2f} | {r.get('psnr_body', float('nan')):.2f} | {r['ssim']:.3f} | "
                         f"{r.get('codebook_usage', float('nan')):.0%} |")
        return lines


def markdown(r: dict, table: list[str]) -> str:
    lines = [f"GPU check of the {r['stage']} on {r['device']} (torch {r['torch']}, {r['precision']}): {r['params'] / 1e6:.1f} M "
             f"parameters, {r['train_examples']} training {r['example']}s, {r['steps']} steps of {r['batch_size']}; "
             f"data {r['data_seconds']:.0f} s, training {r['train_seconds'] / 60:.1f} min.", "",
             "| throughput | value |", "| --- | --- |",
             f"| steps/s (second half of the run) | {r['steps_per_s']:.2f} |",
             f"| {r['example']}s/s | {r['examples_per_s']:.0f} |",
             f"| training FLOP/s (counted FLOPs x steps/s) | {r['train_flops_per_s'] / 1e12:.3f} T |",
             f"| plain matmul FLOP/s, same device and dtype | {r['matmul_flops_per_s'] / 1e12:.3f} T |",
             f"| training / matmul | {r['flops_fraction_of_matmul']:.1%} |", "", *table]
    return "\n".join(lines + [f"\nNote: {n}" for n in r["notes"]]) + "\n"


if __name__ == "__main__":
    main()
