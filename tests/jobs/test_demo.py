"""`make demo` end to end: the demo job runs every stage and its run lands in MLflow."""

import mlflow
import pytest
from support import run_job


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_tracked(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = run_job("demo.py", "rows=200", env={"UNIMO_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"outputs in {home}/datasets/demo" in out.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{home}/mlflow.db" in out.stdout

    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("unimo").experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["unimo.job"] == "demo"
    assert run.data.params["rows"] == "200"
    assert run.data.metrics["rows_written"] == 200
