"""Sweep a stage's config with Ray Tune: one training run per variant, each a child MLflow
run of one parent, each evaluated on held-out motion; prints the comparison table.

    python jobs/sweep.py                                   # the motion tokenizer ablation
    python jobs/sweep.py 'variants=[{motion_tokenizer.model.codebook_size: 256}, {}]' train.trainer.steps=2000
    python jobs/sweep.py 'seeds=[0, 1]'                    # every variant twice

Each variant is a set of overrides of `train` (the jobs/train.py config); {} is the base.
The default variants are the ablation: expert decoders vs one decoder, s in {1, 2, 4},
codebook sizes {256, 512, 1024}. With several seeds, the table gives each variant's mean
over seeds and, after the ±, half the range: a difference between variants smaller than
that is noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unimo.models.motion_tokenizer.model import MotionTokenizerConfig
from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig
from unimo.models.training.loop import TrainerConfig
from unimo.models.training.session import TrainConfig
from unimo.platform import cli
from unimo.platform.config import option

M = "motion_tokenizer.model."
ABLATION = [{}, {M + "experts": 1}, {M + "expansion": 1}, {M + "expansion": 4}, {M + "codebook_size": 256}, {M + "codebook_size": 1024}]


@dataclass
class SweepConfig:
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        trainer=TrainerConfig(steps=400, batch_size=32, lr=1e-3, checkpoint_every=400, eval_every=400),
        motion_tokenizer=MotionTokenizerStageConfig(model=MotionTokenizerConfig(hidden=128, code_dim=64))))
    variants: list[dict] = option(ABLATION, help="overrides of `train`, one training run each ({} is the base)")
    seeds: list[int] = option([0], help="trainer seeds: every variant trains once per seed")
    max_concurrent: int = option(1, help="trials at once (each takes train.trainer.num_workers workers)")
    window: int = option(64, help="frames per held-out evaluation window")


def trial(config: dict) -> None:
    """One Tune trial: train the variant, evaluate it on held-out motion, report."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from unimo.models.motion_tokenizer import evaluation as ev
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.training.session import train_stage
    from unimo.platform import body_model
    from unimo.platform.config import from_dict, to_dict

    base = to_dict(config["train"])
    name = ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in config["variant"].items()) or "base"
    for key, value in config["variant"].items():
        node = base
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
    base["trainer"]["seed"] = config["seed"]
    base["trainer"]["run_name"] = f"sweep-{config['sweep_id']}-{name}-seed{config['seed']}"
    cfg = from_dict(TrainConfig, base)
    result = train_stage(cfg, parent_run_id=config["parent_run_id"], callbacks=[TuneReportCallback()])
    tok = MotionTokenizerInference.load(result["checkpoint"])
    kin = body_model.load_kinematics(tok.body_model)
    final = {"variant": name, "seed": config["seed"]}
    for label, (_, rows) in ev.held_out_sets(config["window"], kin).items():
        final.update({f"{label}/{k}": v for k, v in ev.evaluate(tok, rows).items()})
    ray.tune.report(final)


def main(cfg: SweepConfig) -> None:
    import uuid

    import mlflow
    import ray.tune

    from unimo.models.motion_tokenizer import evaluation as ev
    from unimo.models.motion_tokenizer.stage import training_data
    from unimo.platform import ray_session, tracking

    ray_session.connect()
    # generate the corpora once, before trials race for them
    training_data(cfg.train.data, cfg.train.motion_tokenizer.data, cfg.train.debug, use_ray=True)
    sweep_id = uuid.uuid4().hex[:6]
    with tracking.start_run("sweep", cfg, run_name=f"sweep-{sweep_id}") as parent:
        tuner = ray.tune.Tuner(
            ray.tune.with_resources(trial, {"CPU": 0.25}),
            param_space={"train": cfg.train, "variant": ray.tune.grid_search(cfg.variants),
                         "seed": ray.tune.grid_search(cfg.seeds), "window": cfg.window,
                         "parent_run_id": parent.info.run_id, "sweep_id": sweep_id},
            tune_config=ray.tune.TuneConfig(max_concurrent_trials=cfg.max_concurrent),
        )
        results = tuner.fit()
        finished, failed = [], []
        for r in results:
            (finished if "variant" in (r.metrics or {}) else failed).append(r)
        table = "\n".join([ev.ablation_table([r.metrics for r in finished], len(cfg.seeds))] + [f"failed: {r.error}" for r in failed])
        mlflow.log_text(table, "sweep.md")
    print(f"\n{table}\n\nMLflow: {tracking.run_url(parent)}")


if __name__ == "__main__":
    cli.run(main, SweepConfig, description=__doc__)
