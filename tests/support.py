"""Helpers shared by the tests (importable as `support`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_job(script: str, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python jobs/<script>` from the repo root, as a user would."""
    return subprocess.run(
        [PYTHON, f"jobs/{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def kill_process_group(pgid: int, timeout: float = 60.0) -> None:
    """SIGKILL a process group and wait until none of its members still runs.

    Waiting for the leader is not enough: a member blocked in a write (Ray Train's
    controller saving its checkpoint snapshot, say) finishes that write after the leader
    is reaped. Zombies are dead already, so they are not waited for."""
    os.killpg(pgid, signal.SIGKILL)
    deadline = time.time() + timeout
    while time.time() < deadline and _live_members(pgid):
        time.sleep(0.1)


def _live_members(pgid: int) -> list[int]:
    """PIDs of the group's processes that are not zombies, read from /proc."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the command name is in parentheses and may hold spaces: split after it
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if int(group) == pgid and state != "Z":
            live.append(int(stat.parent.name))
    return live
