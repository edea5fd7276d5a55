"""Progress of work done by Ray tasks and actors, counted in one small actor and drawn as
bars on the driver's terminal (console.PolledBar), on one machine or a cluster.

    with RemoteProgress({"decoded": ("input", len(todo)), "fitted": ("window", None)}) as counts:
        ds.flat_map(decode, fn_kwargs={"progress": counts.handle})   # in decode: add(progress, "decoded")
"""

from __future__ import annotations

import contextlib
from typing import Any


def add(handle: Any, key: str, n: int = 1) -> None:
    """Count `n` more of `key` (from any task or actor; a no-op without a counter)."""
    if handle is not None and n:
        handle.add.remote(key, n)


def _counter_class():
    import ray

    @ray.remote(num_cpus=0)
    class Counts:
        def __init__(self):
            self.counts: dict[str, int] = {}

        def add(self, key: str, n: int) -> None:
            self.counts[key] = self.counts.get(key, 0) + n

        def get(self) -> dict[str, int]:
            return dict(self.counts)

    return Counts


class RemoteProgress:
    def __init__(self, bars: dict[str, tuple[str, int | None]], interval: float = 0.5):
        self.bars, self.interval = bars, interval
        self.handle = None
        self._stack = contextlib.ExitStack()
        self.counts: dict[str, int] = {}

    def _poller(self, key: str, fetch: bool):
        """The first bar asks the actor; the others read what it got (one call a tick)."""
        import ray

        def poll():
            if fetch:
                self.counts = ray.get(self.handle.get.remote(), timeout=10)
            return self.counts.get(key, 0), None

        return poll

    def __enter__(self) -> "RemoteProgress":
        from unimo.platform.console import PolledBar

        self.handle = _counter_class().remote()
        for i, (key, (unit, total)) in enumerate(self.bars.items()):
            self._stack.enter_context(PolledBar(self._poller(key, fetch=i == 0), total, desc=key, unit=unit, interval=self.interval))
        return self

    def __exit__(self, *exc) -> None:
        import ray

        try:  # the final counts for every bar; never in the way of an error already raised
            self.counts = ray.get(self.handle.get.remote(), timeout=10)
        except Exception:  # noqa: BLE001
            pass
        self._stack.close()
        ray.kill(self.handle)
