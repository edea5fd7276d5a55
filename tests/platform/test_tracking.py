"""MLflow tracking: the SQLite default under UNIMO_HOME, and a real tracking server."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field

import mlflow
import pytest
import yaml
import support

from unimo.platform import tracking


@dataclass
class Inner:
    lr: float = 0.01


@dataclass
class Cfg:
    name: str = "tiny"
    inner: Inner = field(default_factory=Inner)


def test_default_store_is_sqlite_under_unimo_home(unimo_home):
    assert tracking.tracking_uri() == f"sqlite:///{unimo_home}/mlflow.db"
    with tracking.start_run("train", Cfg()) as run:
        mlflow.log_metric("loss", 1.5, step=3)
    assert (unimo_home / "mlflow.db").exists()
    # artifacts land in UNIMO_HOME too, never in ./mlruns
    assert run.info.artifact_uri.startswith(f"file://{unimo_home}/mlartifacts/")

    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags["unimo.job"] == "train"
    assert len(got.data.tags["mlflow.source.git.commit"]) >= 7
    assert got.data.params == {"name": "tiny", "inner.lr": "0.01"}
    assert got.data.metrics == {"loss": 1.5}
    text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config.yaml")
    assert yaml.safe_load(text) == {"name": "tiny", "inner": {"lr": 0.01}}


def test_parent_and_child_runs_and_failed_status(unimo_home):
    with tracking.start_run("sweep", Cfg(), run_name="sweep") as parent:
        parent_id = parent.info.run_id
    # A child started later, e.g. in a Tune trial's process, names its parent.
    with tracking.start_run("train", Cfg(name="trial0"), parent_run_id=parent_id) as child:
        pass
    with pytest.raises(RuntimeError):
        with tracking.start_run("train", Cfg(name="trial1"), parent_run_id=parent_id):
            raise RuntimeError("boom")

    children = mlflow.search_runs(
        experiment_ids=[child.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
        output_format="list",
    )
    assert sorted(r.data.params["name"] for r in children) == ["trial0", "trial1"]
    assert sorted(r.info.status for r in children) == ["FAILED", "FINISHED"]


def test_remote_unimo_home_requires_a_tracking_server(unimo_home, monkeypatch):
    from unimo.platform.errors import UnimoError

    monkeypatch.setenv("UNIMO_HOME", "s3://bucket/unimo")
    with pytest.raises(UnimoError, match="set MLFLOW_TRACKING_URI"):
        tracking.tracking_uri()


@pytest.fixture
def mlflow_server(tmp_path, monkeypatch):
    with support.mlflow_server(tmp_path, tmp_path / "artifacts") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        yield url


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_runs_reach_a_tracking_server_and_read_back_over_rest(mlflow_server):
    assert tracking.tracking_uri() == mlflow_server
    with tracking.start_run("train", Cfg(), experiment="server-test") as run:
        mlflow.log_metric("val/mpjpe_mm", 42.0)
    rid = run.info.run_id

    got = _get(f"{mlflow_server}/api/2.0/mlflow/runs/get?run_id={rid}")["run"]
    assert got["info"]["status"] == "FINISHED"
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"name": "tiny", "inner.lr": "0.01"}
    assert {t["key"]: t["value"] for t in got["data"]["tags"]}["unimo.job"] == "train"
    assert [m["value"] for m in got["data"]["metrics"]] == [42.0]
    files = _get(f"{mlflow_server}/api/2.0/mlflow/artifacts/list?run_id={rid}")["files"]
    assert [f["path"] for f in files] == ["config.yaml"]
    assert tracking.run_url(run) == f"{mlflow_server}/#/experiments/{run.info.experiment_id}/runs/{rid}"
