"""The run's pruner (tuning/pruner.py) decides as Optuna's SuccessiveHalvingPruner does, report
for report, and leaves the same rung record in the study, from its kept record instead of a
pass over the study."""

from __future__ import annotations

import math
import random

import optuna
import pytest
from optuna.trial import TrialState

from tuning.pruner import RungRecordPruner
from tuning.study import make_pruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _run(pruner_for, direction: str, seed: int, n: int = 400) -> tuple[list, list]:
    """Members reporting out of order at steps that sometimes jump past several rungs, ties,
    NaN scores, failures after reports; half-way a new pruner takes over the study (a --resume).
    Returns every decision and the study's rung record."""
    rng = random.Random(seed)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner_for())
    live: list = []
    decisions = []
    for i in range(n):
        if i == n // 2:
            study.pruner = pruner_for()
        live.append([study.ask(), 0])
        while live and rng.random() < 0.7:
            member = live[rng.randrange(len(live))]
            trial, step = member
            step += rng.choice([5, 10, 10, 30, 100])
            member[1] = step
            value = math.nan if rng.random() < 0.02 else round(rng.random(), 1)  # rounded: ties
            trial.report(value, step)
            stop = trial.should_prune()
            decisions.append((trial.number, step, stop))
            if stop or step >= 250 or rng.random() < 0.03:
                live.remove(member)
                state = TrialState.PRUNED if stop else rng.choice([TrialState.COMPLETE, TrialState.FAIL])
                study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    record = [sorted((k, v) for k, v in t.system_attrs.items() if k.startswith("completed_rung_")) for t in study.trials]
    return decisions, record


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("eta", [2, 3])
def test_it_prunes_as_optunas_successive_halving_does(direction, eta):
    ours = _run(lambda: RungRecordPruner(min_resource=10, reduction_factor=eta), direction, seed=eta)
    optunas = _run(lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=10, reduction_factor=eta), direction, seed=eta)
    assert ours == optunas
    decisions, record = ours
    assert 200 < len(decisions) and 0.1 < sum(stop for *_, stop in decisions) / len(decisions) < 0.9
    assert any(len(rungs) >= 3 for rungs in record)  # members went up the rungs


def test_the_runs_pruner_is_the_rung_record():
    pruner = make_pruner([185, 555])
    assert isinstance(pruner, RungRecordPruner) and pruner._min_resource == 185 and pruner._reduction_factor == 3
    assert isinstance(make_pruner(None), optuna.pruners.NopPruner)
