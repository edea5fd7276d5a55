"""Pre-tokenize clips for the autoregressive stage: video and motion token ids in Parquet.

    python jobs/pretokenize.py --input ./corpus --output ./tokens \
        --video_tokenizer runs:/<run id> --motion_tokenizer runs:/<run id>
    python jobs/pretokenize.py --input s3://bucket/shards --output s3://bucket/tokens \
        --video_tokenizer cosmos:/models/Cosmos-Tokenizer-DV4x8x8 --motion_tokenizer ./ckpt frames=33 size=128

The input is a corpus (jobs/make_corpus.py: videos and labels) or preprocessing shards
(jobs/preprocess.py: each row's frames and its gravity-aligned motion, never the
camera-frame fit). Each video or shard row is cut into windows of `frames` frames (1 + t * k
for the video tokenizer's t); an actor pool holding both tokenizers (on GPUs when the
cluster has them) writes OUTPUT/tokens/*.parquet and a manifest.json (schema in
unimo/pipelines/token_shards.py). Bad inputs go to OUTPUT/errors/*.parquet and every good
window is written; a rerun on the same output skips inputs already done.
"""

from __future__ import annotations

from unimo.models.pretokenize import PretokenizeConfig
from unimo.platform import cli, console


def main(cfg: PretokenizeConfig) -> None:
    import mlflow

    from unimo.models.pretokenize import run_pretokenize
    from unimo.platform import storage, tracking

    with tracking.start_run("pretokenize", cfg) as run:
        summary = run_pretokenize(cfg)
        mlflow.log_metrics({"clips": summary.clips, "errors": summary.errors, "seconds": summary.seconds})
        mlflow.log_text(storage.read_text(storage.join(summary.output, "manifest.json")), "manifest.json")
    console.say(f"\n{summary}\nMLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, PretokenizeConfig, description=__doc__)
