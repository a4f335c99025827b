"""The run's TPE sampler, reading a bounded sample of the study once it is large.

Optuna's TPE reads every trial of the study on every proposal (a Python loop per trial to rank
them and to collect their parameters, several times per ask when the space is conditional), so an
ask costs time linear in the study: measured in an in-process pool on iris-setosa (one worker,
10 minutes, about 3,000 configurations), 15 ms an ask in the first minute, 60 ms in the tenth,
when the asks took a third of the worker's time; in a run a pool worker waits for its ask. Known
upstream (optuna/optuna#2172); Optuna has no option for it. So past `WINDOW` finished trials the
sampler reads a systematic sample of them that keeps what TPE's estimate depends on:

- the `KEEP_BEST` best finished trials in TPE's own order (complete ones by value, then pruned
  ones by the furthest step reached and their score there): TPE's "good" group is the best
  min(ceil(n / 10), 25) of them, so it is the same group it would pick from the whole study;
- the `KEEP_LAST` most recent ones, which TPE weighs fully (its default weights ramp up with age
  and are flat for the newest 25);
- every k-th of the rest, in trial order, so the "bad" group's density and its age weights keep
  their shape, each kept trial standing for k;
- every running trial (the constant liar counts them as bad guesses).

Two more reads are made cheaper, each proposing exactly what Optuna's would: the study is read
and windowed once per ask (TPE reads it 3-6 times), and TPE's joint search space (the parameters
every finished trial shares) is kept as trials finish (`Intersection`) instead of recomputed.

A hand-written piece, measured against Optuna's own: see `bench/sampler_cost.py`,
`bench/server_cost.py` and docs/measured.md. Only the single-objective TPE is windowed: the multi-objective split ranks by non-domination,
which the window cannot reproduce cheaply.
"""

from __future__ import annotations

import bisect
import copy
import math
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

WINDOW = 300  # finished trials the sampler reads at most
KEEP_BEST = 25  # = the cap of Optuna's default_gamma: TPE's good group never exceeds it
KEEP_LAST = 25  # = the flat part of Optuna's default_weights


def _rank(trial: FrozenTrial) -> tuple[int, float, float]:
    """TPE's order of finished trials (minimising): complete by value, then pruned by the furthest
    step and the score there (Optuna's `_get_pruned_trial_score`), then pruned without a report."""
    if trial.state == TrialState.COMPLETE:
        value = trial.value
        return 0, 0.0, math.inf if value is None or math.isnan(value) else float(value)
    if trial.intermediate_values:
        step, value = max(trial.intermediate_values.items())
        return 1, -float(step), math.inf if math.isnan(value) else float(value)
    return 2, 0.0, 0.0


