"""Pack mode (`gantune tune --pack`): real Ray Tune + real Optuna, tiny budgets."""

from __future__ import annotations

import json
import math

import optuna
import pandas as pd
import pytest
import torch

from gan.config import GANConfig, load_config
from gan.data import load_data
from gan.errors import GanTuneError
from gan.fidelity import passes_guard
from gan.train import train
from tuning.export import choose_best, collect_trials, export_run
from tuning.packed import PackSearcher, halving_rounds, pack_sizes, parse_pack, resolve_pack_size, train_pack
from tuning.run import load_study, TuneOptions, read_options, run_tuning
from tuning.space import SearchSpace


def _study(run_dir):
    return load_study(run_dir, run_dir.name)


# -- fast unit checks (no Ray trial) ------------------------------------------------------------
def test_pack_sizes_and_auto_size():
    assert pack_sizes(12, 6) == [6, 6]
    assert pack_sizes(13, 6) == [5, 4, 4] and sum(pack_sizes(1000, 64)) == 1000
    assert resolve_pack_size(6, 4, gpu=False, slots=2) == 4  # never above num_samples
    assert resolve_pack_size("auto", 1000, gpu=False, slots=2) == 64
    assert resolve_pack_size("auto", 20, gpu=False, slots=2) == 10  # both slots get a pack
    assert resolve_pack_size("auto", 100_000, gpu=True, slots=1) >= 256
    assert parse_pack("auto") == "auto" and parse_pack("8") == 8
    for bad in ("0", "-2", "x", 0):
        with pytest.raises(GanTuneError):
            parse_pack(bad)
    # Halving at 1/4 and 1/2 of the evaluation rounds, strictly inside the run.
    assert halving_rounds(6) == (1, 3) and halving_rounds(10) == (2, 5) and halving_rounds(100) == (25, 50)
    assert halving_rounds(3) == (1,) and halving_rounds(1) == () and halving_rounds(2) == (1,)


def test_train_pack_members_match_solo_training():
    torch.set_num_threads(1)
    data = load_data("iris-setosa")
    # 30 epochs of 50 rows = 47 steps, scored every 10 epochs = 16 steps: rounds at 16, 32, 47.
    space = SearchSpace(base=GANConfig(epochs=30, eval_every=10))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    configs = []
    for _ in range(4):
        t = study.ask()
        configs.append(space.to_config({**t.params, **space(t)}))
    rounds = []
    results = train_pack(configs, data, rungs=(1,), on_round=lambda r, rs: rounds.append(r))
    assert rounds == [1, 2, 3]
    assert sorted(r.status for r in results).count("completed") == 2  # halving after round 1 kept 2 of 4
    assert sorted(r.steps for r in results) == [16, 16, 47, 47]
    assert sorted(r.status for r in results if r.steps == 16) == ["stopped at step 16"] * 2
    for r in results:
        # What the export writes (steps = the scored step) retrains the member's score.
        solo = train(r.config.replace(steps=r.steps, eval_every=r.steps), data, device="cpu")
        assert r.metrics["wd_mean"] == pytest.approx(solo.metrics["wd_mean"], abs=1e-5)


def test_searcher_tells_each_member_its_own_score_and_inf_when_diverged(tmp_path):
    space = SearchSpace(base=GANConfig(epochs=10, eval_every=10))
    searcher = PackSearcher(space, run_dir=tmp_path, study_name="s",
                            sampler=optuna.samplers.RandomSampler(seed=0), num_samples=5, pack_size=3)
    a, b = searcher.suggest("a"), searcher.suggest("b")
    assert searcher.suggest("c") == "FINISHED"
    assert [len(a["_members"]), len(b["_members"])] == [3, 2] and a["_numbers"] + b["_numbers"] == [0, 1, 2, 3, 4]
    # Every member's params build a config.
    for params in a["_members"] + b["_members"]:
        space.to_config(params)
    rows = [{"number": 0, "wd_mean": 0.3, "status": "completed"},
            {"number": 1, "wd_mean": math.inf, "status": "diverged"},
            {"number": 2, "wd_mean": 0.5, "status": "stopped early"}]
    searcher.on_trial_complete("a", {"wd_mean": 0.3, "members": rows})
    # Save / restore (what --resume does) keeps the asked-and-told bookkeeping.
    searcher.save(str(tmp_path / "s.pkl"))
    restored = PackSearcher(space, run_dir=tmp_path / "unused", study_name="x", sampler=None, num_samples=1, pack_size=1)
    restored.restore(str(tmp_path / "s.pkl"))
    assert restored.suggest("d") == "FINISHED"
    restored.on_trial_complete("b", None, error=True)
    trials = sorted(restored.study.trials, key=lambda t: t.number)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 5
    assert [t.value for t in trials] == [0.3, math.inf, 0.5, math.inf, math.inf]
    assert [t.user_attrs["status"] for t in trials] == ["completed", "diverged", "stopped early", "errored", "errored"]
    assert {t.user_attrs["tune_trial_id"] for t in trials} == {"a", "b"}


