"""Checkpoints: model, optimiser, step, the resolved config and the schema version, in one
file inside a checkpoint folder, so any checkpoint loads without the command line that
made it.

A checkpoint holds tensors and plain data only (dicts, lists, numbers, strings): the
config travels as a dict, never as a pickled object. It loads with
`torch.load(weights_only=True)`, so a checkpoint fetched from an MLflow run or a shared
bucket cannot run code; one that needs pickle is refused.
"""

from __future__ import annotations

import os
import pickle
import re

import torch

from unimo.platform.errors import UnimoError

FILENAME = "state.pt"
FORMAT_VERSION = 1


class CheckpointError(UnimoError):
    """A checkpoint path that is missing, unsafe, or not a unimo checkpoint."""


def save(folder: str, *, model, optimizer, step: int, config: dict, extra: dict | None = None) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, FILENAME)
    state = {
        "format_version": FORMAT_VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": step,
        "config": config,
        **(extra or {}),
    }
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


def resolve_file(folder_or_file: str) -> str:
    """The state file of a checkpoint folder, or the file itself; one-line error if absent."""
    path = os.path.join(folder_or_file, FILENAME) if os.path.isdir(folder_or_file) else folder_or_file
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint '{folder_or_file}' not found (expected a folder holding {FILENAME}, or the file)")
    return path


def load(folder_or_file: str, map_location: str = "cpu") -> dict:
    path = resolve_file(folder_or_file)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found:  # an object weights_only may not build
            raise CheckpointError(f"checkpoint '{path}' needs pickle to load (it holds objects, not only tensors and "
                                  f"plain data: {found.group(1)}); unimo refuses it, since unpickling can run code") from None
        raise CheckpointError(f"checkpoint '{path}' is not a torch checkpoint (it does not unpickle)") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is a bad checkpoint
        raise CheckpointError(f"checkpoint '{path}' is not readable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{path}' is not a unimo checkpoint of format {FORMAT_VERSION}")
    return state


def fetch(source: str) -> str:
    """A checkpoint given as a folder, a state file, `runs:/<MLflow run id>`, a bare run
    id, or a registered model (`models:/<name>@champion`, `models:/<name>/<version>`), as a
    local path (the run's logged `checkpoint/state.pt`, downloaded)."""
    if source.startswith("models:/"):
        from unimo.platform import tracking

        return _from_mlflow(tracking.registered_run(source))
    if source.startswith("runs:/"):
        return _from_mlflow(source[len("runs:/") :].split("/")[0])
    if not os.path.exists(source) and len(source) == 32 and source.isalnum():
        return _from_mlflow(source)
    from unimo.platform import storage

    if "://" in source and not storage.is_local(source):  # s3://, gs://: copy the state file here
        return _from_storage(source)
    return source


def _from_storage(url: str) -> str:
    import tempfile

    from unimo.platform import storage

    remote = url if url.endswith(".pt") else storage.join(url, FILENAME)
    if not storage.exists(remote):
        raise CheckpointError(f"checkpoint '{url}' not found (expected a folder holding {FILENAME}, or the file)")
    local = os.path.join(tempfile.mkdtemp(prefix="unimo-checkpoint-"), FILENAME)
    with open(local, "wb") as f:
        f.write(storage.read_bytes(remote))
    return local


def _from_mlflow(run_id: str) -> str:
    import mlflow

    from unimo.platform import tracking

    tracking.configure()
    try:
        return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"checkpoint/{FILENAME}")
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"MLflow run '{run_id}' has no checkpoint/{FILENAME} ({type(e).__name__})") from None


def load_stage(source: str, stage: str, map_location: str = "cpu") -> dict:
    """`load(fetch(source))`, refused with one line unless it is a checkpoint of `stage`."""
    state = load(fetch(source), map_location=map_location)
    found = state["config"].get("stage") if isinstance(state.get("config"), dict) else None
    if found != stage:
        raise CheckpointError(f"checkpoint '{source}' is a {found} checkpoint, not a {stage.replace('_', ' ')}")
    return state
