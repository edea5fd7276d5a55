"""Helpers shared by the tests (importable as `support`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent  # the venv's `ray`, `mlflow` and `python`

# What makes a job join the test session's Ray cluster (conftest starts it): `run_job` adds
# it to every job's environment unless the test's own `env` names RAY_ADDRESS (the empty
# string: a Ray of the job's own, as without a cluster).
SHARED_RAY: dict[str, str] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_job(script: str, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python jobs/<script>` from the repo root, as a user would, on the session's Ray
    cluster (`SHARED_RAY`) unless `env` names another."""
    env = env or {}
    if "RAY_ADDRESS" not in env:
        env = {**SHARED_RAY, **env}
    elif not env["RAY_ADDRESS"]:
        env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [PYTHON, f"jobs/{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def kill_process_tree(pid: int, timeout: float = 60.0) -> None:
    """SIGKILL a process and every descendant, and wait until none of them still runs.

    Ray's workers (the Train controller among them) may sit in process groups of their own,
    so killing the driver's group is not enough; and a member blocked in a write (the
    checkpoint snapshot, say) finishes it after the driver is reaped. The tree is read
    before anything dies, while every parent link still holds. Zombies are not waited for."""
    tree = _descendants(pid) | {pid}
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline and tree & _live_processes().keys():
        time.sleep(0.1)


def _live_processes() -> dict[int, int]:
    """Parent PID of every process that is not a zombie, read from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the command name is in parentheses and may hold spaces: split after it
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if state != "Z":
            parents[int(stat.parent.name)] = int(ppid)
    return parents


def ray_train_workers_of(pid: int) -> list[int]:
    """The Ray Train worker processes among `pid`'s descendants (a job and the Ray it started)."""
    found = []
    for child in _descendants(pid):
        try:
            if b"RayTrainWorker" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue  # it ended while we looked
    return found


def _descendants(pid: int) -> set[int]:
    parents = _live_processes()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def run_job_without(modules: list[str], script: str, *args: str, env: dict | None = None,
                    timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python jobs/<script>` (or any repo-relative script) with `modules` made
    unimportable, as on a machine where they are not installed."""
    path = script if "/" in script else f"jobs/{script}"
    code = ("import runpy, sys\n"
            f"for name in {modules!r}: sys.modules[name] = None  # import fails, as if not installed\n"
            f"sys.argv = [{path!r}, *{list(args)!r}]\n"
            f"runpy.run_path({path!r}, run_name='__main__')\n")
    return subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def wait_for_checkpoint(snapshot: Path, proc: subprocess.Popen, timeout: float = 300, after: int = -1) -> int:
    """Wait until Ray Train's checkpoint snapshot (`checkpoint_manager_snapshot.json`,
    written once a checkpoint is safely stored) names one past step `after`; return its step.

    Ray rewrites that file in place, so a read can catch it half-written: such a
    read counts as "not yet" rather than failing the test.
    """
    deadline = time.time() + timeout
    while True:
        try:
            latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result")
        except (FileNotFoundError, json.JSONDecodeError):
            latest = None
        if latest is not None and latest["metrics"]["step"] > after:
            return latest["metrics"]["step"]
        assert proc.poll() is None and time.time() < deadline, "no checkpoint before the run ended"
        time.sleep(0.2)


def metric_history(home, run_name: str, key: str) -> list[list]:
    """Each MLflow run of that name in UNIMO_HOME `home` (oldest first): its metric
    history, by step."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("unimo").experiment_id],
                              filter_string=f"attributes.run_name = '{run_name}'", order_by=["attributes.start_time ASC"])
    return [sorted(client.get_metric_history(r.info.run_id, key), key=lambda m: m.step) for r in runs]


def write_token_shards(root, sources: int = 32, windows: int = 2, latent: int = 3, grid: tuple[int, int] = (2, 2), s: int = 2,
                       video_codes: int = 16, motion_codes: int = 8, seed: int = 0, video_tokenizer: str = "synthetic-video",
                       motion_tokenizer: str = "synthetic-motion", size: int | None = None, corpus: str | None = None) -> str:
    """Token shards (the pretokenize layout) of clips with learnable structure, written
    without any tokenizer: each clip has a base b and a step k in {1, 2}; V_0 = b + (0, 1,
    2, ...) over its grid, V_{j+1} = V_j + k, and M_j[i] = V_j[0, 0] + i * k (mod the codebook
    sizes). Given the condition, every generated token of V2M and M2V is then determined,
    and of I2VM all but k. With `corpus`, the rows name its videos as their sources (one
    source a clip, in order), so their frames and label motion can be read back."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from unimo.pipelines import token_shards

    rng = np.random.default_rng(seed)
    rows = []
    if corpus:
        from unimo.pipelines import corpus_format

        videos = [corpus_format.video_path(corpus, c) for c in corpus_format.CorpusManifest.read(corpus).clip_ids]
    for src in range(sources):
        for w in range(windows):
            k = int(rng.integers(1, 3))
            v0 = (int(rng.integers(0, video_codes)) + np.arange(grid[0] * grid[1]).reshape(grid)) % video_codes
            video = np.stack([(v0 + j * k) % video_codes for j in range(latent)])
            motion = np.stack([(video[j, 0, 0] + np.arange(s) * k) % motion_codes for j in range(latent)])
            rows.append({"clip_id": f"src{src:03d}-{w * 9}", "source": videos[src] if corpus else f"file:///videos/src{src:03d}.mp4", "start_frame": w * 9,
                         "num_frames": 1 + 4 * (latent - 1), "video_tokens": video.flatten().tolist(),
                         "motion_tokens": motion.flatten().tolist(), "motion_start": [0.0, 0.9, 0.0], "motion_yaw": 0.0,
                         "betas": [0.0] * 10})
    root = str(root)
    os.makedirs(os.path.join(root, token_shards.TOKENS), exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=token_shards.TOKEN_SCHEMA), os.path.join(root, token_shards.TOKENS, "part-0.parquet"))
    token_shards.TokenManifest(
        video_tokenizer={"source": video_tokenizer, "codebook_size": video_codes, "temporal_factor": 4, "spatial_factor": 8},
        motion_tokenizer={"source": motion_tokenizer, "codebook_size": motion_codes, "expansion": s, "temporal_stride": 4},
        latent_frames=latent, motion_tokens_per_latent=s, grid=list(grid), frames=1 + 4 * (latent - 1), size=size or grid[0] * 8, fps=30.0,
        clips=len(rows), inputs=sources).write(root)
    return root


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, headers: dict | None = None, timeout: float = 120,
                  body: str | None = None) -> None:
    """Until `url` answers 200 (a server that is still starting refuses or answers 5xx), with
    `body` when given: another server on the same port (a port taken between `free_port` and
    the server's bind) answers too, and the assertion then names the port's real owner."""
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
                if r.status == 200:
                    answer = r.read().decode(errors="replace")
                    assert body is None or answer.strip() == body, (
                        f"{url} is answered by another server (the port was taken before {proc.args[:3]} bound it): "
                        f"{answer[:200]!r}\n{log.read_text()[-2000:]}")
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert proc.poll() is None, f"{proc.args[:3]} exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
        assert time.time() < deadline, f"{url} did not answer in {timeout} s:\n{log.read_text()[-4000:]}"
        time.sleep(0.3)


@contextlib.contextmanager
def background(args: list, log: Path, env: dict | None = None):
    """A server process, its output in `log`, killed with every descendant at the end."""
    with open(log, "w") as out:
        proc = subprocess.Popen([str(a) for a in args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        kill_process_tree(proc.pid)
        proc.wait()


@dataclass(frozen=True)
class RayCluster:
    dashboard: str  # the dashboard's (and job server's) URL
    temp_dir: str  # its session folder's parent
    join: dict[str, str]  # the environment a process needs to join it (`ray job` CLI, a job)


@contextlib.contextmanager
def ray_cluster(folder: Path, num_cpus: int = 2, env: dict | None = None, timeout: float = 120, token: Path | None = None):
    """`ray start --head` on free ports of 127.0.0.1 with `token` (default: a fresh one in
    `folder`) at RAY_AUTH_TOKEN_PATH (RAY_AUTH_MODE=token keeps auth on, and the job CLI
    sends the token only in that mode), its output in folder/ray_start.log. Yields it once
    its dashboard answers; its processes, and nothing else on the machine, are killed at
    the end."""
    if token is None:
        token = Path(folder) / "auth_token"
        token.write_text(uuid.uuid4().hex)
    gcs, dashboard = free_port(), free_port()
    url = f"http://127.0.0.1:{dashboard}"
    # Ray's own actors find the state API at RAY_API_SERVER_ADDRESS, not by guessing among
    # every Ray on the machine (see unimo.platform.ray_session.connect)
    join = {"RAY_ADDRESS": f"127.0.0.1:{gcs}", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
            "RAY_API_SERVER_ADDRESS": url}
    env = {**{k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}, **join, **(env or {})}
    del env["RAY_ADDRESS"]  # the head starts a cluster, it joins none
    # session sockets live under the temp dir, and a unix socket path must stay under 108 bytes
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    args = [BIN / "ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--dashboard-agent-listen-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
            f"--ray-client-server-port={free_port()}", f"--num-cpus={num_cpus}", f"--temp-dir={ray_tmp}", "--disable-usage-stats"]
    log = Path(folder) / "ray_start.log"
    try:
        with background(args, log, env) as head:
            wait_for_http(f"{url}/api/version", head, log, headers={"Authorization": f"Bearer {token.read_text()}"},
                          timeout=timeout)
            yield RayCluster(url, ray_tmp, join)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(folder: Path, artifacts: str, env: dict | None = None, timeout: float = 120):
    """`mlflow server` on a free port of 127.0.0.1: its SQLite store in `folder`, artifacts
    proxied to `artifacts` (a folder or an s3:// URL). Yields its URL once it answers; killed
    with its workers at the end. Its output goes to folder/mlflow.log."""
    port, log = free_port(), Path(folder) / "mlflow.log"
    # no background job runners: eight processes a test has no use for, on two cores
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    args = [Path(PYTHON).parent / "mlflow", "server", "--host", "127.0.0.1", "--port", port, "--workers", "1",
            "--backend-store-uri", f"sqlite:///{folder}/mlflow.db", "--artifacts-destination", artifacts]
    url = f"http://127.0.0.1:{port}"
    with background(args, log, env) as proc:
        wait_for_http(f"{url}/health", proc, log, timeout=timeout, body="OK")
        yield url
