"""The Ray Train loop every stage shares (TorchTrainer, DDP on N workers).

A stage (see `Stage`) supplies the model, the loss of a batch and validation metrics. The
loop owns the rest: data shards, optimiser and schedule, checkpoints every N steps through
`ray.train.report`, automatic resume from `ray.train.get_checkpoint()` (rerun with the same
run name), and metrics to the MLflow run the driver opened (rank 0 logs them).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from unimo.platform.config import option


@dataclass
class TrainerConfig:
    num_workers: int = option(1, help="Ray Train workers (DDP)")
    steps: int = option(2000, help="optimiser steps in all (a resumed run continues to this)")
    batch_size: int = option(64, help="windows per step per worker")
    lr: float = option(2e-4, help="peak learning rate (AdamW)")
    weight_decay: float = option(0.0, help="AdamW weight decay")
    warmup_steps: int = option(100, help="linear warm-up steps")
    checkpoint_every: int = option(500, help="steps between checkpoints")
    eval_every: int = option(500, help="steps between validations")
    log_every: int = option(25, help="steps between logged losses")
    run_name: str = option("", help="names the run: rerun with the same name to resume (default: the stage name)")
    storage: str = option("", help="where checkpoints go (default: UNIMO_HOME/checkpoints; shared storage on clusters)")
    cpus_per_worker: float = option(0.0, help="CPUs per worker (0: sized so Ray Data keeps CPU to feed them)")
    use_gpu: bool = option(False, help="one GPU per worker")
    seed: int = option(0, help="random seed")
    cache_shard: bool = option(True, help="keep the worker's data shard in memory after the first epoch (small datasets)")


class Stage(Protocol):
    """What a training stage provides; built on every worker from its config."""

    name: str

    def build_model(self) -> torch.nn.Module: ...

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]: ...

    def validate(self, model: torch.nn.Module, batches) -> dict[str, float]: ...


def _log_to_mlflow(tracking: dict | None, metrics: dict[str, float], step: int) -> None:
    if not tracking:
        return
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking["uri"])
    now = int(time.time() * 1000)
    client.log_batch(tracking["run_id"], metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def run(stage_factory, stage_config: Any, trainer: TrainerConfig, datasets: dict, checkpoint_config: dict, tracking: dict | None,
        callbacks: list | None = None):
    """Driver side: a TorchTrainer over `train_loop_per_worker`; returns the Ray Train result.
    Rerunning with the same `trainer.run_name` and storage resumes from the last checkpoint."""
    from dataclasses import asdict

    import ray.train
    from ray.train import DataConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from unimo.platform import ray_session, storage
    from unimo.platform.home import home_path

    resources = ray_session.worker_resources(trainer.num_workers, use_gpu=trainer.use_gpu,
                                             cpus_per_worker=trainer.cpus_per_worker or None)
    trainer_dict = asdict(trainer)
    trainer_dict["cpus_per_worker"] = resources.cpus_per_worker
    result = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"make_stage": stage_factory, "stage_config": stage_config, "trainer": trainer_dict,
                           "checkpoint_config": checkpoint_config, "tracking": tracking},
        scaling_config=ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu,
                                     resources_per_worker={"CPU": resources.cpus_per_worker}),
        run_config=RunConfig(name=trainer.run_name, storage_path=storage.resolve(trainer.storage or home_path("checkpoints")),
                             checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2), callbacks=callbacks or []),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=["train"]),
    ).fit()
    return result


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker. `config`: stage factory and its config, trainer
    config (as a dict), tracking (MLflow URI and run id)."""
    import ray.train
    import ray.train.torch
    from ray.train import Checkpoint

    from unimo.models.training import checkpoint as ckpt_lib
    from unimo.models.training.schedule import warmup_cosine

    tc = TrainerConfig(**config["trainer"])
    torch.manual_seed(tc.seed)
    if not tc.use_gpu:
        torch.set_num_threads(max(1, math.ceil(tc.cpus_per_worker)))  # 1.5 CPU: 2 threads, Ray Data's reads are light
    stage: Stage = config["make_stage"](config["stage_config"])
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()

    model = stage.build_model()
    step = 0
    resume = ray.train.get_checkpoint()
    state = None
    if resume:
        with resume.as_directory() as folder:
            state = ckpt_lib.load(folder)
        model.load_state_dict(state["model"])
        step = state["step"]
    model = ray.train.torch.prepare_model(model)
    raw = model.module if hasattr(model, "module") else model
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = warmup_cosine(opt, tc.steps, tc.warmup_steps)
    if state is not None and state["optimizer"] is not None:
        opt.load_state_dict(state["optimizer"])
        sched.last_epoch = step - 1
        sched.step()

    train = ray.train.get_dataset_shard("train")
    val = ray.train.get_dataset_shard("val")
    device = ray.train.torch.get_device()
    started, t0 = step, time.perf_counter()
    cached: dict | None = None  # the worker's shard, once read, when cache_shard is on
    shuffle = torch.Generator().manual_seed(tc.seed + rank)
    while step < tc.steps:
        epoch_start, seen = step, []
        if cached is None:
            batches = train.iter_torch_batches(batch_size=tc.batch_size, drop_last=True, device=device)
        else:
            order = torch.randperm(len(next(iter(cached.values()))), generator=shuffle)
            batches = ({k: v[idx] for k, v in cached.items()} for idx in order.split(tc.batch_size) if len(idx) == tc.batch_size)
        for batch in batches:
            if tc.cache_shard and cached is None:
                seen.append(batch)
            model.train()
            loss, terms = stage.loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            metrics = {}
            if rank == 0 and (step % tc.log_every == 0 or step == tc.steps):
                metrics.update({f"train/{k}": v for k, v in terms.items()})
                metrics["train/lr"] = sched.get_last_lr()[0]
                metrics["train/steps_per_s"] = (step - started) / (time.perf_counter() - t0)
            if step % tc.eval_every == 0 or step == tc.steps:
                if rank == 0:
                    raw.eval()
                    with torch.no_grad():
                        metrics.update({f"val/{k}": v for k, v in stage.validate(raw, val.iter_torch_batches(batch_size=tc.batch_size, device=device)).items()})
            if rank == 0 and metrics:
                _log_to_mlflow(config.get("tracking"), metrics, step)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                with tempfile.TemporaryDirectory() as tmp:
                    checkpoint = None
                    if rank == 0:
                        ckpt_lib.save(tmp, model=raw, optimizer=opt, step=step, config=config["checkpoint_config"])
                        checkpoint = Checkpoint.from_directory(tmp)
                    ray.train.report({"step": step, "loss": float(loss.detach()), **metrics}, checkpoint=checkpoint)
            if step >= tc.steps:
                break
        if step == epoch_start:  # an epoch without one full batch would loop forever
            raise RuntimeError(f"worker {rank}: its data shard has fewer than batch_size={tc.batch_size} windows")
        if seen and step < tc.steps:  # a whole epoch was read: serve the next ones from memory
            cached = {k: torch.cat([b[k] for b in seen]) for k in seen[0]}
