"""Diverging, crashing and killed trials cost only themselves; the export never crowns them.

Faults are injected from the tests (tests/helpers.py installs a failing trainable), not through
any hook in the product. Pool mode's per-member faults (a diverged member, a configuration the
pool cannot train) are checked in-process in tests/tuning/test_pool.py; here they run through Ray.
"""

from __future__ import annotations

import json
import math
import os

import optuna
import pandas as pd
import pytest
import torch

from gan.errors import GanTuneError
from gan.train import train
from tests.helpers import failing_trial, pool_worker_killed_after, study_trials
from tuning.export import choose_best, collect_trials, export_run, scored_config
from tuning.run import TuneOptions, load_study, read_options, run_tuning

pytestmark = pytest.mark.slow

# Learning rates around the reference's, where a packed member and a lone Trainer agree to float
# rounding over these budgets (see tests/tuning/test_pool.py, WEIGHT_TOL).
CALM = {"g_lr": {"low": 1e-4, "high": 5e-4, "log": True}, "d_lr": {"low": 1e-4, "high": 5e-4, "log": True}}
WEIGHT_TOL = 1e-4


def test_diverged_and_errored_trials_are_recorded_and_skipped(local_ray, tmp_path, monkeypatch):
    """Fault: in per-trial mode a configuration diverges (non-finite loss) and another raises on
    every try. Both are recorded with their status and error in trials.csv, Optuna is told the worst
    value for each (nothing RUNNING), the run goes on, and the export crowns the lowest guarded
    report (the errored trial's, from before its failure, counts).

    g_lr 1e20 makes a trial's loss non-finite at once; one trial of g_lr 2e-4 raises at epoch 20
    on every try, after reporting a finite score at epoch 10."""
    marker = tmp_path / "failing-trial"
    monkeypatch.setattr("tuning.trainable.gan_trainable", failing_trial(20, marker, when=lambda params: params["g_lr"] == 2e-4))
    space = {"g_lr": {"choices": [2e-4, 1e20]}}
    # No ASHA: it could stop trial 2 at epoch 10, before its failure, depending on which trials
    # reach that rung first. minmax: under the quantile encoding these 40-epoch trials all fail
    # the memorisation guard (see tests/gan/test_fidelity.py) and the export below would refuse
    # for that reason, not for the faults under test.
    opts = TuneOptions(epochs=40, eval_every=10, num_samples=6, sampler="random", seed=1, space=space, scheduler="none",
                       storage_path=str(tmp_path), name="f", max_failures=1, encoding="minmax", pack=None)
    results, run_dir = run_tuning(opts)
    records = {r.trial_id: r for r in collect_trials(run_dir, read_options(run_dir))}
    statuses = pd.Series([r.status for r in records.values()]).value_counts().to_dict()
    assert statuses.get("errored") == 1, statuses
    assert statuses.get("diverged", 0) >= 1 and statuses.get("completed", 0) >= 1, statuses
    errored = next(r for r in records.values() if r.status == "errored")
    assert errored.trial_id == marker.read_text() and "injected failure at epoch 20" in errored.error
    assert errored.last["epoch"] >= 10 and math.isfinite(errored.last["wd_mean"])  # scored before it failed
    for r in records.values():
        if r.status == "diverged":
            assert r.params["g_lr"] == 1e20 and math.isinf(r.last["wd_mean"])

    # Optuna sees the worst score for both kinds, and no trial is left running.
    study = load_study(run_dir, "f")
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert sum(math.isinf(t.value) for t in study.trials) == statuses["errored"] + statuses["diverged"]
    assert [t.user_attrs.get("record", {}).get("status") for t in study.trials].count("errored") == 1

    # The export goes on: the lowest guarded report wins, the errored trial's report before its
    # failure included (retraining it to that step is exact); a diverged trial never scored.
    summary = export_run(run_dir, tmp_path / "out")
    best = records[summary["best_trial"]]
    assert best.status in ("completed", "errored") and best.params["g_lr"] == 2e-4 and math.isfinite(summary["wd_mean"])
    assert summary["wd_mean"] == pytest.approx(min(r.score for r in records.values()), abs=1e-6)
    table = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert set(table["status"]) >= {"errored", "diverged", "completed"}
    assert table.iloc[0]["trial_id"] == summary["best_trial"]


