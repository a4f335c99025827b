"""The run's successive-halving pruner: Optuna's, with its rungs kept as they are written.

Optuna's SuccessiveHalvingPruner decides at each rung whether a trial is in the best 1/eta of
every value reported at that rung so far; to find those values it reads every trial of the study
and sorts them, on every report that reaches a rung. In a pool run (thousands of configurations,
one or more reports each) that was 4 ms a report at 3,000 trials, growing with the study
(bench/server_cost.py). `RungRecordPruner` keeps each rung's values sorted as it writes them
(Optuna's own record, the trials' `completed_rung_<k>` system attributes, stays the one source:
it is read once per study, when the pruner first meets it, e.g. a --resume) and decides by
bisection: the same decision, told the same way. Exact while this pruner is the one writer of
the study's rung record, which the study server is (its journal refuses another writer,
tuning/journal.py). No Ray here.
"""

from __future__ import annotations

import bisect
import math
import re

import optuna
from optuna.study import StudyDirection

# Optuna's rung record: a trial's value at rung k is its system attribute "completed_rung_<k>"
# (optuna/pruners/_successive_halving.py, 5.0). Written out here rather than imported from that
# private module, which a release may move or rename; tests/tuning/test_pruner.py runs this
# pruner beside Optuna's on the same reports and compares decisions and record, so a change of
# the format shows there.
_RUNG_KEY = re.compile(r"completed_rung_(\d+)$")


def _completed_rung_key(rung: int) -> str:
    return f"completed_rung_{rung}"


def _get_current_rung(trial: optuna.trial.FrozenTrial) -> int:
    """The first rung `trial` has no value at (Optuna's own count, rung by rung)."""
    rung = 0
    while _completed_rung_key(rung) in trial.system_attrs:
        rung += 1
    return rung


class RungRecordPruner(optuna.pruners.SuccessiveHalvingPruner):
    """SuccessiveHalvingPruner (asynchronous successive halving) deciding from a sorted record
    of each rung's values instead of a pass over the study; needs an integer `min_resource`."""

    def __init__(self, min_resource: int, reduction_factor: int = 4, min_early_stopping_rate: int = 0,
                 bootstrap_count: int = 0) -> None:
        super().__init__(min_resource=int(min_resource), reduction_factor=reduction_factor,
                         min_early_stopping_rate=min_early_stopping_rate, bootstrap_count=bootstrap_count)
        self._for: tuple[int, int] | None = None  # (storage, study) the record is of
        self._rungs: dict[int, list[float]] = {}  # rung -> its values, ascending

    def _record(self, study: optuna.Study) -> dict[int, list[float]]:
        key = (id(study._storage), study._study_id)
        if key != self._for:  # first meeting: Optuna's record as the study holds it
            self._for, self._rungs = key, {}
            for t in study.get_trials(deepcopy=False):
                for name, value in t.system_attrs.items():
                    m = _RUNG_KEY.match(name)
                    if m:
                        self._rungs.setdefault(int(m.group(1)), []).append(float(value))
            for values in self._rungs.values():
                values.sort()
        return self._rungs

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        # Optuna's SuccessiveHalvingPruner.prune (5.0), step for step, with its pass over the
        # study (`_get_competing_values` + sort) replaced by the record.
        step = trial.last_step
        if step is None:
            return False
        rung = _get_current_rung(trial)
        value = trial.intermediate_values[step]
        record = self._record(study)
        while True:
            assert self._min_resource is not None
            if step < self._min_resource * self._reduction_factor ** (self._min_early_stopping_rate + rung):
                return False
            if math.isnan(value):
                return True
            study._storage.set_trial_system_attr(trial._trial_id, _completed_rung_key(rung), value)
            others = record.setdefault(rung, [])
            n = len(others) + 1  # Optuna's competing values: every other trial's at this rung, and this one
            bisect.insort(others, float(value))
            if n <= self._bootstrap_count:
                return True
            # Optuna: promotable when, the n values sorted, this one is at most the k-th smallest
            # (k = n // eta - 1, at least 0; the k-th largest when maximising). That is: at most
            # k of the others are strictly better.
            k = max(n // self._reduction_factor - 1, 0)
            if study.direction == StudyDirection.MAXIMIZE:
                better = len(others) - bisect.bisect_right(others, value)
            else:
                better = bisect.bisect_left(others, value)
            if better > k:
                return True
            rung += 1
