"""Ray Tune sweeps of any stage's training config (`jobs/sweep.py`): one training run per
trial, each a child MLflow run of one parent; ASHA stops the trials that fall behind on the
stage's validation metric; the best finished trial's checkpoint is registered in the MLflow
model registry as `models:/unimo-<stage>@champion`.

Trials come from `space` (every combination, or random draws), else from `variants`, else from
the stage's ablation (its plug-in's `ablation`); each runs once per seed, each trial's workers
taking their share of the cluster. A stage whose plug-in scores checkpoints on held-out data
(`held_out_metrics`, `held_out_table`) gets that table for its finished trials.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from typing import Literal

from unimo.models.training import stages
from unimo.models.training.loop import TrainerConfig
from unimo.models.training.session import TrainConfig
from unimo.platform import console, storage
from unimo.platform.config import option

def _default_train() -> TrainConfig:
    """The motion tokenizer at a size a CPU sweeps in minutes a trial."""
    from unimo.models.motion_tokenizer.model import MotionTokenizerConfig
    from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig

    return TrainConfig(trainer=TrainerConfig(steps=400, batch_size=32, lr=1e-3, checkpoint_every=100, eval_every=100),
                       motion_tokenizer=MotionTokenizerStageConfig(model=MotionTokenizerConfig(hidden=128, code_dim=64)))


@dataclass
class SweepConfig:
    stage: Literal[tuple(stages.names())] = option("motion_tokenizer", help="the stage to sweep (sets train.stage)")
    train: TrainConfig = field(default_factory=_default_train)
    space: dict[str, list] = option({}, help="train key -> values to search, e.g. {motion_tokenizer.model.experts: [1, 4]}")
    search: Literal["grid", "random"] = option("grid", help="grid: every combination of space; random: num_samples draws")
    num_samples: int = option(8, help="random search: trials drawn from space")
    variants: list[dict] = option([], help="when space is empty: override sets of `train`, one trial each ({} is the base; default: the stage's ablation)")
    seeds: list[int] = option([0], help="trainer seeds: every trial trains once per seed")
    scheduler: Literal["asha", "none"] = option("asha", help="asha: stop trials that fall behind at each rung; none: run all to the end")
    grace_steps: int = option(0, help="asha: steps every trial runs before it may be stopped (0: a quarter of train.trainer.steps)")
    reduction_factor: int = option(2, help="asha: a trial goes on past a rung only if in the best 1/reduction_factor there")
    max_concurrent: int = option(0, help="trials at once (0: as many as the cluster's CPUs or GPUs hold)")
    register: str = option("", help="registry name for the best checkpoint (default: unimo-<stage>; 'none': register nothing)")
    window: int = option(64, help="motion tokenizer: frames per held-out evaluation window")

    def __post_init__(self):
        from unimo.platform.errors import ConfigError

        if self.num_samples < 1 or self.reduction_factor < 2 or self.grace_steps < 0:
            raise ConfigError("num_samples must be >= 1, reduction_factor >= 2 and grace_steps >= 0")
        if self.search == "random" and not self.space:
            raise ConfigError("search=random draws from space: give space={key: [values], ...}")
        self.train.stage = self.stage  # one place says what is swept


def trial_overrides(cfg: SweepConfig) -> list[dict]:
    """The override sets to train, before seeds: from space, variants, or the ablation."""
    if cfg.space:
        keys, values = list(cfg.space), list(cfg.space.values())
        if cfg.search == "grid":
            return [dict(zip(keys, combo)) for combo in itertools.product(*values)]
        rng = random.Random(cfg.seeds[0])
        return [{k: rng.choice(v) for k, v in zip(keys, values)} for _ in range(cfg.num_samples)]
    return cfg.variants or getattr(stages.get(cfg.stage), "ablation", [{}])


def trial_name(overrides: dict) -> str:
    return ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in overrides.items()) or "base"


def trials(cfg: SweepConfig, sweep_id: str) -> list[dict]:
    """Every trial's resolved train config (as a dict), checked here, before Ray starts, so a
    wrong key fails in one line that names it."""
    from unimo.platform.config import to_dict, with_overrides

    base = cfg.train
    if base.data:  # trials run in their own working directories: a relative path would not be found there
        base = replace(base, data=",".join(storage.resolve(u.strip()) for u in base.data.split(",")))
    if base.debug:  # the debug sizes first, so the trial's own values (a codebook size) win over them
        base = stages.get(cfg.stage).debug_overrides(base)
    out = []
    for overrides in trial_overrides(cfg):
        for seed in cfg.seeds:
            name = f"{trial_name(overrides)}-seed{seed}"
            train = with_overrides(base, {**overrides, "trainer.seed": seed, "trainer.run_name": f"sweep-{sweep_id}-{name}"})
            out.append({"name": name, "variant": trial_name(overrides), "seed": seed, "train": to_dict(train)})
    return out


def trial(config: dict) -> None:
    """One Tune trial: train (reporting to Tune at every checkpoint, so ASHA can stop it),
    evaluate, report the final metrics."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from unimo.models.training.session import train_stage
    from unimo.platform.config import from_dict

    spec = config["trial"]
    cfg = from_dict(TrainConfig, spec["train"])
    result = train_stage(cfg, parent_run_id=config["parent_run_id"], callbacks=[TuneReportCallback()],
                         tags={"unimo.sweep.trial": spec["name"]}, progress=False, apply_debug=False)
    final = {"variant": spec["variant"], "seed": spec["seed"], "run_id": result["run_id"], "steps": result["step"],
             **{f"val/{k}": v for k, v in result["val"].items()}}
    plugin = stages.get(cfg.stage)
    if hasattr(plugin, "held_out_metrics"):
        final.update(plugin.held_out_metrics(result["checkpoint"], config["window"]))
    ray.tune.report(final)


