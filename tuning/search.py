"""gantune's Optuna searcher for Ray Tune (imported only when a run starts: it imports Ray)."""

from __future__ import annotations

import math
from typing import Any

from ray.tune.search.optuna import OptunaSearch


class GanOptunaSearch(OptunaSearch):
    """OptunaSearch that gives Optuna the worst score for errored and diverged trials.

    Ray's OptunaSearch records an errored trial as COMPLETE with its last reported score, which
    would let a crashed trial win. Here an errored trial is told the worst value of every
    objective (+inf for minimised, -inf for maximised) and tagged `status=errored`; a diverged
    trial's non-finite secondary scores (NaN fidelity of a NaN generator) become the worst value
    too, since Optuna rejects NaN.
    """

    def _worst(self) -> dict[str, float]:
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        modes = self.mode if isinstance(self.mode, list) else [self.mode]
        return {m: (math.inf if mode == "min" else -math.inf) for m, mode in zip(metrics, modes)}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # Ray's OptunaSearch writes every intermediate score to the study (one journal write per
        # report per trial, on the driver, while the trial waits). The study uses no Optuna
        # pruner (ASHA stops trials from Ray's own results), so only final scores are stored.
        return

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._ot_trials and trial_id not in self._completed_trials:
            worst = self._worst()
            if error:
                self._ot_trials[trial_id].set_user_attr("status", "errored")
                result, error = {**(result or {}), **worst}, False
            elif result:
                bad = {m: w for m, w in worst.items() if not math.isfinite(float(result.get(m, math.nan)))}
                if bad:
                    self._ot_trials[trial_id].set_user_attr("status", "diverged" if result.get("diverged") else "no score")
                    result = {**result, **bad}
        super().on_trial_complete(trial_id, result, error)
