"""Sweep a stage's config with Ray Tune: one training run per trial, each a child MLflow run
of one parent; ASHA stops the trials that fall behind on the stage's validation metric, and
the best finished trial's checkpoint is registered in the MLflow model registry as
`models:/unimo-<stage>@champion` (which jobs/evaluate.py, mocap.py and generate.py accept).

    python jobs/sweep.py --config configs/sweep_cpu_tiny.yaml     # 4 trials, minutes on 2 CPUs
    python jobs/sweep.py 'space={motion_tokenizer.model.codebook_size: [256, 512], motion_tokenizer.model.experts: [1, 4]}'
    python jobs/sweep.py search=random num_samples=8 'space={trainer.lr: [1e-4, 3e-4, 1e-3]}'
    python jobs/sweep.py --config configs/ablation_cpu.yaml       # the motion tokenizer ablation (scheduler=none)
    python jobs/sweep.py --stage unimo train.data=./tokens        # the UniMo ablations

Trials come from `space` (keys of `train`, the jobs/train.py config: every combination, or
`num_samples` random draws), else from `variants` (explicit override sets; {} is the base),
else from the stage's ablation. Each trial runs once per seed. The motion tokenizer's trials
are also evaluated on held-out motion; with several seeds its table gives each variant's mean
and, after the ±, half the range: a difference smaller than that is noise.
"""

from __future__ import annotations

from unimo.models.training.sweep import SweepConfig
from unimo.platform import cli, console


def main(cfg: SweepConfig) -> None:
    from unimo.models.training.sweep import run_sweep

    result = run_sweep(cfg)
    console.say(f"\n{result['table']}\n\n{result['best']}\nMLflow: {result['mlflow']}")


if __name__ == "__main__":
    cli.run(main, SweepConfig, description=__doc__)