class TrialWindow:
    """Picks the trials the sampler reads: all of them while at most `size` are finished; past
    that the best `keep_best`, the last `keep_last` and every k-th of the rest, `size` finished
    ones in all, with every running trial, in the order given (Optuna's: by trial number).

    Incremental: a finished trial never changes, so each is ranked once, when first seen, the best
    are kept sorted, and the pick (`_keep`) is made again only when a trial has finished since; a
    call costs two passes over the trials' numbers and states."""

    def __init__(self, size: int = WINDOW, keep_best: int = KEEP_BEST, keep_last: int = KEEP_LAST) -> None:
        if size < 10 * keep_best + keep_last:
            # TPE's good group is min(ceil(n / 10), 25): below 250 finished trials it would shrink.
            raise ValueError(f"a window of {size} trials is too small for {keep_best} best and {keep_last} last")
        self.size, self.keep_best, self.keep_last = int(size), int(keep_best), int(keep_last)
        self._seen: set[int] = set()
        self._done: list[int] = []  # finished trial numbers, ascending
        self._best: list[tuple[tuple[int, float, float], int]] = []  # (rank, number), best first
        self._keep: set[int] = set()  # the finished trials picked, once past `size`

    def __call__(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        seen = self._seen
        new = [t for t in trials if t.number not in seen and t.state != TrialState.RUNNING]
        for t in new:
            seen.add(t.number)
            bisect.insort(self._done, t.number)
            entry = (_rank(t), t.number)
            if len(self._best) < self.keep_best or entry < self._best[-1]:
                bisect.insort(self._best, entry)
                del self._best[self.keep_best:]
        if len(self._done) <= self.size:
            return trials
        if new or not self._keep:
            self._keep = self._pick()
        keep = self._keep
        return [t for t in trials if t.number in keep or t.state == TrialState.RUNNING]

    def _pick(self) -> set[int]:
        keep = {n for _, n in self._best}
        keep.update(self._done[-self.keep_last:])
        rest = [n for n in self._done if n not in keep]
        room = self.size - len(keep)
        stride = len(rest) / room
        keep.update(rest[int(i * stride)] for i in range(room))
        return keep


class Intersection:
    """The parameters every finished (complete or pruned) trial has, with the same distribution:
    what Optuna's `IntersectionSearchSpace(include_pruned=True)` computes for TPE's joint
    (multivariate) proposal, kept up to date as trials finish instead of recomputed.

    Optuna's recomputes it on every ask from the oldest running trial on, comparing every
    distribution of every trial after it; in a pool one member lives through hundreds of others,
    so that was ~4 ms of an ask at 1,500 trials and growing (bench/server_cost.py). A finished
    trial never changes, so each is intersected once; a call costs one pass over the numbers."""

    _FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._space: dict[str, Any] | None = None

    def __call__(self, trials: list[FrozenTrial]) -> dict[str, Any]:
        seen = self._seen
        for t in trials:
            if t.number in seen or t.state not in self._FINISHED:
                continue
            seen.add(t.number)
            if self._space is None:
                self._space = dict(t.distributions)
            else:
                self._space = {name: d for name, d in self._space.items() if t.distributions.get(name) == d}
        # As Optuna returns it: sorted by name, the caller's own copy.
        return copy.deepcopy(dict(sorted((self._space or {}).items())))


# The trial states TPE reads (Optuna 5.0): finished ones, and running ones for the constant liar.
_READ = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class _Window:
    """The study as the sampler sees it during one ask: its reads of the trials come from
    `read()` (the window of the study's trials in `_READ` states); all else (directions,
    storage) is the study's own."""

    def __init__(self, study: optuna.Study, read: Callable[[], list[FrozenTrial]]) -> None:
        self._study = study
        self._read = read

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states: Any = None, use_cache: bool = False) -> list[FrozenTrial]:
        # TPE reads trials only through this, without copies, in `_READ` states (Optuna 5.0;
        # tests/tuning/test_sampler.py checks it). Any other read is the study's own.
        if deepcopy or states is None or not set(states) <= set(_READ):
            return self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        trials = self._read()
        return trials if set(states) == set(_READ) else [t for t in trials if t.state in states]


class WindowedTPESampler(optuna.samplers.TPESampler):
    """Optuna's TPESampler that proposes from a `TrialWindow` of the study instead of all of it,
    and keeps the joint search space up to date instead of recomputing it (`Intersection`).

    Up to `window_size` finished trials it is TPESampler itself, proposal for proposal. One ask
    reads the study 3-6 times (a conditional space samples some parameters one by one); the study
    is read and windowed once per ask (`_memo`): nothing else changes it while a trial is asked
    (the study server handles one call at a time), and the one trial that does, the one being
    asked, TPE leaves out of what it reads."""

    def __init__(self, *, window_size: int = WINDOW, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._window = TrialWindow(window_size)
        self._memo_for: tuple[int, int, int] | None = None  # (storage, study, trial) `_memo` was read for
        self._memo: list[FrozenTrial] = []
        self._intersection, self._intersection_for = Intersection(), (0, 0)

    def _view(self, study: optuna.Study, asking: FrozenTrial) -> Any:
        if len(study.directions) > 1:
            return study

        def read() -> list[FrozenTrial]:
            key = (id(study._storage), study._study_id, asking.number)
            if key != self._memo_for:
                self._memo_for = key
                self._memo = self._window(study._get_trials(deepcopy=False, states=_READ))
            return self._memo

        return _Window(study, read)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        # The whole study, not the window (the joint space is every finished trial's), kept
        # incrementally (`Intersection`); Optuna's own for group decomposition or independent TPE.
        if self._group or not self._is_multivariate(study):
            return super().infer_relative_search_space(study, trial)
        key = (id(study._storage), study._study_id)
        if key != self._intersection_for:  # one Intersection per study
            self._intersection, self._intersection_for = Intersection(), key
        space = self._intersection(study._get_trials(deepcopy=False, use_cache=True))
        return {name: d for name, d in space.items() if not d.single()}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return super().sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any) -> Any:
        return super().sample_independent(self._view(study, trial), trial, param_name, param_distribution)
