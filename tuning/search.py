"""The Ray Tune searcher of per-trial mode (`--pack off`): the run's StudyServer behind Ray's
`Searcher` interface (imported only when a run starts: it imports Ray).

Both modes propose through the same `tuning.study.StudyServer` (one Optuna study, one sampler,
Optuna's public ask / tell), so a run's study reads the same whichever way it trained. Here
every Ray trial is one Optuna trial: `suggest` asks, `on_trial_complete` tells. An errored trial
is told the worst value of every objective (+inf when minimised, -inf when maximised) with
status "errored"; a diverged trial's non-finite scores become the worst value too (Optuna
refuses NaN). Ray's ASHA stops trials from their own results, so intermediate scores are not
written to the study.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

from ray.tune.search import Searcher

from tuning.study import StudyServer

# Scores of a trial's last result kept on its Optuna trial (the `record` user attribute).
_RECORD_KEYS = ("wd_mean", "wd_orig_mean", "steps", "epoch", "copy_share", "dcr_ratio", "corr_diff", "detect_auc", "node_id")


class StudySearcher(Searcher):
    """A Ray `Searcher` over a `StudyServer` (created lazily on the driver, not pickled)."""

    def __init__(self, *, metric: str | list[str], mode: str | list[str], **server_kwargs: Any) -> None:
        super().__init__(metric=metric if isinstance(metric, str) else None, mode=mode if isinstance(mode, str) else None)
        self._metrics = [metric] if isinstance(metric, str) else list(metric)
        self._modes = [mode] if isinstance(mode, str) else list(mode)
        self._kwargs = server_kwargs
        self._server: StudyServer | None = None
        self._numbers: dict[str, int] = {}  # Ray trial id -> Optuna trial number
        self._told: set[str] = set()

    @property
    def server(self) -> StudyServer:
        if self._server is None:
            directions = ["minimize" if m == "min" else "maximize" for m in self._modes]
            self._server = StudyServer(**self._kwargs, directions=directions)
            # A --resume: configurations asked for Ray trials that Ray's last snapshot does not
            # hold will never be told. Fail them so none stays RUNNING, and ask their budget again.
            self._server.release([n for t, n in self._numbers.items() if t not in self._told])
        return self._server

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the objectives were fixed at construction

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        got = self.server.ask(trial_id)
        if got is None:
            return Searcher.FINISHED
        number, params = got
        self._numbers[trial_id] = number
        return params

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        return  # ASHA (Ray's scheduler) decides from the results; the study keeps final scores

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        number = self._numbers.get(trial_id)
        if number is None or trial_id in self._told:
            return
        self._told.add(trial_id)
        result = result or {}
        record = {k: result[k] for k in _RECORD_KEYS if k in result and _plain(result[k])}
        if error:
            record["status"] = "errored"
            self.server.tell(number, [math.inf if m == "min" else -math.inf for m in self._modes], "complete", record)
            return
        if not result:
            self.server.tell(number, None, "fail", {"status": "no result"})
            return
        values = [float(result.get(m, math.nan)) for m in self._metrics]
        if not all(math.isfinite(v) for v in values):
            record["status"] = "diverged" if result.get("diverged") else "no score"
        else:
            record["status"] = "completed"
        self.server.tell(number, values, "complete", record)  # non-finite values become the worst

    # -- state for --resume -------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_server"}

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._server = None

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.get_state(), fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.set_state(pickle.load(fh))

    def __getstate__(self) -> dict[str, Any]:
        return self.get_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.set_state(state)


def _plain(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float)) and not (isinstance(value, float) and math.isnan(value))


__all__ = ["StudySearcher"]
