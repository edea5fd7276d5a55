"""Generate a synthetic human-video corpus with 3D ground truth, as parallel Ray tasks.

    python jobs/make_corpus.py --out ./corpus --clips 64 --seed 0
    python jobs/make_corpus.py --out s3://bucket/corpus --source "bvh ./mocap" --frames 96

Writes videos/<clip_id>.mp4, labels/<clip_id>.npz and corpus.json (see
unimo.pipelines.corpus_format). The same seed and clip id always give the same clip; a
rerun skips the clips already written. The body model is the generated stand-in unless
body_model= names a real SMPL file.
"""

from __future__ import annotations

from unimo.pipelines.corpus import CorpusConfig
from unimo.platform import cli, console
from unimo.platform.home import home_path


def main(cfg: CorpusConfig) -> None:
    from unimo.pipelines.corpus import run_tracked
    from unimo.platform import storage, tracking

    out = storage.resolve(cfg.out or home_path("datasets", "corpus"))
    with tracking.start_run("make_corpus", cfg) as run:
        manifest, results = run_tracked(cfg, out)
    made = sum(not r["skipped"] for r in results)
    console.say(f"\ncorpus: {made} clips written, {len(results) - made} already there, in {out}")
    console.say(f"MLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, CorpusConfig, description=__doc__)
