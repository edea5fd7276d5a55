"""MLflow tracking: one helper every job uses, so every run looks the same in the UI.

- The tracking URI is `MLFLOW_TRACKING_URI` when set (a tracking server: required on a
  multi-node cluster), else a SQLite database in UNIMO_HOME (single machine only).
- Each run is tagged with the job name and the git commit, and carries its resolved
  config twice: as flat params (searchable) and as `config.yaml` (loadable).
- Parent and child runs (sweeps) work across processes: a child names its parent's id.

    with tracking.start_run("train", cfg) as run:
        mlflow.log_metric("loss", 0.1, step=1)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

from unimo.platform import config as config_lib
from unimo.platform.errors import UnimoError
from unimo.platform.home import home_path, unimo_home

DEFAULT_EXPERIMENT = "unimo"
# MLflow 3's UI opens an experiment without this tag as a GenAI one (traces); unimo's runs
# are model training, so the UI should open on them.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
CHAMPION = "champion"
_MAX_PARAM_CHARS = 6000  # MLflow rejects longer param values


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    home = unimo_home()
    if "://" in home:
        raise UnimoError(
            f"UNIMO_HOME '{home}' is remote, so it cannot hold the default SQLite MLflow store: "
            "set MLFLOW_TRACKING_URI to a tracking server"
        )
    os.makedirs(home, exist_ok=True)
    return f"sqlite:///{home_path('mlflow.db')}"


def is_local_store(uri: str | None = None) -> bool:
    return (uri or tracking_uri()).startswith("sqlite:")


def _artifact_location() -> str | None:
    """Artifacts for the default SQLite store go under UNIMO_HOME, not ./mlruns; a tracking
    server decides its own."""
    if not is_local_store():
        return None
    return Path(home_path("mlartifacts")).as_uri()


def configure() -> str:
    """Point this process's MLflow client at the tracking URI, and return it."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


def experiment_id(name: str = DEFAULT_EXPERIMENT) -> str:
    """Open the experiment, creating it on first use (safe when processes race)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    configure()
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        try:
            return mlflow.create_experiment(name, artifact_location=_artifact_location(), tags=EXPERIMENT_KIND)
        except MlflowException:
            exp = mlflow.get_experiment_by_name(name)
            if exp is None:
                raise
    if any(exp.tags.get(k) != v for k, v in EXPERIMENT_KIND.items()):  # made before unimo set the tag
        for key, value in EXPERIMENT_KIND.items():
            mlflow.MlflowClient().set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


def git_commit() -> str:
    """The commit of the code that runs: git when available, else $UNIMO_GIT_COMMIT."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("UNIMO_GIT_COMMIT", "unknown")


def log_config(cfg: Any) -> None:
    """The resolved config as flat params and as `config.yaml`."""
    import mlflow

    params = {k: str(v)[:_MAX_PARAM_CHARS] for k, v in config_lib.flatten(cfg).items()}
    mlflow.log_params(params)
    mlflow.log_text(config_lib.to_yaml(cfg), "config.yaml")


@contextlib.contextmanager
def start_run(
    job: str,
    cfg: Any = None,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    log_system_metrics: bool = False,
) -> Iterator[Any]:
    """An MLflow run for `job`: tagged, with its config logged, ended (FAILED on error)."""
    import mlflow

    exp_id = experiment_id(experiment)
    all_tags = {
        "unimo.job": job,
        "mlflow.source.name": f"jobs/{job}.py",
        "mlflow.source.git.commit": git_commit(),
        **(tags or {}),
    }
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = mlflow.start_run(
        experiment_id=exp_id,
        run_name=run_name,
        nested=parent_run_id is not None or mlflow.active_run() is not None,
        parent_run_id=parent_run_id,
        tags=all_tags,
        log_system_metrics=log_system_metrics,
    )
    status = "FAILED"
    try:
        if cfg is not None:
            log_config(cfg)
        yield run
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status=status)


def log_bytes(data: bytes, artifact_path: str) -> None:
    """Log in-memory bytes (a sample video, a plot) as an artifact of the active run."""
    import tempfile

    import mlflow

    folder, _, name = artifact_path.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        mlflow.log_artifact(str(path), artifact_path=folder or None)


def run_url(run: Any) -> str:
    """Where to look at a run: the server's page, or the command that serves the local store."""
    uri = tracking_uri()
    exp, rid = run.info.experiment_id, run.info.run_id
    if uri.startswith("http"):
        return f"{uri.rstrip('/')}/#/experiments/{exp}/runs/{rid}"
    return f"run {rid} in experiment {exp}; browse with: {browse_command()}"


def browse_command() -> str:
    uri = tracking_uri()
    if uri.startswith("http"):
        return f"open {uri}"
    return f".venv/bin/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"


def register(run_id: str, name: str, artifact_path: str = "checkpoint", alias: str = CHAMPION) -> int:
    """Register `artifact_path` of a run as a new version of model `name` in the MLflow
    model registry and point `alias` at it; returns the version."""
    import mlflow

    configure()
    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, tags={"unimo.registered_by": "sweep"})
    source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{artifact_path}"
    version = client.create_model_version(name, source=source, run_id=run_id)
    client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)


def registered_run(uri: str) -> str:
    """The run behind `models:/<name>@<alias>` or `models:/<name>/<version>`."""
    import mlflow

    configure()
    ref = uri[len("models:/"):].strip("/")
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = ref.partition("/")
            version = client.get_model_version(name, number or "latest")
    except mlflow.exceptions.MlflowException as e:
        raise UnimoError(f"model '{uri}' is not in the registry at {tracking_uri()} "
                         f"({str(e).splitlines()[0][:160]})") from None
    return version.run_id


def latest(run_id: str, key: str) -> tuple[int | None, float | None]:
    """The last logged (step, value) of a run's metric, (None, None) before the first."""
    import mlflow

    history = mlflow.MlflowClient(tracking_uri()).get_metric_history(run_id, key)
    if not history:
        return None, None
    last = max(history, key=lambda m: m.step)
    return last.step, last.value
