"""Shared fixtures. Tests never touch the user's UNIMO_HOME, MLflow server or Ray cluster."""

from __future__ import annotations

import os

import pytest


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

