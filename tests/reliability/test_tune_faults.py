"""Diverging and crashing trials cost only themselves; the export never crowns them."""

from __future__ import annotations

import math

import optuna
import pandas as pd
import pytest

from gan.errors import GanTuneError
from tuning.export import choose_best, collect_trials, export_run
from tuning.run import load_study, TuneOptions, read_options, run_tuning

pytestmark = pytest.mark.slow


def test_diverged_and_errored_trials_are_recorded_and_skipped(local_ray, tmp_path):
    # g_lr 1e20 makes a trial's loss non-finite at once; trial 2 raises at epoch 20 on every try,
    # after reporting a finite score at epoch 10. No ASHA: it could stop trial 2 at epoch 10,
    # before its failure, depending on which trials reach that rung first.
    space = {"g_lr": {"choices": [2e-4, 1e20]}}
    # minmax: under the default quantile encoding these 40-epoch trials all fail the memorisation
    # guard (copy_share 0.55-0.93, see tests/gan/test_fidelity.py) and the export below would
    # refuse for that reason, not for the faults under test.
    opts = TuneOptions(epochs=40, eval_every=10, num_samples=6, sampler="random", seed=1, space=space, scheduler="none",
                       storage_path=str(tmp_path), name="f", max_failures=1, fail_trials={"2": 20}, encoding="minmax")
    results, run_dir = run_tuning(opts)
    records = {r.trial_id: r for r in collect_trials(run_dir, read_options(run_dir))}
    statuses = pd.Series([r.status for r in records.values()]).value_counts().to_dict()
    assert statuses.get("errored") == 1, statuses
    assert statuses.get("diverged", 0) >= 1 and statuses.get("completed", 0) >= 1, statuses
    errored = next(r for r in records.values() if r.status == "errored")
    assert "injected failure at epoch 20" in errored.error
    for r in records.values():
        if r.status == "diverged":
            assert r.params["g_lr"] == 1e20 and math.isinf(r.last["wd_mean"])

    # Optuna sees the worst score for both kinds, and no trial is left running.
    study = load_study(run_dir, "f")
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert sum(math.isinf(t.value) for t in study.trials) == statuses["errored"] + statuses["diverged"]
    assert [t.user_attrs.get("status") for t in study.trials].count("errored") == 1

    # The export goes on and its best is a finite, healthy trial.
    summary = export_run(run_dir, tmp_path / "out")
    best = records[summary["best_trial"]]
    assert best.status == "completed" and best.params["g_lr"] == 2e-4 and math.isfinite(summary["wd_mean"])
    table = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert set(table["status"]) >= {"errored", "diverged", "completed"}
    assert table.iloc[0]["trial_id"] == summary["best_trial"]


def test_export_refuses_when_no_trial_is_healthy(local_ray, tmp_path):
    opts = TuneOptions(epochs=20, eval_every=10, num_samples=2, space={"g_lr": 1e20}, storage_path=str(tmp_path), name="d")
    _, run_dir = run_tuning(opts)
    with pytest.raises(GanTuneError, match="no trial has a finite wd_mean"):
        choose_best(collect_trials(run_dir, read_options(run_dir)))
    with pytest.raises(GanTuneError):
        export_run(run_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()
