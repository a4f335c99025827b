"""Losing a worker node mid-run costs at most the trials in flight, never the run.

A real three-node Ray cluster on loopback (head + 2 workers, one CPU each); one worker node's
processes are killed while trials run on it.
"""

from __future__ import annotations

import json
import time

import pytest

from gan.fidelity import passes_guard
from tests.helpers import popen_gantune, study_states, trial_results

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def three_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, workers
    cluster.shutdown()


def test_killed_worker_node_loses_nothing_but_trials_in_flight(three_node_cluster, tmp_path):
    cluster, workers = three_node_cluster
    victim = workers[0]
    run_dir = tmp_path / "w"
    # Trials long enough (8,000 steps) to be caught running on the victim node on a fast, idle
    # machine, and a fresh actor per trial so that trials spread over all three nodes.
    proc = popen_gantune("tune", "--address", cluster.address, "--num-samples", "6", "--epochs", "4000", "--scheduler", "none",
                         "--no-reuse-actors",
                         "--max-failures", "3", "--storage-path", str(tmp_path), "--name", "w", "--out", str(tmp_path / "best"),
                         log=tmp_path / "tune.log")
    try:
        # Wait until some trial has reported from the victim node, then kill that node.
        deadline = time.time() + 240
        while time.time() < deadline:
            on_victim = [t for t, rs in trial_results(run_dir).items() if rs and rs[-1]["node_id"] == victim.node_id and rs[-1]["epoch"] < 4000]
            if on_victim:
                break
            assert proc.poll() is None, (tmp_path / "tune.log").read_text()[-3000:]
            time.sleep(0.3)
        else:
            pytest.fail("no trial ran on the worker node to be killed")
        cluster.remove_node(victim, allow_graceful=False)
        assert proc.wait(timeout=480) == 0, (tmp_path / "tune.log").read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    results = trial_results(run_dir)
    finished = {t: rs[-1] for t, rs in results.items() if rs and rs[-1]["epoch"] >= 4000}
    assert len(finished) == 6, {t: rs[-1]["epoch"] if rs else None for t, rs in results.items()}
    # The interrupted trial was retried elsewhere and finished there.
    assert all(finished[t]["node_id"] != victim.node_id for t in on_victim)
    states = study_states(run_dir)
    assert states.count("COMPLETE") == 6 and len(states) == 6, states  # no trial twice, none stuck
    # The export is the best healthy trial of the run, lost node or not.
    summary = json.loads((tmp_path / "best" / "summary.json").read_text())
    eligible = [r for r in finished.values() if passes_guard(r)]
    assert summary["wd_mean"] == pytest.approx(min(r["wd_mean"] for r in eligible), abs=1e-9)
