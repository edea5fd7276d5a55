"""The training loop every stage and every runner shares, written once.

A stage (`Stage`) supplies the model, the loss of a batch and validation metrics. A runner
supplies a `Runtime`: the rank, the device, the data, where checkpoints go and how they
are restored (Ray Train on N workers, or one local process). The loop owns the rest:
precision and device placement (`Accelerator`), optimiser and schedule, checkpoints every
N steps, resume from the last one, and metrics to the run log (rank 0).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Literal, Protocol

import torch

from unimo.models.training.accelerator import Accelerator
from unimo.models.training.checkpoint import save as save_checkpoint
from unimo.models.training.schedule import warmup_cosine
from unimo.platform.config import option


@dataclass
class TrainerConfig:
    runner: Literal["ray", "local"] = option("ray", help="ray: Ray Train (TorchTrainer, DDP on num_workers); local: one process, no Ray")
    num_workers: int = option(1, help="ray: Ray Train workers (DDP)")
    steps: int = option(2000, help="optimiser steps in all (a resumed run continues to this)")
    batch_size: int = option(64, help="examples per step per worker")
    lr: float = option(2e-4, help="peak learning rate (AdamW)")
    weight_decay: float = option(0.0, help="AdamW weight decay")
    warmup_steps: int = option(100, help="linear warm-up steps")
    checkpoint_every: int = option(500, help="steps between checkpoints")
    eval_every: int = option(500, help="steps between validations")
    log_every: int = option(25, help="steps between logged losses")
    run_name: str = option("", help="names the run: rerun with the same name to resume (default: the stage name)")
    storage: str = option("", help="where checkpoints go (default: UNIMO_HOME/checkpoints; shared storage on clusters)")
    keep_checkpoints: int = option(2, help="checkpoints kept per run (the newest)")
    cpus_per_worker: float = option(0.0, help="ray: CPUs per worker (0: sized so Ray Data keeps CPU to feed them)")
    use_gpu: bool = option(False, help="train on CUDA (ray: one GPU per worker)")
    precision: Literal["auto", "fp32", "bf16"] = option("auto", help="auto: bf16 autocast on CUDA, fp32 on the CPU")
    compile: bool = option(False, help="torch.compile the model (pays off on GPUs, on long runs)")
    max_failures: int = option(3, help="ray: times a failed worker group is replaced and resumed from the last checkpoint")
    seed: int = option(0, help="random seed (model init, augmentation, shuffling)")
    cache_shard: bool = option(True, help="ray: hold the worker's data shard in memory and shuffle it each epoch (else stream it)")

    def __post_init__(self):
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}")

    def for_debug(self, max_batch: int) -> "TrainerConfig":
        """A few steps, small batches, frequent checkpoints and validation (`--debug`)."""
        return replace(self, steps=min(self.steps, 20), batch_size=min(self.batch_size, max_batch),
                       checkpoint_every=min(self.checkpoint_every, 10), eval_every=min(self.eval_every, 10),
                       log_every=min(self.log_every, 5), warmup_steps=min(self.warmup_steps, 2))

class Stage(Protocol):
    """What a training stage provides; built on every worker from its config."""

    name: str

    def build_model(self) -> torch.nn.Module: ...

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def validate(self, model: torch.nn.Module, batches: Iterable[dict]) -> dict[str, float]: ...


class Runtime(Protocol):
    """What a runner supplies to the loop."""

    rank: int
    device: torch.device

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module: ...  # device placement, DDP

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[dict]: ...  # one epoch of this rank's data, on the CPU

    def val_batches(self, batch_size: int) -> Iterable[dict]: ...

    def restore(self) -> dict | None: ...  # the last checkpoint's state, if any

    def report(self, metrics: dict[str, float], checkpoint_folder: str | None) -> None: ...  # every rank, at checkpoint steps


def train_loop(stage: Stage, tc: TrainerConfig, runtime: Runtime, checkpoint_config: dict,
               log: Callable[[dict[str, float], int], None]) -> dict[str, float]:
    """Train `stage` to `tc.steps`, resuming from the runtime's last checkpoint; returns
    the last reported metrics. `log(metrics, step)` is called on rank 0 only."""
    torch.manual_seed(tc.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
    acc = Accelerator(runtime.device, tc.precision, tc.compile)
    model = stage.build_model()
    step, epoch, skip, state = 0, 0, 0, runtime.restore()
    if state is not None:
        model.load_state_dict(state["model"])
        # the same epoch reshuffles the same way: skip the batches it had already trained on
        step, epoch, skip = state["step"], state.get("epoch", 0), state.get("epoch_batches", 0)
    # augmentation differs across ranks, and a resumed run draws new samples, not the same again
    torch.manual_seed(tc.seed + 1_000_003 * runtime.rank + 7919 * step)
    model = runtime.prepare_model(model)
    raw = model.module if hasattr(model, "module") else model  # the unwrapped model: what is saved and validated
    forward = acc.maybe_compile(model)
    opt = acc.optimizer(model.parameters(), tc.lr, tc.weight_decay)
    sched = warmup_cosine(opt, tc.steps, tc.warmup_steps)
    if state is not None and state["optimizer"] is not None:
        opt.load_state_dict(state["optimizer"])
        sched.last_epoch = step - 1
        sched.step()

    rank0, last = runtime.rank == 0, {}
    started, t0, validating = step, time.perf_counter(), 0.0  # validation time is left out of steps/s
    while step < tc.steps:
        in_epoch = skip
        for batch in itertools.islice(runtime.train_batches(tc.batch_size, epoch), skip, None):
            forward.train()
            with acc.autocast():
                loss, terms = stage.loss(forward, acc.to_device(batch))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step, in_epoch = step + 1, in_epoch + 1
            metrics = {}
            if rank0 and (step % tc.log_every == 0 or step == tc.steps):  # the only host sync of a step
                metrics.update({f"train/{k}": float(v) for k, v in terms.items()})
                metrics["train/lr"] = sched.get_last_lr()[0]
                metrics["train/steps_per_s"] = (step - started) / (time.perf_counter() - t0 - validating)
            if rank0 and (step % tc.eval_every == 0 or step == tc.steps):
                started_val = time.perf_counter()
                raw.eval()
                with torch.no_grad():
                    val = stage.validate(raw, (acc.to_device(b) for b in runtime.val_batches(tc.batch_size)))
                metrics.update({f"val/{k}": v for k, v in val.items()})
                validating += time.perf_counter() - started_val
            if metrics:
                log(metrics, step)
                last.update(metrics)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                with tempfile.TemporaryDirectory() as tmp:
                    folder = None
                    if rank0:
                        save_checkpoint(tmp, model=raw, optimizer=opt, step=step, config=checkpoint_config,
                                        extra={"epoch": epoch, "epoch_batches": in_epoch})
                        folder = tmp
                    runtime.report({"step": step, "loss": float(loss.detach()), **metrics}, folder)
            if step >= tc.steps:
                break
        if in_epoch == 0:  # an epoch without one full batch would loop forever
            raise RuntimeError(f"worker {runtime.rank}: its data has fewer than batch_size={tc.batch_size} examples")
        epoch, skip = epoch + 1, 0
    return {"step": step, **last}

