"""Preprocess videos into training shards: decode windows, 2D keypoints, SMPL pseudo-labels.

    python jobs/preprocess.py --input ./corpus/videos --output ./shards
    python jobs/preprocess.py --input 's3://bucket/raw/**/*.mp4' --output s3://bucket/shards decode.fps=25

Keypoints come from sidecar labels when the input has the corpus layout
(videos/<id>.mp4 beside labels/<id>.npz), else from the MediaPipe detector. Bad inputs go
to OUTPUT/errors/*.parquet and the run finishes every good one; a rerun on the same output
skips inputs already done.
"""

from __future__ import annotations

from unimo.pipelines.preprocess import PreprocessConfig
from unimo.platform import cli, console


def main(cfg: PreprocessConfig) -> None:
    import mlflow

    from unimo.pipelines.preprocess import run_preprocess
    from unimo.platform import tracking

    with tracking.start_run("preprocess", cfg) as run:
        summary = run_preprocess(cfg)
        mlflow.log_metrics({"clips_ok": summary.clips_ok, "frames": summary.frames, "inputs_failed": summary.inputs_failed,
                            "inputs_processed": summary.inputs_processed, "seconds": summary.seconds})
    console.say(f"\n{summary}\nMLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, PreprocessConfig, description=__doc__)