def test_export_refuses_when_no_trial_is_healthy(local_ray, tmp_path):
    """Fault: every configuration of a pool run diverges. The run ends (each told the worst value),
    and the export refuses with one line, "no trial has a finite wd_mean", writing no output
    directory."""
    # Pool mode (the default): every member diverges, is told the worst value, and the run ends.
    opts = TuneOptions(steps=60, num_samples=2, space={"g_lr": 1e20}, storage_path=str(tmp_path), name="d")
    tune_env = {k: v for k, v in os.environ.items() if k.startswith("TUNE_")}
    _, run_dir = run_tuning(opts)
    # The run's Ray Tune settings do not outlive it in the caller's process.
    assert {k: v for k, v in os.environ.items() if k.startswith("TUNE_")} == tune_env
    records = collect_trials(run_dir, read_options(run_dir))
    assert [r.status for r in records] == ["diverged", "diverged"]
    assert [t.state.name for t in study_trials(run_dir)] == ["COMPLETE", "COMPLETE"]
    with pytest.raises(GanTuneError, match="no trial has a finite wd_mean"):
        choose_best(records)
    with pytest.raises(GanTuneError):
        export_run(run_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_killed_pool_worker_restarts_from_its_last_checkpoint(local_ray, tmp_path, monkeypatch):
    """Fault: a pool worker's process is SIGKILLed after its second checkpoint. Ray restarts it
    from that checkpoint: its members continue with their weights, Adam state and streams under new
    Optuna numbers (the old ones FAIL), each ends where a lone trainer of its configuration would
    (to 1e-4), and the run tells every configuration once."""
    marker = tmp_path / "killed.txt"
    monkeypatch.setattr("tuning.pool.pool_trainable", pool_worker_killed_after(2, marker))
    # One worker, 3 slots, 6 configurations of 900 steps scored every 300, of one shape and batch
    # size (so one sub-pack, whose turns are the pool's): turn 1 trains 256 steps (checkpoint 1),
    # turn 2 through step 300, where it scores, to 512 (checkpoint 2, then the kill).
    space = {**CALM, "g_depth": 1, "d_depth": 1, "g_width": 16, "d_width": 16, "noise_dim": 4, "batch_size": 32}
    opts = TuneOptions(steps=900, eval_every=300, num_samples=6, pack=3, max_concurrent=1, scheduler="none", max_failures=1,
                       space=space, encoding="minmax", storage_path=str(tmp_path), name="k")
    results, run_dir = run_tuning(opts)
    assert len(results) == 1 and not results.errors
    (worker, held), = [line.split(" ", 1) for line in marker.read_text().splitlines()]
    held = json.loads(held)
    assert held == [0, 1, 2]

    trials = {t.number: t for t in study_trials(run_dir)}
    states = [t.state.name for t in trials.values()]
    assert "RUNNING" not in states and len(states) - states.count("FAIL") == 6, states
    successors = {t.user_attrs["resumed_from"]: t for t in trials.values() if "resumed_from" in t.user_attrs}
    assert sorted(successors) == held and all(trials[n].state.name == "FAIL" for n in held)
    records = {int(r.trial_id): r for r in collect_trials(run_dir, read_options(run_dir))}
    assert [records[n].status for n in held] == ["resumed"] * 3
    assert {r.last["pool"] for r in records.values() if r.last.get("pool")} == {worker}
    data = read_options(run_dir).load_data(quiet=True)
    space = read_options(run_dir).search_space(len(data.train_idx))
    torch.set_num_threads(1)
    for old, new in successors.items():
        assert new.state.name == "COMPLETE" and new.params == trials[old].params
        # The checkpoint's score was reported again under the new number, then it trained on.
        assert trials[old].intermediate_values.keys() == {300}
        assert new.intermediate_values[300] == pytest.approx(trials[old].intermediate_values[300])
        assert set(new.intermediate_values) == {300, 600}
        record = records[new.number]
        assert record.status == "completed" and record.checkpoint is not None
        # Weights, Adam moments and streams crossed the kill: the member ends where a lone
        # Trainer of its configuration does (one lost piece of state moves weights by 1e-3+).
        saved = torch.load(record.checkpoint, weights_only=True)
        lone = train(scored_config(space, record, len(data.train_idx)), data, device="cpu")
        assert max(float((saved["G"][k] - v).abs().max()) for k, v in lone.generator.state_dict().items()) < WEIGHT_TOL

