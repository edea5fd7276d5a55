"""What a job shows a person: its own lines and progress bars on the terminal; everything
else (Ray's and MLflow's logs, worker output, warnings, tracebacks) in a log file whose
path the job prints. `--verbose` keeps all of it on the terminal instead.

    console.quiet("train")                     # cli.run does this unless --verbose
    console.say("trained to step 60")          # the terminal, always
    for x in console.progress(items, desc="fit", unit="clip"): ...

Quiet mode points file descriptors 1 and 2 at the log, so output from anything (Python,
C++ libraries, child processes, Ray forwarding its workers' lines) lands there, and keeps
duplicates of the terminal's descriptors for `say` and the bars.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any, Iterable

_terminal_out = None  # set by quiet(); None: sys.stdout / sys.stderr as they are now
_terminal_err = None
_log_path: str | None = None


def out():
    return _terminal_out or sys.stdout


def err():
    return _terminal_err or sys.stderr


def log_path() -> str | None:
    return _log_path


def say(*args: Any, sep: str = " ", end: str = "\n") -> None:
    """A line for the person at the terminal (the log gets it too)."""
    print(*args, sep=sep, end=end, file=out(), flush=True)
    if _log_path:
        print(*args, sep=sep, end=end, file=sys.stdout, flush=True)


def warn(message: str) -> None:
    """A warning the person should see (the log gets it too)."""
    print(f"warning: {message}", file=err(), flush=True)
    if _log_path:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def progress(iterable: Iterable | None = None, **kwargs):
    """A tqdm bar on the terminal (counts and rates), whatever happens to stdout."""
    from tqdm import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, file=err(), **kwargs)


def logs_folder() -> str:
    """UNIMO_HOME/logs, or a local temporary folder when UNIMO_HOME is remote."""
    from unimo.platform.home import home_path, unimo_home

    folder = os.path.join(tempfile.gettempdir(), "unimo-logs") if "://" in unimo_home() else home_path("logs")
    os.makedirs(folder, exist_ok=True)
    return folder


def quiet(job: str) -> str:
    """Send this process's stdout and stderr (descriptors 1 and 2) to a new log file; `say`
    and `progress` keep the terminal. Returns the log's path."""
    global _terminal_out, _terminal_err, _log_path
    if _log_path:
        return _log_path
    path = os.path.join(logs_folder(), f"{job}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
    sys.stdout.flush()
    sys.stderr.flush()
    _terminal_out = os.fdopen(os.dup(1), "w", buffering=1)
    _terminal_err = os.fdopen(os.dup(2), "w", buffering=1)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    _log_path = path
    return path


class PolledBar:
    """A bar for work this process does not do itself (Ray workers, other nodes): a thread
    asks `poll()` for (done, postfix) every `interval` seconds and redraws.

        with PolledBar(lambda: (steps_done(), {"loss": 0.1}), total=2000, desc="train", unit="step"):
            trainer.fit()
    """

    def __init__(self, poll, total: int | None, desc: str, unit: str = "it", interval: float = 1.0):
        import threading

        self._poll, self._interval = poll, interval
        self._bar = progress(total=total, desc=desc, unit=unit)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"progress-{desc}")

    def _update(self) -> None:
        try:
            done, postfix = self._poll()
        except Exception:  # noqa: BLE001 - a bar must never fail the job it watches
            return
        if done is not None and done != self._bar.n:
            self._bar.update(done - self._bar.n)
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._update()

    def __enter__(self) -> "PolledBar":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._update()
        self._bar.close()
