"""Train a stage with Ray Train (TorchTrainer, DDP on N workers), tracked in MLflow.

    python jobs/train.py --stage motion_tokenizer
    python jobs/train.py --stage motion_tokenizer --data ./shards trainer.num_workers=2 trainer.run_name=mt-a
    ray job submit --working-dir . -- python jobs/train.py --stage motion_tokenizer --data s3://bucket/shards

--data takes preprocessed shards (jobs/preprocess.py) or a corpus (jobs/make_corpus.py);
with none, a procedural corpus is generated. Rerunning with the same trainer.run_name
resumes from its last checkpoint. `debug=true` trains a tiny model for a few steps.
"""

from __future__ import annotations

from unimo.models.training.session import TrainConfig
from unimo.platform import cli


def main(cfg: TrainConfig) -> None:
    from unimo.models.training.session import train_stage

    result = train_stage(cfg)
    print(f"\ntrained {cfg.stage} to step {result['step']}: checkpoint {result['checkpoint']}")
    for k, v in sorted(result["val"].items()):
        print(f"  {k:<22} {v:.4g}")
    print(f"MLflow: {result['mlflow']}")


if __name__ == "__main__":
    cli.run(main, TrainConfig, description=__doc__)
