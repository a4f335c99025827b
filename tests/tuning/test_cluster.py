"""A real two-node Ray cluster on loopback: `gantune tune --address` spreads trials over both."""

from __future__ import annotations

import pytest

from tests.helpers import run_gantune, trial_results

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def two_node_cluster():
    from ray.cluster_utils import Cluster

    # Head and worker are separate raylets (separate node ids), one CPU each, so two
    # concurrent one-CPU trials must land on different nodes.
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_tune_on_two_node_cluster_uses_both_nodes(two_node_cluster, tmp_path):
    proc = run_gantune(
        "tune", "--address", two_node_cluster.address, "--num-samples", "4", "--epochs", "400",
        # A fresh actor per trial: with actor reuse, a trial whose actor is still starting on
        # the second node may be handed the first node's freed actor instead.
        "--no-reuse-actors", "--scheduler", "none", "--storage-path", str(tmp_path), "--name", "c", "--out", str(tmp_path / "best"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = trial_results(tmp_path / "c")
    assert len(results) == 4
    node_ids = {r[-1]["node_id"] for r in results.values()}
    assert len(node_ids) == 2, node_ids
    assert (tmp_path / "best" / "best_config.json").is_file()
