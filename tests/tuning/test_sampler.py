"""The run's TPE past its window: it reads a bounded sample of the study and picks the same good
group as Optuna's TPE over the whole study; below the window it is Optuna's TPE itself."""

from __future__ import annotations

import math
import random

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.samplers._tpe import sampler as tpe_module  # TPE's own split: the oracle and the spy
from optuna.trial import TrialState, create_trial

from tuning.sampler import KEEP_LAST, Intersection, TrialWindow, WindowedTPESampler
from tuning.study import make_sampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

DIST = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}
RUNGS = (193, 579, 1737, 5211)


def _add_finished(study: optuna.Study, rng: random.Random, p_complete: float) -> None:
    """A member as a pool run ends it: most pruned after 1-3 rungs, some completed, a few
    pruned before any report or with a diverged (NaN) score."""
    params = {"x": rng.random(), "y": rng.random()}
    if rng.random() < p_complete:
        inter = {s: rng.random() for s in RUNGS}
        study.add_trial(create_trial(params=params, distributions=DIST, value=rng.random(), intermediate_values=inter))
        return
    reached = RUNGS[: rng.choice([0, 1, 1, 1, 2, 2, 3])]
    inter = {s: (math.nan if rng.random() < 0.03 else rng.random()) for s in reached}
    study.add_trial(create_trial(params=params, distributions=DIST, state=TrialState.PRUNED, intermediate_values=inter))


def _grow(study: optuna.Study, rng: random.Random, n: int, running: list, p_complete: float = 0.08) -> None:
    """`n` more finished trials, with trials asked in between and left running (as pool members
    are), some of which end along the way."""
    for _ in range(n):
        if rng.random() < 0.05:
            trial = study.ask(DIST)
            running.append(trial)
        if running and rng.random() < 0.03:
            trial = running.pop(rng.randrange(len(running)))
            if rng.random() < p_complete:
                study.tell(trial, rng.random())
            else:
                trial.report(rng.random(), RUNGS[0])
                study.tell(trial, state=TrialState.PRUNED)
        _add_finished(study, rng, p_complete)


def _trials(study: optuna.Study):
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))


def _good_group(study: optuna.Study, trials) -> list[int]:
    done = [t for t in trials if t.state != TrialState.RUNNING]
    below, _ = tpe_module._split_trials(study, done, tpe_module.default_gamma(len(done)))
    return [t.number for t in below]