def console_reporter(metric: str):
    """A line on the terminal for each trial's validation: Tune calls this on the driver."""
    from ray.tune import Callback

    class Reporter(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if metric in result and "step" in result:
                console.say(f"  {trial.config['trial']['name']:<40} step {result['step']:>6}  {metric} {result[metric]:.4g}")

        def on_trial_error(self, iteration, trials, trial, **info):
            console.say(f"  {trial.config['trial']['name']:<40} failed (the sweep goes on)")

    return Reporter()


def summary(outcomes: list[dict], metric: str, stage: str, seeds: int) -> str:
    """Markdown: a row per trial (status, steps, metric), and the stage's held-out table
    (else every validation metric) of the finished trials."""
    plugin = stages.get(stage)
    rows = [f"| trial | status | steps | {metric} |", "| --- | --- | --- | --- |"]
    for o in outcomes:
        value = o["metrics"].get(metric)
        rows.append(f"| {o['name']} | {o['status']} | {o['metrics'].get('steps', o['metrics'].get('step', ''))} | "
                    f"{'' if value is None else f'{value:.4g}'} |")
    finished = [o["metrics"] for o in outcomes if o["status"] == "finished"]
    if finished and hasattr(plugin, "held_out_table"):
        rows += ["", plugin.held_out_table(finished, seeds)]
    elif finished:  # every validation metric of the finished trials
        keys = sorted({k for m in finished for k in m if k.startswith("val/")})
        rows += ["", "Validation (finished trials):", "", "| trial | " + " | ".join(k[4:] for k in keys) + " |",
                 "| --- |" + " --- |" * len(keys)]
        rows += [f"| {o['name']} | " + " | ".join(f"{o['metrics'][k]:.4g}" if k in o["metrics"] else "" for k in keys) + " |"
                 for o in outcomes if o["status"] == "finished"]
    return "\n".join(rows)


def close_child_runs(parent_run_id: str, outcomes: list[dict]) -> None:
    """A stopped or crashed trial's process is killed before its MLflow run ends, or, stopped
    while it was between steps, ends it FAILED on the way down: end it here, KILLED (stopped
    early) or FAILED, so no child stays RUNNING and no stopped trial reads as a crash."""
    import mlflow

    client = mlflow.MlflowClient()
    status = {o["name"]: o["status"] for o in outcomes}
    for run in client.search_runs([client.get_run(parent_run_id).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_run_id}'"):
        name = run.data.tags.get("unimo.sweep.trial")
        client.set_tag(run.info.run_id, "unimo.sweep.status", status.get(name, "unknown"))
        stopped = status.get(name, "").startswith("stopped")
        if run.info.status == "RUNNING" or (stopped and run.info.status == "FAILED"):
            client.set_terminated(run.info.run_id, "KILLED" if stopped else "FAILED")


def run_sweep(cfg: SweepConfig) -> dict:
    """Run the sweep and register its best finished trial; return the trials' table (`table`),
    a line on the best (`best`) and the parent run's MLflow URL (`mlflow`)."""
    import uuid

    import mlflow
    import ray.tune

    from unimo.platform import ray_session, tracking

    plugin = stages.get(cfg.stage)
    metric, mode = plugin.selection_metric
    sweep_id = uuid.uuid4().hex[:6]
    specs = trials(cfg, sweep_id)
    steps = specs[0]["train"]["trainer"]["steps"]
    ray_session.connect()
    if cfg.stage == "motion_tokenizer":  # generate the corpora once, before trials race for them
        from unimo.models.motion_tokenizer.stage import training_data

        training_data(cfg.train.data, cfg.train.motion_tokenizer.data, cfg.train.debug, use_ray=True)
    tc = cfg.train.trainer
    slots = ray_session.trial_resources(len(specs), tc.num_workers, tc.use_gpu, tc.cpus_per_worker, cfg.max_concurrent)
    for spec in specs:  # each trial's workers take their share of the CPUs, not the whole cluster's
        spec["train"]["trainer"]["cpus_per_worker"] = slots.cpus_per_worker
    scheduler = None
    if cfg.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        # rungs at grace * rf^k below the last step, none at it: a trial that reaches the end
        # is never stopped before its final evaluation
        grace = min(cfg.grace_steps or max(1, steps // 4), max(1, steps - 1))
        scheduler = ASHAScheduler(time_attr="step", metric=metric, mode=mode, max_t=max(grace, steps - 1), grace_period=grace,
                                  reduction_factor=cfg.reduction_factor, stop_last_trials=False)
    console.say(f"sweep-{sweep_id}: {len(specs)} trials of {cfg.stage}, {slots.concurrent} at a time, "
                f"{cfg.scheduler} on {metric} ({mode})")
    with tracking.start_run("sweep", cfg, run_name=f"sweep-{sweep_id}", tags={"unimo.stage": cfg.stage}) as parent:
        tuner = ray.tune.Tuner(
            ray.tune.with_resources(trial, {"CPU": ray_session.TRIAL_CPU}),
            param_space={"trial": ray.tune.grid_search(specs), "window": cfg.window, "parent_run_id": parent.info.run_id},
            tune_config=ray.tune.TuneConfig(max_concurrent_trials=slots.concurrent, scheduler=scheduler),
            run_config=ray.tune.RunConfig(name=f"sweep-{sweep_id}", verbose=0, callbacks=[console_reporter(metric)]),
        )
        outcomes = []
        for r in tuner.fit():
            m = r.metrics or {}
            status = ("failed: " + str(r.error).splitlines()[0][:120] if r.error
                      else "finished" if "variant" in m else f"stopped early at step {m.get('step', '?')}")
            outcomes.append({"name": r.config["trial"]["name"], "status": status, "metrics": m})
        close_child_runs(parent.info.run_id, outcomes)
        table = summary(outcomes, metric, cfg.stage, len(cfg.seeds))
        mlflow.log_text(table, "sweep.md")
        finished = [o for o in outcomes if o["status"] == "finished" and metric in o["metrics"]]
        best_line = "no trial finished: nothing registered"
        if finished:
            best = (min if mode == "min" else max)(finished, key=lambda o: o["metrics"][metric])
            mlflow.log_metric(f"best/{metric}", best["metrics"][metric])
            mlflow.set_tag("unimo.sweep.best_trial", best["name"])
            name = cfg.register or f"unimo-{cfg.stage}"
            if name != "none":
                version = tracking.register(best["metrics"]["run_id"], name)
                mlflow.set_tag("unimo.sweep.registered", f"models:/{name}/{version}")
                best_line = (f"best: {best['name']} ({metric} {best['metrics'][metric]:.4g}), registered as "
                             f"models:/{name}@{tracking.CHAMPION} (version {version})")
            else:
                best_line = f"best: {best['name']} ({metric} {best['metrics'][metric]:.4g}), not registered (register=none)"
    return {"table": table, "best": best_line, "mlflow": tracking.run_url(parent)}
