"""cluster.yaml is a valid Ray cluster-launcher file (Ray's published JSON schema, no private API)
and keeps the settings that matter: dashboard on loopback, token auth on every node, the
token delivered to the workers, this project installed."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def _load() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def _schema() -> dict:
    # The schema file ships in the Ray wheel as package data next to the launcher code.
    return json.loads(resources.files("ray.autoscaler").joinpath("ray-schema.json").read_text())


def _validate(config: dict) -> None:
    schema = _schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate(config, schema)
    # What the schema cannot express but the launcher requires.
    assert config["head_node_type"] in config["available_node_types"], "head_node_type is not a node type"
    for name, node in config["available_node_types"].items():
        if name != config["head_node_type"]:
            assert node["min_workers"] <= node["max_workers"] <= config["max_workers"], name


def test_cluster_yaml_passes_rays_schema():
    _validate(_load())


def test_schema_check_is_not_vacuous():
    broken = copy.deepcopy(_load())
    broken["available_node_types"]["head"]["node_confg"] = broken["available_node_types"]["head"].pop("node_config")
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)
    broken = copy.deepcopy(_load())
    broken["head_start_ray_commands"] = "ray start --head"  # a string, not a list of commands
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_cluster_yaml_has_cpu_and_gpu_workers_and_installs_gantune():
    config = _load()
    workers = {k: v for k, v in config["available_node_types"].items() if k != config["head_node_type"]}
    assert any(v["resources"].get("GPU", 0) >= 1 for v in workers.values())
    assert any("GPU" not in v["resources"] and v["resources"].get("CPU", 0) >= 1 for v in workers.values())
    assert config["provider"]["type"] == "aws"
    # The project is copied to every node and installed from that copy.
    project = next(remote for remote, local in config["file_mounts"].items() if local == ".")
    assert any(re.search(rf"pip install .*-e {re.escape(project)}\b", cmd) for cmd in config["setup_commands"]), config["setup_commands"]


def _ray_start(commands: list[str]) -> str:
    starts = [cmd for cmd in commands if "ray start" in cmd]
    assert len(starts) == 1, commands
    return starts[0]


def test_dashboard_stays_on_the_heads_loopback():
    head = _ray_start(_load()["head_start_ray_commands"])
    assert re.search(r"--dashboard-host[= ]127\.0\.0\.1\b", head), head
    assert "0.0.0.0" not in head


def test_token_auth_is_on_for_every_node_and_the_token_reaches_the_workers():
    config = _load()
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = _ray_start(config[key])
        assert re.search(r"\bRAY_AUTH_MODE=token ray start\b", start), (key, start)
    # The token file is a file mount: `ray up` copies it to the head, the head's autoscaler to
    # every worker, at the path Ray reads by default (~/.ray/auth_token of the ssh user).
    home = f"/home/{config['auth']['ssh_user']}"
    assert config["file_mounts"].get(f"{home}/.ray/auth_token") == "~/.ray/auth_token", config["file_mounts"]
    excluded = config.get("rsync_exclude", [])
    assert not any(pattern.strip("*/").startswith(".ray") for pattern in excluded), excluded