def test_the_window_keeps_tpes_good_group_the_newest_and_a_spread_of_the_rest():
    rng = random.Random(0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    running: list = []
    window = TrialWindow(300)
    # Few complete (told COMPLETE with 1 % of the finished), so the good group also holds pruned
    # trials, ranked by the furthest rung they reached and their score there.
    _grow(study, rng, 250, running, p_complete=0.01)
    assert window(_trials(study)) == _trials(study)  # below the window: every trial
    _grow(study, rng, 350, running, p_complete=0.01)
    assert window(_trials(study)) != _trials(study)  # the first call past it
    _grow(study, rng, 900, running, p_complete=0.01)  # incremental from here on: trials ended in between

    trials = _trials(study)
    got = window(trials)
    done = [t for t in trials if t.state != TrialState.RUNNING]
    kept = [t for t in got if t.state != TrialState.RUNNING]
    assert len(done) > 1_400 and len(kept) == 300
    assert [t.number for t in got] == sorted(t.number for t in got)
    assert {t.number for t in trials if t.state == TrialState.RUNNING} <= {t.number for t in got}
    assert len([t for t in got if t.state == TrialState.RUNNING]) >= 10
    # TPE's good group over the window is the one it picks over the whole study.
    good = _good_group(study, got)
    assert good == _good_group(study, trials) and len(good) == 25
    assert 0 < sum(study.trials[n].state == TrialState.PRUNED for n in good) < 25
    # The newest trials, which TPE weighs fully, are all there; the rest is spread over the
    # study's history, not bunched at one end.
    assert {t.number for t in done[-KEEP_LAST:]} <= {t.number for t in kept}
    first_half = {t.number for t in done[: len(done) // 2]}
    share = sum(t.number in first_half for t in kept) / len(kept)
    assert 0.4 < share < 0.6, share
    # The same as a window that saw the study only now.
    assert [t.number for t in TrialWindow(300)(trials)] == [t.number for t in got]


def test_a_window_too_small_for_tpes_good_group_is_refused():
    with pytest.raises(ValueError, match="too small"):
        TrialWindow(200)


def _propose(sampler, n: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=sampler)
    out = []
    for i in range(n):
        trial = study.ask()
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        if trial.number % 3 == 0:
            trial.suggest_int("depth", 1, 3)  # a conditional parameter: sampled on its own
        out.append(trial.params)
        study.tell(trial, (x - 0.3) ** 2 + (y - 0.6) ** 2)
    return out


def test_below_the_window_it_proposes_what_optunas_tpe_proposes():
    kw = dict(seed=3, constant_liar=True, multivariate=True)
    assert _propose(WindowedTPESampler(**kw), 40) == _propose(optuna.samplers.TPESampler(**kw), 40)


def test_the_joint_space_kept_as_trials_finish_is_optunas_intersection():
    rng = random.Random(5)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    ours, optunas = Intersection(), optuna.search_space.IntersectionSearchSpace(include_pruned=True)
    running: list = []
    spaces = []
    for i in range(300):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.suggest_int("depth", 1, 3)
        if i < 40 or rng.random() < 0.7:  # from trial 40 on a conditional width: it leaves the joint space
            trial.suggest_int("width", 8, 64)
        trial.suggest_float("y", 0, 2 if i >= 150 else 1)  # y's range changes: y leaves it too
        running.append(trial)
        while running and rng.random() < 0.6:  # members end out of order, some fail
            ended = running.pop(rng.randrange(len(running)))
            state = rng.choice([TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED, TrialState.FAIL])
            study.tell(ended, rng.random() if state == TrialState.COMPLETE else None, state=state)
        got = ours(study.get_trials(deepcopy=False))
        assert got == optunas.calculate(study) and list(got) == sorted(got)
        spaces.append(tuple(got))
    assert {("depth", "width", "x", "y"), ("depth", "x", "y"), ("depth", "x")} <= set(spaces)  # it changed along the way


@pytest.mark.parametrize("windowed", [True, False])
def test_past_the_window_an_ask_reads_only_the_window(monkeypatch, windowed):
    rng = random.Random(1)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    running: list = []
    _grow(study, rng, 700, running)
    n_running = len([t for t in _trials(study) if t.state == TrialState.RUNNING])
    n_done = len(_trials(study)) - n_running
    want = _good_group(study, _trials(study))

    seen = []
    split = tpe_module._split_trials

    def spy(study_, trials, n_below):
        below, above = split(study_, trials, n_below)
        seen.append((len(trials), [t.number for t in below]))
        return below, above

    monkeypatch.setattr(tpe_module, "_split_trials", spy)
    kw = dict(seed=1, constant_liar=True, multivariate=True)
    study.sampler = WindowedTPESampler(window_size=300, **kw) if windowed else optuna.samplers.TPESampler(**kw)
    trial = study.ask()
    params = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
    assert all(0 <= v <= 1 for v in params)
    assert seen  # TPE split the study: the spy is on its path
    for n_read, below in seen:
        # Running trials but the one being asked count as bad guesses (the constant liar).
        assert n_read == (300 if windowed else n_done) + n_running
        assert below == want


def test_the_runs_tpe_is_the_windowed_one_and_multi_objective_runs_read_everything():
    sampler = make_sampler("tpe", 0)
    assert isinstance(sampler, WindowedTPESampler)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    assert sampler._view(study, None) is study
