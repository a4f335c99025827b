"""cluster.yaml is a valid Ray cluster-launcher file (Ray's own schema and checks)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def _load() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_passes_rays_schema():
    validate_config(_load())


def test_cluster_yaml_has_cpu_and_gpu_workers_and_installs_gantune():
    config = _load()
    workers = {k: v for k, v in config["available_node_types"].items() if k != config["head_node_type"]}
    assert any(v["resources"].get("GPU", 0) >= 1 for v in workers.values())
    assert any("GPU" not in v["resources"] and v["resources"].get("CPU", 0) >= 1 for v in workers.values())
    assert config["provider"]["type"] == "aws"
    assert any("pip install" in cmd and "gantune" in cmd for cmd in config["setup_commands"])


def test_schema_check_is_not_vacuous():
    broken = copy.deepcopy(_load())
    broken["available_node_types"]["head"]["node_confg"] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(broken)
