"""Generate a synthetic human-video corpus with 3D ground truth, as parallel Ray tasks.

    python jobs/make_corpus.py --out ./corpus --clips 64 --seed 0
    python jobs/make_corpus.py --out s3://bucket/corpus --source "bvh ./mocap" --frames 96

Writes videos/<clip_id>.mp4, labels/<clip_id>.npz and corpus.json (see
unimo.pipelines.corpus_format). The same seed and clip id always give the same clip; a
rerun skips the clips already written. The body model is the generated stand-in unless
body_model= names a real SMPL file.
"""

from __future__ import annotations

import time

from unimo.pipelines.corpus import CorpusConfig
from unimo.platform import cli
from unimo.platform.home import home_path


def main(cfg: CorpusConfig) -> str:
    import mlflow

    from unimo.pipelines.corpus import build_corpus
    from unimo.platform import ray_session, storage, tracking

    out = storage.resolve(cfg.out or home_path("datasets", "corpus"))
    ray_session.connect()
    with tracking.start_run("make_corpus", cfg) as run:
        start = time.perf_counter()
        manifest, results = build_corpus(cfg, out)
        made = [r for r in results if not r["skipped"]]
        mlflow.log_metrics({
            "clips_written": len(made),
            "clips_skipped": len(results) - len(made),
            "wall_seconds": time.perf_counter() - start,
            "video_bytes": sum(r["bytes"] for r in made),
        })
        mlflow.log_dict(manifest.__dict__, "corpus.json")
    print(f"\ncorpus: {len(made)} clips written, {len(results) - len(made)} already there, in {out}")
    print(f"MLflow: {tracking.run_url(run)}")
    return out


if __name__ == "__main__":
    cli.run(main, CorpusConfig, description=__doc__)
