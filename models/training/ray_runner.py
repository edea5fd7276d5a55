"""The ray runner: the shared loop under Ray Train (TorchTrainer, DDP on N workers).

Ray Data streams each worker its shard of the training examples. Checkpoints go through
`ray.train.report` to the run's storage (shared storage on a cluster); rerunning with the
same run name resumes from the last one, and a failed worker group is replaced and resumed
from it up to `trainer.max_failures` times, without a rerun by hand.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from unimo.models.training.batches import InMemoryBatches
from unimo.models.training.loop import TrainerConfig, train_loop
from unimo.models.training.metrics_log import metrics_log
from unimo.models.training.result import RunResult


def run(stage_name: str, stage_config: Any, trainer: TrainerConfig, train, val, checkpoint_config: dict,
        tracking: dict | None, callbacks: list | None = None) -> RunResult:
    """Driver side: a TorchTrainer over `train_loop_per_worker`, on Ray Datasets."""
    import ray.train
    from ray.data import ExecutionOptions
    from ray.train import DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from unimo.platform import ray_session

    root = _checkpoint_root(trainer)
    resources = ray_session.worker_resources(trainer.num_workers, use_gpu=trainer.use_gpu,
                                             cpus_per_worker=trainer.cpus_per_worker or None)
    trainer_dict = asdict(trainer)
    trainer_dict["cpus_per_worker"] = resources.cpus_per_worker
    result = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"stage": stage_name, "stage_config": stage_config, "trainer": trainer_dict,
                           "checkpoint_config": checkpoint_config, "tracking": tracking},
        scaling_config=ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu,
                                     resources_per_worker={"CPU": resources.cpus_per_worker}),
        run_config=RunConfig(name=trainer.run_name, storage_path=root,
                             checkpoint_config=ray.train.CheckpointConfig(num_to_keep=trainer.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=trainer.max_failures), callbacks=callbacks or []),
        datasets={"train": train, "val": val},
        # the same examples in the same order as the local runner reads them: same seed, same batches
        dataset_config=DataConfig(datasets_to_split=["train"], execution_options=ExecutionOptions(preserve_order=True)),
    ).fit()
    return RunResult(_url(root, result.checkpoint.path), result.checkpoint.as_directory, result.metrics or {})


_RAY_SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train's record of a run's checkpoints


def _checkpoint_root(trainer: TrainerConfig) -> str:
    """Where Ray Train keeps the runs' checkpoints: trainer.storage, or UNIMO_HOME's."""
    from unimo.platform import storage
    from unimo.platform.home import home_path

    return storage.resolve(trainer.storage or home_path("checkpoints"))


def refuse_a_half_written_snapshot(trainer: TrainerConfig) -> None:
    """Ray rewrites its checkpoint snapshot in place, so a run killed mid-write leaves one
    that Ray would fail on, deep in its own stack. Say which file, and what to do, instead."""
    from unimo.models.training.checkpoint import CheckpointError
    from unimo.platform import storage

    path = storage.join(_checkpoint_root(trainer), trainer.run_name, _RAY_SNAPSHOT)
    if storage.exists(path):
        try:
            storage.read_json(path)
        except storage.StorageError:
            raise CheckpointError(f"checkpoint snapshot '{path}' is half-written (the run was killed while Ray saved it): "
                                  "delete it to restart the run from step 0, or pick a new trainer.run_name") from None


def _url(root: str, path: str) -> str:
    """A checkpoint's path as Ray gives it, within its filesystem (`bucket/key` on S3), as
    the storage URL it is: the scheme of the storage root put back."""
    from unimo.platform import storage

    return path if storage.is_local(root) else f"{storage.protocol(root)}://{path.lstrip('/')}"


class RayRuntime:
    """The loop's view of one Ray Train worker."""

    def __init__(self, tc: TrainerConfig):
        import ray.train
        import ray.train.torch

        self.tc = tc
        self.rank = ray.train.get_context().get_world_rank()
        self.device = ray.train.torch.get_device()
        self._train = ray.train.get_dataset_shard("train")
        self._val = ray.train.get_dataset_shard("val")
        self._cached: InMemoryBatches | None = None

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)  # to the device; DDP when there are several workers

    def train_batches(self, batch_size: int, epoch: int):
        if not self.tc.cache_shard:
            return self._train.iter_torch_batches(batch_size=batch_size, drop_last=True, device="cpu",
                                                  local_shuffle_buffer_size=batch_size * 16, local_shuffle_seed=self.tc.seed + epoch)
        if self._cached is None:  # read the shard once, then shuffle it in memory each epoch
            parts = list(self._train.iter_torch_batches(batch_size=4096, device="cpu"))
            self._cached = InMemoryBatches({k: torch.cat([p[k] for p in parts]) for k in parts[0]} if parts else {},
                                           self.tc.seed, self.rank)
        return self._cached.epoch(batch_size, epoch)

    def val_batches(self, batch_size: int):
        return self._val.iter_torch_batches(batch_size=batch_size, device="cpu")

    def restore(self) -> dict | None:
        import ray.train

        from unimo.models.training import checkpoint as ckpt_lib

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            return ckpt_lib.load(folder)

    def report(self, metrics: dict[str, float], checkpoint_folder: str | None) -> None:
        import ray.train
        from ray.train import Checkpoint

        checkpoint = Checkpoint.from_directory(checkpoint_folder) if checkpoint_folder else None
        ray.train.report(metrics, checkpoint=checkpoint)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker: the stage by name, the shared loop."""
    import math

    from unimo.models.training import stages

    tc = TrainerConfig(**config["trainer"])
    if not tc.use_gpu:
        torch.set_num_threads(max(1, math.ceil(tc.cpus_per_worker)))  # 1.5 CPU: 2 threads, Ray Data's reads are light
    stage = stages.get(config["stage"]).make_stage(config["stage_config"])
    runtime = RayRuntime(tc)
    # no console lines: Ray forwards worker output twice, and its own progress is shown
    log = metrics_log(config.get("tracking"), tc.steps, console=False) if runtime.rank == 0 else (lambda m, s: None)
    train_loop(stage, tc, runtime, config["checkpoint_config"], log)
