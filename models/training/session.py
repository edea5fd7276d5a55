"""Driver side of a training run: data, statistics, the Ray Train run, MLflow artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from unimo.models.motion_tokenizer_stage import MotionTokenizerStageConfig
from unimo.models.training.loop import TrainerConfig
from unimo.platform import storage
from unimo.platform.config import option
from unimo.platform.home import home_path


@dataclass
class TrainConfig:
    """The config of jobs/train.py."""

    stage: Literal["motion_tokenizer"] = option("motion_tokenizer", help="what to train")
    data: str = option("", help="shards or corpus URL, or several comma-separated (default: generate a procedural corpus)")
    corpus_clips: int = option(8192, help="clips of the generated procedural corpus, when data is empty")
    mocap_clips: int = option(2048, help="clips cut from real mocap (bvhtools' training files) added to it; 0: none")
    window: int = option(64, help="frames per training window")
    val_windows: int = option(512, help="validation windows, at most (a fixed sample of the validation clips): PVE costs a full mesh a frame")
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    motion_tokenizer: MotionTokenizerStageConfig = field(default_factory=MotionTokenizerStageConfig)
    debug: bool = option(False, help="a tiny model, 20 steps, a small generated corpus")


def training_data(cfg) -> str:
    """The data URLs (comma-separated): as given, or motion-only corpora generated once under
    UNIMO_HOME: procedural motion, plus real mocap (the training files of bvhtools' BVH,
    fetched from the package registry) unless mocap_clips=0 or debug."""
    from unimo.models.training.motion_data import data_urls
    from unimo.pipelines import corpus_format
    from unimo.pipelines.corpus import CorpusConfig, build_corpus

    if cfg.data:
        return ",".join(data_urls(cfg.data))  # a wrong path fails here, in one line
    frames, clips = max(cfg.window, 128), 24 if cfg.debug else cfg.corpus_clips
    # motion is all that trains here: no videos, so thousands of clips take a minute
    corpora = {f"train_motion_seed0_{clips}x{frames}": CorpusConfig(clips=clips, frames=frames, seed=0, videos=False)}
    if cfg.mocap_clips and not cfg.debug:
        corpora[f"mocap_bvhtools_train_motion_{cfg.mocap_clips}x{frames}"] = CorpusConfig(
            clips=cfg.mocap_clips, frames=frames, seed=0, source="bvhtools", videos=False)
    urls = []
    for name, corpus in corpora.items():
        url = home_path("datasets", name)
        if not storage.exists(storage.join(url, corpus_format.MANIFEST)):
            build_corpus(corpus, url, progress=True)
        urls.append(url)
    return ",".join(urls)


def debug_overrides(cfg):
    """A tiny model and a few steps: the smoke path tests and CI run."""
    from unimo.models.motion_tokenizer import MotionTokenizerConfig

    model = MotionTokenizerConfig(codebook_size=32, code_dim=16, hidden=32, depth=1,
                                  temporal_stride=cfg.motion_tokenizer.model.temporal_stride,
                                  expansion=cfg.motion_tokenizer.model.expansion, experts=cfg.motion_tokenizer.model.experts)
    trainer = replace(cfg.trainer, steps=min(cfg.trainer.steps, 20), batch_size=min(cfg.trainer.batch_size, 8),
                      checkpoint_every=min(cfg.trainer.checkpoint_every, 10), eval_every=min(cfg.trainer.eval_every, 10),
                      log_every=min(cfg.trainer.log_every, 5), warmup_steps=min(cfg.trainer.warmup_steps, 2))
    return replace(cfg, window=min(cfg.window, 32), trainer=trainer,
                   motion_tokenizer=replace(cfg.motion_tokenizer, model=model))


def train_stage(cfg: TrainConfig, parent_run_id: str | None = None, callbacks: list | None = None) -> dict[str, Any]:
    import mlflow

    from unimo.models.motion_tokenizer_stage import make_stage, with_stats
    from unimo.models.training import loop
    from unimo.models.training.motion_data import feature_stats, motion_datasets
    from unimo.platform import config as config_lib
    from unimo.platform import ray_session, tracking

    if cfg.debug:
        cfg = debug_overrides(cfg)
    if not cfg.trainer.run_name:
        cfg = replace(cfg, trainer=replace(cfg.trainer, run_name=cfg.stage))
    data = training_data(cfg)
    ray_session.connect()
    mean, std = feature_stats(data)
    stage_cfg = with_stats(cfg.motion_tokenizer, mean, std)
    train_ds, val_ds = motion_datasets(data, cfg.window)
    train_ds, val_ds = train_ds.materialize(), val_ds.limit(cfg.val_windows).materialize()
    needed = cfg.trainer.batch_size * cfg.trainer.num_workers
    if train_ds.count() < needed:
        from unimo.models.training.motion_data import DataError

        raise DataError(f"data '{data}' has {train_ds.count()} training windows of {cfg.window} frames, fewer than one step needs "
                        f"(batch_size {cfg.trainer.batch_size} x {cfg.trainer.num_workers} workers)")

    with tracking.start_run("train", cfg, run_name=cfg.trainer.run_name, tags={"unimo.stage": cfg.stage},
                            parent_run_id=parent_run_id) as run:
        mlflow.log_param("data_resolved", data)
        result = loop.run(
            make_stage, stage_cfg, cfg.trainer, {"train": train_ds, "val": val_ds},
            checkpoint_config={"stage": cfg.stage, "stage_config": config_lib.to_dict(stage_cfg),
                               "train_config": config_lib.to_dict(cfg)},
            tracking={"uri": tracking.tracking_uri(), "run_id": run.info.run_id},
            callbacks=callbacks,
        )
        checkpoint = result.checkpoint
        with checkpoint.as_directory() as folder:
            local = os.path.join(folder, "state.pt")
            mlflow.log_artifact(local, artifact_path="checkpoint")
            sample = _sample_video(local, val_ds if val_ds.count() else train_ds)
        if sample is not None:
            tracking.log_bytes(sample, "samples/ground_truth_vs_reconstruction.mp4")
        metrics = result.metrics or {}
        val = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("val/")}
        return {"step": metrics.get("step"), "checkpoint": checkpoint.path, "val": val, "mlflow": tracking.run_url(run),
                "run_id": run.info.run_id}


def _sample_video(checkpoint_file: str, dataset) -> bytes | None:
    """Ground truth (left) beside its reconstruction (right), one validation window."""
    import numpy as np
    import torch

    from unimo.models.motion_tokenizer_api import MotionTokenizerInference
    from unimo.pipelines import synthetic, video_io
    from unimo.pipelines.motion import Motion

    rows = dataset.take(1)
    if not rows:
        return None
    row = rows[0]
    tok = MotionTokenizerInference.load(checkpoint_file)
    poses, trans, betas = (torch.as_tensor(np.asarray(row[k]))[None] for k in ("poses", "trans", "betas"))
    p_hat, t_hat, b_hat = tok.decode(tok.encode(poses, trans, betas))
    body = synthetic.rig(tok.body_model)
    halves = []
    for p, t, b in ((poses, trans, betas), (p_hat, t_hat, b_hat)):
        motion = Motion(p[0].numpy(), t[0].numpy(), b[0].numpy(), 30.0)
        halves.append(synthetic.render_motion(motion, body, 128, np.random.default_rng(0)).frames)  # same camera, same look
    return video_io.encode_mp4(np.concatenate(halves, axis=2), 30.0)
