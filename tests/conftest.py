"""Shared fixtures. Tests never touch the user's UNIMO_HOME, MLflow server or Ray cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import support
from support import PYTHON, free_port

# The fit's learned initialisation trains once per machine (6,000 steps, minutes on a core);
# tests train a small one (cached apart, by its step count). Jobs that tests start inherit it.
os.environ.setdefault("UNIMO_LIFTER_STEPS", "800")

# The session's Ray cluster (below) requires this token. Ray reads RAY_AUTH_MODE once, when
# it is first imported, and collecting the tests imports it: so it is set here, before any
# test module loads. A Ray a test starts on its own takes the same token.
RAY_TOKEN = Path(tempfile.mkdtemp(prefix="unimo-tests-")) / "ray_auth_token"
RAY_TOKEN.write_text(uuid.uuid4().hex)
os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(RAY_TOKEN))
os.environ.pop("RAY_AUTH_TOKEN", None)


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory):
    """One UNIMO_HOME for the session; no inherited tracking server or cluster address."""
    home = tmp_path_factory.mktemp("unimo_home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("UNIMO_HOME", str(home))
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.delenv("RAY_ADDRESS", raising=False)
        yield home


@pytest.fixture(autouse=True, scope="session")
def _shared_ray_cluster(_isolated_environment, tmp_path_factory):
    """One Ray cluster (2 CPUs) for the session: every job a test runs through
    `support.run_job` joins it, and so do the tests that use Ray in this process (`on_ray`),
    instead of each starting a Ray of its own (about 9 s a start on 2 cores). This is what
    a user with a running cluster does. It starts after UNIMO_HOME is set, so Ray's own
    processes see the session's; each job's settings reach its workers in its runtime env
    (`ray_session.WORKER_SETTINGS`). Tests that kill a job with the Ray it started, or whose
    workers need more of the environment (S3 credentials), start their own."""
    with support.ray_cluster(tmp_path_factory.mktemp("shared_ray"), token=RAY_TOKEN) as cluster:
        support.SHARED_RAY.update(cluster.join)
        yield cluster
        support.SHARED_RAY.clear()
    shutil.rmtree(RAY_TOKEN.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def on_ray(_shared_ray_cluster):
    """This process on the session's Ray cluster, for every test of a module."""
    from unimo.platform import ray_session

    ray_session.shutdown()
    ray_session.connect(address=_shared_ray_cluster.join["RAY_ADDRESS"])
    yield
    ray_session.shutdown()


@pytest.fixture
def unimo_home(tmp_path, monkeypatch):
    """A fresh UNIMO_HOME for one test. (mlflow.set_tracking_uri exports
    MLFLOW_TRACKING_URI, so an earlier test's store must be forgotten too.)"""
    monkeypatch.setenv("UNIMO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "home"



@pytest.fixture(scope="module")
def s3_server():
    """moto's S3-compatible server on 127.0.0.1, reached the way users reach MinIO: through
    AWS_ENDPOINT_URL and credentials in the environment (this process's, so every job a
    test starts inherits them)."""
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except Exception:  # noqa: BLE001 - not answering yet
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto S3 server did not start")
            time.sleep(0.2)
    with pytest.MonkeyPatch.context() as env:
        for k, v in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
            env.setenv(k, v)
        _forget_s3_clients()  # an earlier module's server had another port
        yield url
        proc.kill()
        proc.wait()
    _forget_s3_clients()


def _forget_s3_clients() -> None:
    """fsspec caches filesystem instances, each with the endpoint it was made with."""
    try:
        import s3fs
    except ImportError:
        return
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_root(s3_server):
    """A fresh, empty bucket on the test server, as an s3:// URL."""
    import fsspec

    bucket = f"unimo-{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}"
