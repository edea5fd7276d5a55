"""The Ray session: one way in for every job, and resource sizes that never deadlock.

`connect()` joins the cluster named by `RAY_ADDRESS` (set by `ray job submit`, or by the
user), or else starts a local Ray sized to this machine, with the dashboard bound to
127.0.0.1 and Ray's token authentication left as Ray configures it (on by default).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Ray Data's reads and the driver need some CPU of their own: training workers that hold
# every CPU starve them and the job hangs (seen on 2-CPU machines). Keep this much free.
DATA_CPU_RESERVE = 0.5

# The settings a job's workers must read as its driver does (where results go, the caches,
# the tracking server). A local Ray's workers inherit the driver's environment; a cluster's
# workers get their node's, so on joining a cluster these travel in the job's runtime env.
WORKER_SETTINGS = ("UNIMO_HOME", "UNIMO_CACHE", "UNIMO_LIFTER", "UNIMO_LIFTER_STEPS", "MLFLOW_TRACKING_URI")


def connect(num_cpus: int | None = None, address: str | None = None, **init_kwargs):
    """Start or join Ray once per process and return its context.

    - `address` or `RAY_ADDRESS`: join that cluster.
    - otherwise: a local cluster with `num_cpus` (default: all cores).
    """
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    # Workers must agree on UNIMO_HOME even where their working directory differs (Tune
    # runs each trial in a folder of its own): pin it, absolute, before Ray copies the env.
    from unimo.platform.home import ENV_VAR, unimo_home

    os.environ[ENV_VAR] = unimo_home()
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = dict(
        log_to_driver=True,
        configure_logging=True,
        logging_level=logging.WARNING,
        **init_kwargs,
    )
    if address:
        log.info("joining Ray cluster at %s", address)
        for local_only in ("include_dashboard", "dashboard_host", "dashboard_port"):
            kwargs.pop(local_only, None)
        kwargs.setdefault("runtime_env", {"env_vars": settings_for_workers()})
        ctx = ray.init(address=address, **kwargs)
    else:
        kwargs.setdefault("dashboard_host", "127.0.0.1")
        if kwargs.get("include_dashboard") is not False:
            # Ray's own actors (Ray Train's placement-group cleaner) reach the state API at
            # RAY_API_SERVER_ADDRESS, else they guess among every Ray on the machine and fail
            # when there are two (a test's, a `ray start` cluster): set it to this one's
            # dashboard before Ray starts, so every process it spawns inherits it.
            kwargs.setdefault("dashboard_port", _free_port())
            os.environ["RAY_API_SERVER_ADDRESS"] = f"http://{kwargs['dashboard_host']}:{kwargs['dashboard_port']}"
        ctx = ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    _silence_progress_noise()
    return ctx


def settings_for_workers() -> dict[str, str]:
    """This driver's `WORKER_SETTINGS` that are set, less any that a submitted job's own
    runtime env already sets (Ray refuses to merge an env var given twice)."""
    import json

    # what Ray's job manager hands a submitted job's driver: the job's config, as JSON
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
    given = ((job.get("runtime_env") or {}).get("env_vars") or {}).keys()
    return {k: os.environ[k] for k in WORKER_SETTINGS if os.environ.get(k) and k not in given}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


_HELD_CORES: list[int] = []  # lock files held for this process's lifetime


def pin_to_free_core() -> int | None:
    """Pin this process (a one-thread CPU actor) to a core of its affinity mask that no other
    process pinned through here holds, and return it; None where there is nothing to gain
    (one core, or every core taken) or the OS cannot pin.

    Ray does not place workers on cores, and on a small machine that costs: two tokenizer
    actors left free to move between 2 cores ran each call 1.75x slower than one actor alone
    (measured in benchmarks/bench_pretokenize.py). Claims are non-blocking flocks on a lock
    file per core, under the temp folder: the OS releases them when the process exits, so a
    crashed worker never holds a core."""
    import fcntl
    import tempfile

    if not hasattr(os, "sched_setaffinity") or _HELD_CORES:
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    folder = os.path.join(tempfile.gettempdir(), "unimo-cores")
    os.makedirs(folder, exist_ok=True)
    for core in cores:
        fd = os.open(os.path.join(folder, f"{core}.lock"), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _HELD_CORES.append(fd)
        os.sched_setaffinity(0, {core})
        return core
    return None


def _silence_progress_noise() -> None:
    """Keep Ray Data's progress bars; drop its per-operator chatter from the console."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = True
    ctx.verbose_stats_logs = False


@dataclass(frozen=True)
class WorkerResources:
    num_workers: int
    cpus_per_worker: float
    use_gpu: bool

    def as_scaling_config(self):
        from ray.train import ScalingConfig

        return ScalingConfig(
            num_workers=self.num_workers,
            use_gpu=self.use_gpu,
            resources_per_worker={"CPU": self.cpus_per_worker, **({"GPU": 1} if self.use_gpu else {})},
        )


def worker_resources(num_workers: int, use_gpu: bool | None = None, cpus_per_worker: float | None = None) -> WorkerResources:
    """CPU (and GPU) per training worker, sized so Ray Data keeps CPU to feed them.

    CPU workers share out what Ray Data does not keep (and train with that many threads):
    on a 2-CPU machine 1 worker gets 1.5 CPU, 2 workers 0.75 each, leaving 0.5 for reads.
    No worker asks for more than the largest node has. GPU workers take one CPU each, to
    drive the GPU; `cpus_per_worker` overrides all of this.
    """
    import ray

    if num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    total = ray.cluster_resources()
    gpus = total.get("GPU", 0)
    if use_gpu is None:
        use_gpu = gpus >= num_workers
    if cpus_per_worker is None:
        spare = max(total.get("CPU", 1) - DATA_CPU_RESERVE, 0.25)
        largest_node = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=1)
        share = min(spare / num_workers, largest_node - DATA_CPU_RESERVE, 1.0 if use_gpu else float("inf"))
        cpus_per_worker = max(0.25, share)
    return WorkerResources(num_workers, round(cpus_per_worker, 3), bool(use_gpu))


# A Tune trial's own process only waits on its training workers: it needs little CPU.
TRIAL_CPU = 0.25


@dataclass(frozen=True)
class TrialResources:
    concurrent: int
    cpus_per_worker: float  # for each trial's training workers


def trial_resources(num_trials: int, num_workers: int, use_gpu: bool = False, cpus_per_worker: float = 0.0,
                    max_concurrent: int = 0) -> TrialResources:
    """How many sweep trials run at once, and the CPU each trial's workers get, so that
    concurrent trials share the cluster instead of queueing for all of it.

    GPU trials: one GPU per worker, so GPUs // workers at once. CPU trials: about one CPU
    per worker (or `cpus_per_worker`), with what is spare shared out among the trials that
    fit, after Ray Data's reserve and each trial's own process.
    """
    import ray

    total = ray.cluster_resources()
    spare = max(total.get("CPU", 1) - DATA_CPU_RESERVE, TRIAL_CPU + 0.25 * num_workers)
    if use_gpu:
        fits = int(total.get("GPU", 0)) // num_workers
    else:
        fits = int(spare // (TRIAL_CPU + num_workers * (cpus_per_worker or 1.0)))
    concurrent = max(1, min(fits, num_trials, max_concurrent or num_trials))
    if cpus_per_worker:
        cpus = cpus_per_worker
    elif use_gpu:
        cpus = 1.0
    else:
        cpus = max(0.25, (spare / concurrent - TRIAL_CPU) / num_workers)
    return TrialResources(concurrent, round(cpus, 3))
