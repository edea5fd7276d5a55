"""Checkpoints: model, optimiser, step, the resolved config and the schema version, in one
file inside a Ray Train checkpoint folder, so any checkpoint loads without the command line
that made it."""

from __future__ import annotations

import os

import torch

from unimo.platform.errors import UnimoError

FILENAME = "state.pt"
FORMAT_VERSION = 1


class CheckpointError(UnimoError):
    """A checkpoint path that is missing or not a unimo checkpoint."""


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


def load(folder_or_file: str, map_location: str = "cpu") -> dict:
    path = folder_or_file
    if os.path.isdir(path):
        path = os.path.join(path, FILENAME)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint '{folder_or_file}' not found (expected a folder holding {FILENAME}, or the file)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a bad checkpoint
        raise CheckpointError(f"checkpoint '{path}' is not readable ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{path}' is not a unimo checkpoint of format {FORMAT_VERSION}")
    return state
