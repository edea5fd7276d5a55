"""The local runner: the shared loop in this process, without Ray.

For debugging and profiling, for measuring what Ray costs, and for training on a GPU box
where only torch is installed. Same stage, same loop body, same checkpoint files and
resume (rerun with the same run name), same MLflow logging when a run is given. The
examples come in as arrays (read with plain pyarrow and numpy, see
`unimo.models.training.data`) and stay in memory; nothing here imports Ray.

Checkpoints: `<storage>/<run name>/checkpoint_<step>/state.pt`, the newest
`trainer.keep_checkpoints` kept. Each file is written atomically (see `storage.write_bytes`),
so a killed run never leaves a half-written one that resume would pick.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from typing import Any

import numpy as np
import torch

from unimo.models.training import checkpoint as ckpt_lib
from unimo.models.training.accelerator import pick_device
from unimo.models.training.batches import InMemoryBatches
from unimo.models.training.loop import TrainerConfig, train_loop
from unimo.models.training.metrics_log import MetricsLog, metrics_log
from unimo.models.training.result import RunResult
from unimo.platform import storage

_CHECKPOINT = re.compile(r"checkpoint_(\d+)$")


class LocalRuntime:
    rank = 0

    def __init__(self, tc: TrainerConfig, train: dict[str, np.ndarray], val: dict[str, np.ndarray], run_dir: str):
        self.tc, self.run_dir = tc, run_dir
        self.device = pick_device(tc.use_gpu)
        self._train = InMemoryBatches(train, tc.seed)
        self._val = InMemoryBatches(val, tc.seed)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def train_batches(self, batch_size: int, epoch: int):
        return self._train.epoch(batch_size, epoch)

    def val_batches(self, batch_size: int):
        return self._val.in_order(batch_size)

    def checkpoints(self) -> list[tuple[int, str]]:
        """(step, folder) of every complete checkpoint of the run, oldest first."""
        found = []
        for path in storage.glob(storage.join(self.run_dir, "checkpoint_*", ckpt_lib.FILENAME)):
            folder = path.rsplit("/", 1)[0]
            match = _CHECKPOINT.search(folder)
            if match:
                found.append((int(match.group(1)), folder))
        return sorted(found)

    def restore(self) -> dict | None:
        found = self.checkpoints()
        if not found:
            return None
        with _local_copy(found[-1][1]) as folder:
            return ckpt_lib.load(folder)

    def report(self, metrics: dict[str, float], checkpoint_folder: str | None) -> None:
        if checkpoint_folder is None:
            return
        final = storage.join(self.run_dir, f"checkpoint_{int(metrics['step']):08d}", ckpt_lib.FILENAME)
        with open(os.path.join(checkpoint_folder, ckpt_lib.FILENAME), "rb") as f:
            storage.write_bytes(final, f.read())  # atomic: complete, or not there at all
        for _, old in self.checkpoints()[: -self.tc.keep_checkpoints]:
            storage.remove(old, recursive=True)


@contextlib.contextmanager
def _local_copy(folder: str):
    """A checkpoint folder as a local path (downloaded when it is a URL)."""
    if storage.is_local(folder):
        yield storage.resolve(folder).removeprefix("file://")
        return
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, ckpt_lib.FILENAME), "wb") as f:
            f.write(storage.read_bytes(storage.join(folder, ckpt_lib.FILENAME)))
        yield tmp


def run(stage_name: str, stage_config: Any, trainer: TrainerConfig, train: dict[str, np.ndarray], val: dict[str, np.ndarray],
        checkpoint_config: dict, tracking: dict | None, log: MetricsLog | None = None) -> RunResult:
    """Train in this process; `log` defaults to MLflow (when `tracking` is given) and the console."""
    from unimo.models.training import stages
    from unimo.platform.home import home_path

    run_dir = storage.join(storage.resolve(trainer.storage or home_path("checkpoints")), trainer.run_name)
    runtime = LocalRuntime(trainer, train, val, run_dir)
    stage = stages.get(stage_name).make_stage(stage_config)
    metrics = train_loop(stage, trainer, runtime, checkpoint_config, log or metrics_log(tracking, trainer.steps))
    last = runtime.checkpoints()[-1][1]
    return RunResult(last, lambda: _local_copy(last), metrics)

