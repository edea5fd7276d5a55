"""Shared fixtures. Tests never touch the user's UNIMO_HOME, MLflow server or Ray cluster."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid

import pytest
from support import PYTHON, free_port

# The fit's learned initialisation trains once per machine (6,000 steps, minutes on a core);
# tests train a small one (cached apart, by its step count). Jobs that tests start inherit it.
os.environ.setdefault("UNIMO_LIFTER_STEPS", "800")


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory):
    """One UNIMO_HOME for the session; no inherited tracking server or cluster address."""
    home = tmp_path_factory.mktemp("unimo_home")
    saved = {k: os.environ.get(k) for k in ("UNIMO_HOME", "MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    os.environ["UNIMO_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RAY_ADDRESS", None)
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def ray_local():
    """A 2-CPU local Ray shared by every test of a module (starting Ray costs seconds)."""
    from unimo.platform import ray_session

    ray_session.shutdown()
    ray_session.connect(num_cpus=2, include_dashboard=False)
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
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _forget_s3_clients()  # an earlier module's server had another port
    yield url
    proc.kill()
    proc.wait()
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
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
