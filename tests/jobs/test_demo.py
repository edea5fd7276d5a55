"""`make demo` end to end: the demo job runs every stage and its runs land in MLflow."""

import mlflow
import pytest
from support import run_job

from unimo.pipelines import corpus_format


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_tracked(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = run_job("demo.py", "corpus.clips=3", "corpus.frames=16", "corpus.size=64", env={"UNIMO_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"outputs in {home}/datasets/demo" in out.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{home}/mlflow.db" in out.stdout
    manifest = corpus_format.CorpusManifest.read(str(home / "datasets" / "demo" / "corpus"))
    assert len(manifest.clip_ids) == 3 and manifest.body_model["is_standin"]

    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("unimo").experiment_id])
    by_job = {r.data.tags["unimo.job"]: r for r in runs}
    assert set(by_job) == {"demo", "make_corpus"}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert by_job["make_corpus"].data.tags["mlflow.parentRunId"] == by_job["demo"].info.run_id
    assert by_job["demo"].data.params["corpus.clips"] == "3"
    assert by_job["make_corpus"].data.metrics["clips_written"] == 3
    artifacts = {a.path for a in client.list_artifacts(by_job["make_corpus"].info.run_id)}
    assert {"config.yaml", "corpus.json", "samples"} <= artifacts