# -- end to end through Ray ---------------------------------------------------------------------
@pytest.mark.slow
def test_pack_run_tells_optuna_per_config_and_exports_a_reproducible_best(local_ray, tmp_path):
    opts = TuneOptions(epochs=60, eval_every=10, num_samples=12, pack=6, storage_path=str(tmp_path), name="packrun")
    results, run_dir = run_tuning(opts)
    assert len(results) == 2 and not results.errors  # 12 configurations in 2 Ray trials
    assert read_options(run_dir).pack == 6

    study = _study(run_dir)
    assert len(study.trials) == 12
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    values = [t.value for t in study.trials]
    assert all(math.isfinite(v) for v in values) and len(set(values)) == 12  # each its own score
    statuses = [t.user_attrs["status"] for t in study.trials]
    assert statuses.count("completed") == 4 and statuses.count("stopped early") == 8  # halving 6 -> 3 -> 2 per pack

    records = collect_trials(run_dir, read_options(run_dir))
    assert len(records) == 12 and all(r.trial_id.rsplit("-m", 1)[1].isdigit() for r in records)
    by_number = {r.last["optuna_number"]: r for r in records}
    assert {n: r.score for n, r in by_number.items()} == pytest.approx({t.number: t.value for t in study.trials})

    out = tmp_path / "export"
    summary = export_run(run_dir, out)
    best = choose_best(records)
    assert summary["best_trial"] == best.trial_id
    # The lowest score among members that pass the memorisation guard (export's rule).
    assert best.score == pytest.approx(min(r.score for r in records if passes_guard(r.last)))
    assert best.checkpoint is not None  # weights came from the pack checkpoint, not a retrain
    assert 0 <= best.last["copy_share"] <= 1  # export's memorisation guard judges pack members too
    raw = json.loads((out / "best_config.json").read_text())
    assert set(raw) == set(GANConfig.field_names())
    assert (out / "model" / "generator.pt").is_file()
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 12 and table["wd_mean"].is_monotonic_increasing
    # `gantune train --config best_config.json` reproduces the exported member.
    torch.set_num_threads(1)
    retrained = train(load_config(out / "best_config.json"), read_options(run_dir).load_data(quiet=True), device="cpu")
    assert retrained.metrics["wd_mean"] == pytest.approx(summary["wd_mean"], abs=1e-3)
    assert retrained.metrics["wd_mean"] == pytest.approx(best.score, abs=1e-3)
    assert load_config(out / "best_config.json").steps == best.last["steps"]


@pytest.mark.slow
def test_diverged_member_is_recorded_inf_and_never_exported(local_ray, tmp_path):
    # lr 1e20 (as in tests/gan/test_packed.py): the losses go non-finite within a few epochs.
    # With --scheduler none there is no halving, so every member trains to the end or diverges.
    space = {"g_lr": {"choices": [2e-4, 1e20]}, "d_lr": {"choices": [2e-4, 1e20]}, "g_depth": 1, "d_depth": 1,
             "g_width": 16, "d_width": 16, "noise_dim": 4}
    opts = TuneOptions(epochs=40, eval_every=10, num_samples=8, pack=4, space=space, scheduler="none",
                       sampler="random", storage_path=str(tmp_path), name="divrun")
    _, run_dir = run_tuning(opts)
    study = _study(run_dir)
    trials = study.trials
    assert len(trials) == 8 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    diverged = [t for t in trials if t.user_attrs["status"] == "diverged"]
    assert diverged, "expected at least one member with lr 1e20 to diverge"
    assert all(t.value == math.inf for t in diverged)
    records = collect_trials(run_dir, read_options(run_dir))
    assert sum(r.status == "diverged" for r in records) == len(diverged)
    summary = export_run(run_dir, tmp_path / "export")
    best = [r for r in records if r.trial_id == summary["best_trial"]][0]
    assert best.status == "completed" and math.isfinite(summary["wd_mean"])
