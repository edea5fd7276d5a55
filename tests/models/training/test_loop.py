"""The shared loop on its own, with a toy stage and an in-memory runtime: a resumed run
sees exactly the batches an uninterrupted one would have, and checkpoints carry where in
the epoch they were taken."""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.training import checkpoint
from unimo.models.training.batches import InMemoryBatches
from unimo.models.training.loop import TrainerConfig, train_loop


class ToyStage:
    name = "toy"

    def __init__(self):
        self.seen: list[list[int]] = []

    def build_model(self):
        return torch.nn.Linear(1, 1)

    def loss(self, model, batch):
        self.seen.append(batch["i"].tolist())
        x = batch["i"].float()[:, None]
        loss = (model(x) - 2 * x).pow(2).mean()
        return loss, {"loss": loss.detach()}

    def validate(self, model, batches):
        return {"batches": float(sum(1 for _ in batches))}


class MemoryRuntime:
    rank, device = 0, torch.device("cpu")

    def __init__(self, saved: dict | None = None):
        self.data = InMemoryBatches({"i": np.arange(40)}, seed=1)
        self.saved = saved if saved is not None else {}
        self.resume_from: int | None = None

    def prepare_model(self, model):
        return model

    def train_batches(self, batch_size, epoch):
        return self.data.epoch(batch_size, epoch)

    def val_batches(self, batch_size):
        return self.data.in_order(batch_size)

    def restore(self):
        return self.saved.get(self.resume_from) if self.resume_from is not None else None

    def report(self, metrics, folder):
        if folder is not None:
            self.saved[int(metrics["step"])] = checkpoint.load(folder)


def _run(steps: int, runtime: MemoryRuntime) -> ToyStage:
    stage = ToyStage()
    tc = TrainerConfig(runner="local", steps=steps, batch_size=8, checkpoint_every=3, eval_every=100, log_every=100, warmup_steps=1)
    train_loop(stage, tc, runtime, {"stage": "toy"}, lambda metrics, step: None)
    return stage


def test_a_run_resumed_mid_epoch_sees_the_batches_an_uninterrupted_run_sees():
    whole = _run(12, MemoryRuntime())
    first = MemoryRuntime()
    _run(7, first)  # 5 batches an epoch: step 6 is epoch 1's first batch
    assert first.saved[6]["epoch"] == 1 and first.saved[6]["epoch_batches"] == 1
    resumed = MemoryRuntime(first.saved)
    resumed.resume_from = 6
    after = _run(12, resumed)
    assert after.seen == whole.seen[6:]  # steps 7-12: the rest of epoch 1, then epoch 2
    assert sorted(sum(whole.seen[:5], [])) == list(range(40))  # an epoch is a permutation of every example


def test_steps_per_second_leaves_validation_out():
    logged = {}

    class SlowValidation(ToyStage):
        def validate(self, model, batches):
            import time

            time.sleep(0.5)
            return {}

    tc = TrainerConfig(runner="local", steps=10, batch_size=8, checkpoint_every=100, eval_every=5, log_every=10, warmup_steps=1)
    train_loop(SlowValidation(), tc, MemoryRuntime(), {"stage": "toy"}, lambda m, s: logged.update(m))
    assert logged["train/steps_per_s"] > 10 / 0.5  # a 0.5 s validation at step 5 would cap it at 20 steps/s
