"""The memorisation guard: the tuner never crowns a generator that copies training rows."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

from gan.errors import GanTuneError
from gan.fidelity import passes_guard
from tuning.export import TrialRecord, choose_best, collect_trials, export_run
from tuning.run import load_study, TuneOptions, read_options, run_tuning


def _record(tid: str, wd: float, copy_share: float, status: str = "completed") -> TrialRecord:
    return TrialRecord(tid, status, {}, {"wd_mean": wd, "copy_share": copy_share, "epoch": 10}, None)


def test_a_candidate_without_guard_scores_never_wins_unscored():
    unscored = TrialRecord("unscored", "completed", {}, {"wd_mean": 0.01, "steps": 10}, None)
    honest = _record("honest", 0.05, 0.05)
    # Without a scorer it is passed over; with one it is scored first and judged on that.
    assert choose_best([unscored, honest], 0.25).trial_id == "honest"
    scored = []

    def copier(record):
        scored.append(record.trial_id)
        return {"copy_share": 0.9, "dcr_ratio": 0.1}

    assert choose_best([unscored, honest], 0.25, score=copier).trial_id == "honest" and scored == ["unscored"]
    assert unscored.last["copy_share"] == 0.9  # the score is kept with the record
    fresh = TrialRecord("unscored", "completed", {}, {"wd_mean": 0.01, "steps": 10}, None)
    assert choose_best([fresh, honest], 0.25, score=lambda r: {"copy_share": 0.1}).trial_id == "unscored"
    with pytest.raises(GanTuneError, match="no guard score"):
        choose_best([TrialRecord("x", "completed", {}, {"wd_mean": 0.01}, None)], 0.25)


def test_choose_best_skips_copiers_and_refuses_when_all_copy():
    records = [_record("copier", 0.01, 0.9), _record("honest", 0.05, 0.05), _record("worse", 0.08, 0.02)]
    assert choose_best(records, 0.25).trial_id == "honest"
    assert choose_best(records, 0.95).trial_id == "copier"  # the guard is a threshold, not a ban on low WD
    with pytest.raises(GanTuneError, match="fail the memorisation guard"):
        choose_best([_record("a", 0.01, 0.9), _record("b", 0.02, 0.5)], 0.25)


@pytest.fixture(scope="module")
def collapsing_run(local_ray, tmp_path_factory):
    """A pool-mode run (the default) on 8 rows: a GAN with a high learning rate learns to emit
    (near-)copies of them, which scores the best WD; a slow one spreads its rows and passes the
    guard with a worse WD. minmax: the quantile decoder puts every trial's rows on the 8 real
    values (all fail the guard, see tests/gan/test_fidelity.py), which would void the second
    precondition."""
    tmp_path = tmp_path_factory.mktemp("guard")
    rng = np.random.default_rng(0)
    data = tmp_path / "few.csv"
    pd.DataFrame(rng.uniform(0, 10, (8, 3)), columns=list("abc")).to_csv(data, index=False)
    space = {"g_lr": {"choices": [1e-5, 5e-3]}, "d_lr": {"choices": [1e-5, 5e-3]}, "g_widths": [64, 64], "d_widths": [64, 64]}
    opts = TuneOptions(data=str(data), config={"batch_size": 8}, space=space, epochs=600, eval_every=200, num_samples=6,
                       sampler="random", seed=2, scheduler="none", storage_path=str(tmp_path), name="g", encoding="minmax")
    _, run_dir = run_tuning(opts)
    assert read_options(run_dir).mode == "pool"
    records = [r for r in collect_trials(run_dir, read_options(run_dir)) if math.isfinite(r.score)]
    lowest_wd = min(records, key=lambda r: r.score)
    assert not passes_guard(lowest_wd.last), "precondition: the lowest-WD trial copies rows"
    assert any(passes_guard(r.last) for r in records), "precondition: some trial passes the guard"
    return run_dir, records, lowest_wd


@pytest.mark.slow
def test_tuning_run_that_can_collapse_onto_rows_never_exports_a_copier(collapsing_run, tmp_path):
    """Fault: on an 8-row table the lowest-WD configuration memorises rows. The export passes over
    it for the best configuration that passes the memorisation guard, and the exported model's own
    metrics.json says it passes."""
    run_dir, records, lowest_wd = collapsing_run
    summary = export_run(run_dir, tmp_path / "out")
    assert summary["best_trial"] != lowest_wd.trial_id
    assert summary["guard"]["copy_share"] <= summary["guard"]["max_copy_share"]
    exported = json.loads((tmp_path / "out" / "model" / "metrics.json").read_text())
    assert exported["passes_guard"] is True
    table = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert {"copy_share", "dcr_ratio", "corr_diff", "detect_auc"} <= set(table.columns)


@pytest.mark.slow
def test_export_scores_the_exported_model_against_the_guard(collapsing_run, tmp_path, monkeypatch, caplog):
    """Fault: a trial's recorded guard score is wrong (stale, e.g. weights that moved on after it)
    and claims a copier passes. The export scores the model it would export, logs that the trial
    fails the guard once exported, and passes over it."""
    import tuning.export

    run_dir, _, lowest_wd = collapsing_run
    real = tuning.export.collect_trials

    def lying(run_dir, opts, **kw):
        out = real(run_dir, opts, **kw)
        for r in out:
            if r.trial_id == lowest_wd.trial_id:
                r.last["copy_share"] = 0.0  # claims to pass
        return out

    monkeypatch.setattr(tuning.export, "collect_trials", lying)
    caplog.set_level(logging.INFO, logger="tuning.export")
    summary = export_run(run_dir, tmp_path / "out")
    assert f"trial {lowest_wd.trial_id} fails the guard once exported" in caplog.text
    assert summary["best_trial"] != lowest_wd.trial_id
    assert summary["guard"]["copy_share"] <= summary["guard"]["max_copy_share"]


@pytest.mark.slow
def test_multi_objective_run_exports_a_pareto_front(local_ray, tmp_path):
    # Per-trial mode (--pack off); pool mode's Pareto front is checked in test_pool.py.
    opts = TuneOptions(epochs=30, eval_every=10, num_samples=4, objective="wd,detect_auc", storage_path=str(tmp_path), name="m",
                       pack=None)
    _, run_dir = run_tuning(opts)
    study = load_study(run_dir, "m")
    assert len(study.directions) == 2
    assert all(len(t.values) == 2 and 0.0 <= t.values[1] <= 1.0 for t in study.trials)
    export_run(run_dir, tmp_path / "out")
    front = pd.read_csv(tmp_path / "out" / "pareto_front.csv")
    assert 1 <= len(front) <= 4 and {"wd_mean", "detect_auc"} <= set(front.columns)
    assert (tmp_path / "out" / "report" / "pareto_front.png").is_file()
