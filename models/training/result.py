"""What a runner returns: where the last checkpoint is, and the last metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager


@dataclass
class RunResult:
    checkpoint: str  # the last checkpoint's folder (a local path or a storage URL)
    as_directory: Callable[[], ContextManager[str]]  # the checkpoint as a local folder, while in the context
    metrics: dict[str, Any] = field(default_factory=dict)  # the last reported: step, loss, val/...
