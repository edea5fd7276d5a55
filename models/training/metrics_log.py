"""Where rank 0's training metrics go: the MLflow run the driver opened, and the console.

Workers log through `MlflowClient` with the run id the driver passes them, so a run's
metrics land in one MLflow run whichever process (or node) trains.
"""

from __future__ import annotations

import time
from typing import Any, Callable

MetricsLog = Callable[[dict[str, float], int], None]


def console_line(metrics: dict[str, Any], step: int, total_steps: int) -> str:
    shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k in ("train/loss", "train/steps_per_s") or k.startswith("val/"))
    return f"step {step}/{total_steps} {shown}"


def metrics_log(tracking: dict | None, total_steps: int, console: bool = True) -> MetricsLog:
    """Logs to MLflow when `tracking` ({uri, run_id}) is given, and a line to the console."""
    client = None
    if tracking:
        from mlflow import MlflowClient

        client = MlflowClient(tracking["uri"])

    def log(metrics: dict[str, float], step: int) -> None:
        if client is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            client.log_batch(tracking["run_id"], metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])
        if console:
            print(console_line(metrics, step, total_steps), flush=True)

    return log
