"""ray_cluster.yaml is a real cluster-launcher file: Ray's own schema and checks accept it."""

import json
import os

import jsonschema
import ray
import yaml
from support import REPO


def load():
    return yaml.safe_load((REPO / "ray_cluster.yaml").read_text())


def test_cluster_yaml_matches_rays_schema():
    schema = json.loads(open(os.path.join(os.path.dirname(ray.__file__), "autoscaler", "ray-schema.json")).read())
    jsonschema.validate(load(), schema)


def test_cluster_yaml_passes_rays_launcher_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(load()))


def test_cluster_has_head_cpu_and_gpu_workers_and_installs_unimo():
    cfg = load()
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    assert {"cpu_worker", "gpu_worker"} <= set(types)
    assert "gpu" in cfg["docker"]["worker_image"] and "cpu" in types["cpu_worker"]["docker"]["worker_image"]
    assert any("pip install" in c and "/home/ray/unimo" in c for c in cfg["setup_commands"])
    assert cfg["file_mounts"]["/home/ray/unimo"] == "."
    assert any("mlflow server" in c for c in cfg["head_start_ray_commands"])
