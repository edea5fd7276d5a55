"""Train a stage with Ray Train (TorchTrainer, DDP on N workers), tracked in MLflow.

    python jobs/train.py --stage motion_tokenizer
    python jobs/train.py --stage motion_tokenizer --data ./shards trainer.num_workers=2 trainer.run_name=mt-a
    ray job submit --working-dir . -- python jobs/train.py --stage motion_tokenizer --data s3://bucket/shards

--data takes preprocessed shards (jobs/preprocess.py) or a corpus (jobs/make_corpus.py);
with none, a procedural corpus is generated. Rerunning with the same trainer.run_name
resumes from its last checkpoint. `debug=true` trains a tiny model for a few steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from unimo.models.motion_tokenizer_stage import MotionTokenizerStageConfig
from unimo.models.training.loop import TrainerConfig
from unimo.platform import cli
from unimo.platform.config import option


@dataclass
class TrainConfig:
    stage: Literal["motion_tokenizer"] = option("motion_tokenizer", help="what to train")
    data: str = option("", help="shards or corpus URL (default: generate a procedural corpus)")
    corpus_clips: int = option(256, help="clips of the generated corpus, when data is empty")
    window: int = option(64, help="frames per training window")
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    motion_tokenizer: MotionTokenizerStageConfig = field(default_factory=MotionTokenizerStageConfig)
    debug: bool = option(False, help="a tiny model, 20 steps, a small generated corpus")


def main(cfg: TrainConfig) -> None:
    from unimo.models.training.session import train_stage

    result = train_stage(cfg)
    print(f"\ntrained {cfg.stage} to step {result['step']}: checkpoint {result['checkpoint']}")
    for k, v in sorted(result["val"].items()):
        print(f"  {k:<22} {v:.4g}")
    print(f"MLflow: {result['mlflow']}")


if __name__ == "__main__":
    cli.run(main, TrainConfig, description=__doc__)
