"""Losing a worker node mid-run costs at most the work in flight there, never the run.

A real three-node Ray cluster on loopback (head + 2 workers, one CPU each) runs a pool-mode run
(the default) with a pool worker on each node; one worker node's processes are killed while its
pool worker trains members.
"""

from __future__ import annotations

import json

import pytest

from gan.fidelity import passes_guard
from tests.helpers import popen_gantune, study_trials, trial_results, wait_for
from tuning.options import read_options
from tuning.records import pool_records

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def three_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, workers
    cluster.shutdown()


def test_killed_worker_node_loses_nothing_but_the_members_in_flight(three_node_cluster, tmp_path):
    """Fault: a worker node of a three-node loopback cluster is killed while its pool worker trains
    members. The run does not stop: the lost members are told FAIL ("lost with pool worker ...")
    and asked again, the pool worker is restarted on a surviving node, all 6 configurations are
    completed once, and the export is the best healthy configuration of the run."""
    cluster, workers = three_node_cluster
    victim = workers[0]
    run_dir, log = tmp_path / "w", tmp_path / "tune.log"
    (tmp_path / "space.yaml").write_text("g_depth: 1\nd_depth: 1\ng_width: 16\nd_width: 16\nnoise_dim: 4\n")
    # Three pool workers of 2 slots for 6 configurations, no pruning: each worker holds its 2
    # members until they finish (6,000 steps, in rounds of at least 0.5 s: ~12 s on any
    # machine), so the one on the victim node is caught training. Counted in steps alone, on a
    # machine three times as fast the victim's members finished before the node was gone.
    proc = popen_gantune("tune", "--address", cluster.address, "--num-samples", "6", "--steps", "6000", "--pack", "2",
                         "--max-concurrent", "3", "--scheduler", "none", "--space", str(tmp_path / "space.yaml"),
                         "--max-failures", "3", "--storage-path", str(tmp_path), "--name", "w", "--out", str(tmp_path / "best"), log=log,
                         round_pause=0.5)
    try:
        def scored_on_victim():
            names = [t for t, rs in trial_results(run_dir).items() if rs and rs[-1]["node_id"] == victim.node_id]
            lost = [t.number for t in study_trials(run_dir) if t.state.name == "RUNNING" and t.user_attrs.get("record", {}).get("pool") in names]
            return (names, lost) if lost else None

        on_victim, lost = wait_for("a pool worker on the worker node with a scored member", scored_on_victim, 240, proc=proc, log=log)
        cluster.remove_node(victim, allow_graceful=False)
        assert proc.wait(timeout=480) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "run interrupted" not in log.read_text()
    results = trial_results(run_dir)
    assert len(results) == 3
    # The victim's pool worker was restarted on a surviving node and ended there.
    assert all(results[t][-1]["node_id"] != victim.node_id for t in on_victim)

    trials = study_trials(run_dir)
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states, states
    assert states.count("COMPLETE") == 6, states  # every configuration told once, the lost ones asked again
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert {t.number for t in failed} >= set(lost)
    records = {int(r.trial_id): r for r in pool_records(run_dir, read_options(run_dir))}
    for t in failed:  # lost with the worker, or continued from its checkpoint under a new number
        r = records[t.number]
        assert (r.status == "errored" and "lost with pool worker" in r.error) or r.status == "resumed", (r.status, r.error)

    # The export is the best healthy configuration of the run, lost node or not.
    summary = json.loads((tmp_path / "best" / "summary.json").read_text())
    eligible = [r for r in records.values() if r.status == "completed" and passes_guard(r.last)]
    assert summary["best_trial"] == min(eligible, key=lambda r: (r.score, r.trial_id)).trial_id
