"""Train a stage, with Ray Train (TorchTrainer, DDP on N workers) or in this process,
tracked in MLflow.

    python jobs/train.py --stage motion_tokenizer
    python jobs/train.py --stage motion_tokenizer --data ./shards trainer.num_workers=2 trainer.run_name=mt-a
    python jobs/train.py --stage motion_tokenizer trainer.runner=local      # one process, no Ray
    python jobs/train.py --config configs/motion_tokenizer_gpu.yaml          # on a GPU
    ray job submit --working-dir . -- python jobs/train.py --stage motion_tokenizer --data s3://bucket/shards

--data takes preprocessed shards (jobs/preprocess.py) or a corpus (jobs/make_corpus.py);
with none, the stage generates its own. Rerunning with the same trainer.run_name resumes
from its last checkpoint; under Ray a failed worker is replaced and resumed by itself
(trainer.max_failures). `debug=true` trains a tiny model for a few steps.
"""

from __future__ import annotations

from unimo.models.training.session import TrainConfig
from unimo.platform import cli, console


def main(cfg: TrainConfig) -> None:
    from unimo.models.training.session import train_stage

    result = train_stage(cfg)
    console.say(f"\ntrained {cfg.stage} to step {result['step']}: checkpoint {result['checkpoint']}")
    for k, v in sorted(result["val"].items()):
        console.say(f"  {k:<22} {v:.4g}")
    console.say(f"MLflow: {result['mlflow']}")


if __name__ == "__main__":
    cli.run(main, TrainConfig, description=__doc__)
