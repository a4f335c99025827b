"""Tuning end to end on an embedded Ray: real Ray Tune, real Optuna, tiny budgets.

The runs here are per-trial mode (`--pack off`: one Ray trial per configuration, ASHA); pool mode,
the default, has its own end-to-end test in test_pool.py."""

from __future__ import annotations

import json
import math

import optuna
import pandas as pd
import pytest
import torch

from gan.bundle import load_bundle
from gan.config import load_config
from gan.data import load_data
from gan.train import train
from tests.helpers import check_export_files
from tuning.export import export_run
from tuning.run import STUDY_FILE, TuneOptions, load_study, read_options, repair_study_journal, run_tuning, study_storage

pytestmark = pytest.mark.slow


def _opts(tmp_path, name, **kw) -> TuneOptions:
    # minmax: under the default quantile encoding, trials this short mostly fail the memorisation
    # guard (their decoded rows land on training values; see tests/gan/test_fidelity.py), and
    # which trial the export may crown would then hang on where ASHA happened to stop each one.
    base = dict(epochs=40, eval_every=10, num_samples=4, storage_path=str(tmp_path), name=name, encoding="minmax", pack=None)
    base.update(kw)
    return TuneOptions(**base)


def _study_params(run_dir) -> list[dict]:
    study = load_study(run_dir, run_dir.name)
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def test_tune_export_and_retrain_reproduces_the_best(local_ray, tmp_path):
    opts = _opts(tmp_path, "run")
    results, run_dir = run_tuning(opts)
    assert len(results) == 4 and not results.errors
    assert read_options(run_dir).mode == "trial"
    study = load_study(run_dir, "run")
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.COMPLETE) == 4

    out = tmp_path / "export"
    summary = export_run(run_dir, out)
    check_export_files(out)
    # best_config.yaml holds the same configuration as best_config.json.
    config = load_config(out / "best_config.json")
    assert load_config(out / "best_config.yaml") == config
    # The exported best is the trial with the lowest score among those that pass the
    # memorisation guard, and the table is sorted by score.
    table = pd.read_csv(out / "trials.csv")
    assert table["wd_mean"].is_monotonic_increasing
    eligible = table[table["copy_share"] <= summary["guard"]["max_copy_share"]]
    assert len(eligible) and eligible["wd_mean"].iloc[0] == pytest.approx(summary["wd_mean"])
    assert eligible["trial_id"].iloc[0] == summary["best_trial"]
    # Exported with its scored step as an exact steps budget.
    assert config.steps == int(eligible["steps"].iloc[0])
    # The scored step is the trial's best report that passed the guard, at any step, not its
    # last: the export crowns the lowest guarded score any report of the run showed.
    reports = [json.loads(line) for path in run_dir.glob("*/result.json") for line in path.read_text().splitlines() if line.strip()]
    guarded = [r for r in reports if r.get("copy_share") is not None and r["copy_share"] <= summary["guard"]["max_copy_share"]]
    lowest = min(guarded, key=lambda r: r["wd_mean"])
    assert summary["wd_mean"] == pytest.approx(lowest["wd_mean"], abs=1e-6) and config.steps == lowest["steps"]
    assert (table["trained_steps"] >= table["steps"]).all()
    # `gantune train --config best_config.json` retrains exactly the exported model.
    torch.set_num_threads(1)
    retrained = train(config, load_data("iris-setosa", encoding="minmax"), device="cpu")
    assert retrained.metrics["wd_mean"] == pytest.approx(summary["wd_mean"], abs=1e-6)
    bundle = load_bundle(out / "model")
    assert bundle.sample(5).shape == (5, 4)
    # Per-trial runs too carry the score on fresh noise draws, from the same exported model.
    fresh = summary["fresh"]
    assert config.eval_seed not in fresh["seeds"] and math.isfinite(fresh["wd_mean"]) and fresh["rows"] == config.eval_samples
    # ... and what a new sample of iris-setosa's population would score (~0.07 with 50 rows)
    assert 0.04 < summary["new_sample"]["wd_mean"] < 0.12 and summary["new_sample"]["draws"] == 64


def test_same_seed_proposes_the_same_configurations(local_ray, tmp_path):
    firsts = []
    for name in ("a", "b"):
        opts = _opts(tmp_path, name, epochs=10, eval_every=10, num_samples=3, max_concurrent=1, scheduler="none", seed=7)
        _, run_dir = run_tuning(opts)
        firsts.append(_study_params(run_dir))
    assert firsts[0] == firsts[1]
    assert len({json.dumps(p, sort_keys=True) for p in firsts[0]}) == 3  # and they are not all alike
    # Another seed proposes others: checked without Ray in test_pool.py (same sampler).


def test_study_journal_recovers_from_a_killed_driver(tmp_path):
    """Fault: SIGKILL leaves a stale lock and a torn last line in the Optuna study journal. The
    driver's repair (run on `--resume`) clears both, and the trials written before stay intact."""
    study = optuna.create_study(study_name="run", storage=study_storage(tmp_path))
    study.add_trial(optuna.trial.create_trial(params={"x": 1.0}, distributions={"x": optuna.distributions.FloatDistribution(0, 2)}, value=0.5))
    log_file = tmp_path / STUDY_FILE
    with open(log_file, "ab") as fh:
        fh.write(b'{"op_code": 4, "worker_id": "x", "study_id": 0, "dat')  # torn append
    (tmp_path / f"{STUDY_FILE}.lock").symlink_to(log_file)  # lock of a dead writer
    repair_study_journal(tmp_path)
    study = optuna.load_study(study_name="run", storage=study_storage(tmp_path))
    study.tell(study.ask(), 0.25)  # would block 30 s on the lock, then corrupt the log
    values = [t.value for t in load_study(tmp_path, "run").trials]
    assert values == [0.5, 0.25]
    assert not (tmp_path / f"{STUDY_FILE}.lock").exists()


def test_legacy_sqlite_study_is_still_read(tmp_path):
    optuna.create_study(study_name="old", storage=f"sqlite:///{tmp_path / 'optuna.db'}").add_trial(
        optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    assert [t.value for t in load_study(tmp_path, "old").trials] == [1.0]
