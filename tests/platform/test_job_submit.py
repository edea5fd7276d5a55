"""Job submission, end to end, as on a cluster: `ray start --head` on 127.0.0.1 with token
authentication on, a tiny training job sent with the `ray job submit` CLI carrying the
project's wheel in `py_modules`, and its run found through an MLflow tracking server.

Nothing here touches the user's Ray: the token is a fresh one in tmp_path (RAY_AUTH_TOKEN_PATH,
never ~/.ray/auth_token), the session lives in its own --temp-dir, every port is a free
one, and the cluster is stopped by killing the process tree this test started (`ray stop`
would stop every Ray on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest
from support import BIN, PYTHON, REPO, mlflow_server, ray_cluster

RUN_NAME = "submitted"


def _plain(text: str) -> str:
    """CLI output without its colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _wheel_modules(tmp_path: Path) -> Path:
    """The project's wheel, built from the checkout, unpacked: its `unimo/` folder.

    Ray 2.60 installs a `.whl` listed in py_modules with `pip install --target`, which pulls
    in every dependency again (torch, Ray itself: ray-project/ray#27624). The unpacked
    wheel ships the same files and nothing else."""
    dist = tmp_path / "dist"
    build = subprocess.run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("unimo-*.whl")
    zipfile.ZipFile(wheel).extractall(dist / "site")
    return dist / "site" / "unimo"


def _working_dir(tmp_path: Path) -> Path:
    """What --working-dir uploads: the entry points and presets, not the whole checkout."""
    wd = tmp_path / "wd"
    for folder in ("jobs", "configs"):
        shutil.copytree(REPO / folder, wd / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return wd


@pytest.mark.slow
def test_ray_job_submit_trains_on_a_token_auth_cluster_and_logs_to_the_tracking_server(tmp_path):
    home = tmp_path / "home"
    with contextlib.ExitStack() as stack:
        # MLflow first: once it holds its port, none of the ports Ray picks at random can be it
        # (CI once found Ray's metrics exporter answering on the port chosen for MLflow)
        tracking_uri = stack.enter_context(mlflow_server(tmp_path, tmp_path / "mlartifacts"))
        modules, wd = _wheel_modules(tmp_path), _working_dir(tmp_path)
        # Every `ray` command here (the cluster, the job CLI) and every process the cluster
        # starts read the token from RAY_AUTH_TOKEN_PATH
        path = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        cluster = stack.enter_context(ray_cluster(tmp_path, env=path))
        env = {**{k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")},
               **{k: v for k, v in cluster.join.items() if k != "RAY_ADDRESS"}, **path}
        dashboard_url, ray_tmp = cluster.dashboard, cluster.temp_dir

        # Without the token the job server refuses: auth is on.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{dashboard_url}/api/jobs/", timeout=10)
        assert refused.value.code == 401

        runtime_env = {"py_modules": [str(modules)],
                       "env_vars": {"MLFLOW_TRACKING_URI": tracking_uri, "UNIMO_HOME": str(home)}}
        where = "import unimo.platform.config as c, unimo.models.training.session as s; print('unimo from', c.__file__, s.__file__)"
        entrypoint = f"python -c {shlex.quote(where)} && python jobs/train.py --debug trainer.run_name={RUN_NAME}"
        job_id = f"train-{uuid.uuid4().hex[:8]}"

        def ray_job(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
            return subprocess.run([str(BIN / "ray"), "job", *args], env=env, capture_output=True, text=True, timeout=timeout)

        started = time.time()
        submit = ray_job("submit", "--address", dashboard_url, "--submission-id", job_id, "--working-dir", str(wd),
                         "--runtime-env-json", json.dumps(runtime_env), "--", "sh", "-c", entrypoint, timeout=600)
        status = ray_job("status", "--address", dashboard_url, job_id)
        if f"Job '{job_id}' succeeded" not in _plain(status.stdout + status.stderr):
            logs = ray_job("logs", "--address", dashboard_url, job_id)
            pytest.fail(f"job {job_id} did not succeed (submit exited {submit.returncode}):\n{_plain(status.stderr)}\n"
                        f"--- ray job logs ---\n{logs.stdout[-8000:]}{logs.stderr[-2000:]}\n"
                        f"--- ray job submit ---\n{submit.stderr[-3000:]}")
        assert submit.returncode == 0
        print(f"job {job_id} succeeded in {time.time() - started:.0f} s")

        logs = ray_job("logs", "--address", dashboard_url, job_id).stdout
        # unimo came from the shipped wheel, not from the checkout's editable install
        (line,) = [x for x in logs.splitlines() if x.startswith("unimo from ")]
        print(line)
        assert all(path.startswith(os.path.join(ray_tmp, "")) and "/py_modules_files/" in path for path in line.split()[2:]), line
        assert "trained motion_tokenizer to step 20" in logs

        import mlflow

        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name("unimo")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = '{RUN_NAME}'")
        assert run.info.status == "FINISHED"
        assert run.data.tags["unimo.job"] == "train"
        assert {"train/loss", "val/mpjpe_mm", "val/codebook_usage"} <= run.data.metrics.keys()
        # artifacts went through the server's proxy to its --artifacts-destination
        assert {"config.yaml", "checkpoint"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
        assert any((tmp_path / "mlartifacts").rglob("config.yaml"))
