"""The end-to-end demo: every stage that exists, on embedded defaults, tracked in MLflow.

    python jobs/demo.py                       # what `make demo` runs
    python jobs/demo.py corpus.clips=32       # any stage's config, by its section

Stages so far:
  1. corpus: a synthetic human-video corpus with 3D ground truth (jobs/make_corpus.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unimo.pipelines.corpus import CorpusConfig
from unimo.platform import cli
from unimo.platform.config import option
from unimo.platform.home import home_path


@dataclass
class DemoConfig:
    out: str = option("", help="output URL (default: UNIMO_HOME/datasets/demo)")
    corpus: CorpusConfig = field(default_factory=lambda: CorpusConfig(clips=8, frames=48))


def main(cfg: DemoConfig) -> None:
    from unimo.pipelines.corpus import run_tracked
    from unimo.platform import storage, tracking

    out = storage.resolve(cfg.out or home_path("datasets", "demo"))
    with tracking.start_run("demo", cfg, run_name="demo") as parent:
        with tracking.start_run("make_corpus", cfg.corpus, parent_run_id=parent.info.run_id):
            corpus_out = storage.resolve(cfg.corpus.out or storage.join(out, "corpus"))
            manifest, _ = run_tracked(cfg.corpus, corpus_out)
    print(f"\ndemo finished: outputs in {out}")
    print(f"  corpus: {len(manifest.clip_ids)} clips in {corpus_out}")
    print(f"MLflow: {tracking.run_url(parent)}")


if __name__ == "__main__":
    cli.run(main, DemoConfig, description=__doc__)
