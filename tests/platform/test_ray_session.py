"""The Ray session helper, and Ray Data across a simulated 2-node cluster."""

from __future__ import annotations

import os
import time

import pytest

from unimo.platform import ray_session, storage


def test_connect_starts_local_ray_once_and_sizes_workers_to_leave_cpu_for_data():
    import ray

    ray_session.shutdown()
    try:
        ray_session.connect(num_cpus=2, include_dashboard=False)  # no RAY_ADDRESS: a Ray of its own
        assert ray.is_initialized()
        before = ray.get_runtime_context().get_node_id()
        ray_session.connect()  # a second call joins the running session
        assert ray.get_runtime_context().get_node_id() == before
        assert ray.cluster_resources()["CPU"] == 2

        two = ray_session.worker_resources(2)
        assert two.num_workers == 2 and not two.use_gpu
        # 2 workers on 2 CPUs must leave CPU for Ray Data's reads, or the job hangs
        assert two.num_workers * two.cpus_per_worker <= 2 - ray_session.DATA_CPU_RESERVE
        assert ray_session.worker_resources(1).cpus_per_worker == 2 - ray_session.DATA_CPU_RESERVE
        with pytest.raises(ValueError):
            ray_session.worker_resources(0)
        scaling = two.as_scaling_config()
        assert scaling.num_workers == 2 and scaling.resources_per_worker["CPU"] == two.cpus_per_worker
    finally:
        ray_session.shutdown()


def test_connect_joins_the_cluster_named_by_ray_address_and_hands_its_settings_to_the_workers(monkeypatch, tmp_path):
    from ray.cluster_utils import Cluster

    ray_session.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        # set after the cluster started: its nodes' environment does not have them
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
        monkeypatch.setenv("UNIMO_HOME", str(tmp_path / "job_home"))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
        monkeypatch.setenv("UNIMO_SOMETHING_ELSE", "driver only")
        ray_session.connect(include_dashboard=False)  # a local Ray's option, dropped on joining
        import ray

        assert ray.cluster_resources()["CPU"] == 1  # the cluster's, not this machine's

        @ray.remote
        def settings():
            return {k: os.environ.get(k) for k in ("UNIMO_HOME", "MLFLOW_TRACKING_URI", "UNIMO_SOMETHING_ELSE")}

        assert ray.get(settings.remote()) == {"UNIMO_HOME": str(tmp_path / "job_home"),
                                              "MLFLOW_TRACKING_URI": "http://127.0.0.1:5999", "UNIMO_SOMETHING_ELSE": None}
    finally:
        ray_session.shutdown()
        cluster.shutdown()


@pytest.mark.slow
def test_ray_data_job_runs_across_two_nodes(tmp_path):
    """A Ray Data map over a head and a worker node: both nodes do work, and the output
    written through the storage layer holds every row once."""
    import ray
    import ray.data
    from ray.cluster_utils import Cluster

    ray_session.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray_session.connect(address=cluster.address)
        cluster.wait_for_nodes()
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2

        def tag_with_node(batch):
            time.sleep(0.3)  # long enough that both nodes get tasks
            batch["node"] = [ray.get_runtime_context().get_node_id()] * len(batch["id"])
            return batch

        out = storage.join(str(tmp_path), "two_node")
        fs, path = storage.pyarrow_filesystem(out)
        ds = ray.data.range(400, override_num_blocks=8).map_batches(tag_with_node, num_cpus=1)
        ds.write_parquet(path, filesystem=fs)

        back = ray.data.read_parquet(path, filesystem=fs).to_pandas()
        assert sorted(back["id"]) == list(range(400))
        assert back["node"].nunique() == 2
    finally:
        ray_session.shutdown()
        cluster.shutdown()


def test_workers_pin_themselves_to_different_cores_and_free_them_on_exit(tmp_path):
    import subprocess
    import sys

    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 cores and sched_setaffinity")
    cores = sorted(os.sched_getaffinity(0))
    code = ("import os, time; from unimo.platform.ray_session import pin_to_free_core; "
            "core = pin_to_free_core(); print(core, sorted(os.sched_getaffinity(0)), flush=True); time.sleep(4)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the claims live in the temp folder: a private one
    many = len(cores) + 1 if len(cores) <= 4 else 3
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in range(many)]
    lines = [p.communicate(timeout=120)[0].split(" ", 1) for p in procs]
    pinned = [int(core) for core, _ in lines if core != "None"]
    assert len(pinned) == min(many, len(cores)) and len(set(pinned)) == len(pinned)  # each its own core
    assert all(mask.strip() == f"[{core}]" for core, mask in lines if core != "None")
    if many > len(cores):
        assert sum(core == "None" for core, _ in lines) == 1  # more workers than cores: the last one floats
    again = subprocess.run([sys.executable, "-c", code.replace("time.sleep(4)", "")], capture_output=True, text=True, env=env)
    assert again.stdout.split(" ", 1)[0] == str(cores[0])  # the exited workers' claims are gone
