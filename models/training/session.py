"""Driver side of a training run, for any stage: its data, the run under the chosen runner,
MLflow (params, metrics, the checkpoint, sample artifacts).

`TrainConfig` is jobs/train.py's config: the keys every stage shares, plus one section per
registered stage (`motion_tokenizer: ...`), taken from the stage plug-ins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import field, replace
from typing import Any, Literal

from unimo.models.training import stages
from unimo.models.training.loop import TrainerConfig
from unimo.platform.config import option


def _train_config_class() -> type:
    shared = [
        ("stage", Literal[tuple(stages.names())], option(stages.names()[0], help="what to train")),
        ("data", str, option("", help="shards or corpus URL, or several comma-separated (default: the stage generates its own)")),
        ("trainer", TrainerConfig, field(default_factory=TrainerConfig)),
        ("debug", bool, option(False, help="a tiny model, a few steps, a small generated dataset")),
    ]
    sections = [(name, stages.get(name).config_cls, field(default_factory=stages.get(name).config_cls)) for name in stages.names()]
    cls = dataclasses.make_dataclass("TrainConfig", shared + sections)
    cls.__module__ = __name__  # so it pickles by name, as a class written here would
    return cls


TrainConfig = _train_config_class()


def first_example(dataset) -> dict | None:
    """One example of a Ray Dataset or of in-memory arrays."""
    if isinstance(dataset, dict):
        return {k: v[0] for k, v in dataset.items()} if dataset and len(next(iter(dataset.values()))) else None
    rows = dataset.take(1)
    return rows[0] if rows else None


def training_bar(cfg, run_id: str, show: bool = True):
    """Steps and loss on the terminal, read from the run's MLflow metrics: whichever
    process or node trains (rank 0 logs them), the driver shows them."""
    from unimo.platform import tracking
    from unimo.platform.console import PolledBar

    def poll():
        step, loss = tracking.latest(run_id, "train/loss")
        return step, ({"loss": f"{loss:.4g}"} if loss is not None else None)

    if not show:
        return contextlib.nullcontext()
    return PolledBar(poll, total=cfg.trainer.steps, desc=f"train {cfg.stage}", unit="step", interval=2.0)


def train_stage(cfg, parent_run_id: str | None = None, callbacks: list | None = None,
                tags: dict[str, str] | None = None, progress: bool = True, apply_debug: bool = True) -> dict[str, Any]:
    """Train `cfg.stage` with `cfg.trainer.runner`; returns the step, checkpoint, validation
    metrics and the MLflow run."""
    import mlflow

    from unimo.platform import config as config_lib
    from unimo.platform import tracking

    plugin = stages.get(cfg.stage)
    if cfg.debug and apply_debug:  # apply_debug=False: the caller applied them, then its own overrides
        cfg = plugin.debug_overrides(cfg)
    if not cfg.trainer.run_name:
        cfg = replace(cfg, trainer=replace(cfg.trainer, run_name=cfg.stage))
    use_ray = cfg.trainer.runner == "ray"
    if cfg.data:
        from unimo.models.training.data import KINDS, data_urls

        data_urls(cfg.data, KINDS)  # a wrong path fails here, in one line, before Ray starts
    if use_ray:
        from unimo.models.training.ray_runner import refuse_a_half_written_snapshot
        from unimo.platform import ray_session

        refuse_a_half_written_snapshot(cfg.trainer)
        ray_session.connect()
    data = plugin.prepare(cfg, use_ray)
    checkpoint_config = {"stage": cfg.stage, "stage_config": config_lib.to_dict(data.stage_config),
                         "train_config": config_lib.to_dict(cfg)}

    with tracking.start_run("train", cfg, run_name=cfg.trainer.run_name, tags={"unimo.stage": cfg.stage, **(tags or {})},
                            parent_run_id=parent_run_id) as run:
        mlflow.log_params({"data_resolved": data.description, "train_examples": data.num_train})
        track = {"uri": tracking.tracking_uri(), "run_id": run.info.run_id}
        with training_bar(cfg, run.info.run_id, show=progress):
            if use_ray:
                from unimo.models.training import ray_runner

                result = ray_runner.run(cfg.stage, data.stage_config, cfg.trainer, data.train, data.val, checkpoint_config, track, callbacks)
            else:
                from unimo.models.training import local_runner

                result = local_runner.run(cfg.stage, data.stage_config, cfg.trainer, data.train, data.val, checkpoint_config, track)
        example = first_example(data.val) or first_example(data.train)
        with result.as_directory() as folder:
            local = os.path.join(folder, "state.pt")
            mlflow.log_artifact(local, artifact_path="checkpoint")
            for name, blob in (plugin.sample_artifacts(local, example) if example is not None else {}).items():
                tracking.log_bytes(blob, name)
        val = {k.split("/", 1)[1]: v for k, v in result.metrics.items() if k.startswith("val/")}
        return {"step": result.metrics.get("step"), "checkpoint": result.checkpoint, "val": val,
                "mlflow": tracking.run_url(run), "run_id": run.info.run_id}
