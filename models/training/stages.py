"""Training stages as plug-ins, found by name (`jobs/train.py --stage NAME`).

A stage lives in its model's folder (`unimo/models/<name>/stage.py`) and exposes `PLUGIN`,
which supplies everything the shared session and loop do not own:

- `config_cls`: its config section (`<name>:` in jobs/train.py's config);
- `debug_overrides(cfg)`: a tiny model and a few steps, for smoke tests and CI;
- `prepare(cfg, use_ray)`: its data (generated when missing) as Ray Datasets or as
  in-memory arrays, and its config completed from the data (normalisation statistics);
- `make_stage(stage_config)`: the worker-side `Stage` (model, loss, validation metrics);
- `sample_artifacts(checkpoint_file, example)`: files for the MLflow run (a sample video);
- `selection_metric`: the validation metric and its direction (`("val/psnr", "max")`) that
  sweeps stop trials early on and pick their champion by;
- optionally, for sweeps (`unimo.models.training.sweep`): `ablation`, the override sets a
  sweep compares when given none; `held_out_metrics(checkpoint, window)` and
  `held_out_table(finished, seeds)`, a finished trial scored on held-out data and the table
  of them.

Adding a stage is one entry in `STAGES` and one module; the session has no branch per
stage.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from unimo.platform.errors import ConfigError

# name -> module holding PLUGIN
STAGES = {
    "motion_tokenizer": "unimo.models.motion_tokenizer.stage",
    "video_tokenizer": "unimo.models.video_tokenizer.stage",
    "unimo": "unimo.models.unimo.stage",
    "v2m_baseline": "unimo.models.v2m_baseline.stage",
}


@dataclass
class PreparedData:
    stage_config: Any  # the stage's config, completed from the data (e.g. feature statistics)
    description: str  # what was read (data URLs), for the run's params
    train: Any  # Ray Dataset (ray runner) or {key: ndarray} (local runner)
    val: Any
    num_train: int


class StagePlugin(Protocol):
    name: str
    config_cls: type
    selection_metric: tuple[str, str]

    def debug_overrides(self, cfg: Any) -> Any: ...

    def prepare(self, cfg: Any, use_ray: bool) -> PreparedData: ...

    def make_stage(self, stage_config: Any) -> Any: ...

    def sample_artifacts(self, checkpoint_file: str, example: dict) -> dict[str, bytes]: ...


def names() -> list[str]:
    return list(STAGES)


def get(name: str) -> StagePlugin:
    if name not in STAGES:
        raise ConfigError(f"unknown stage '{name}' (known: {', '.join(STAGES)})")
    return importlib.import_module(STAGES[name]).PLUGIN
