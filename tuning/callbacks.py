"""The Ray Tune callback that drives the run's progress display (tuning/console.py).

Callbacks run on the driver, inside `Tuner.fit()`. Ray pickles the RunConfig, callbacks included,
into the run directory (tuner.pkl) and `--resume` unpickles them: this callback therefore holds
only the run's options and directory, and builds its display in `setup` from the session in force
then (no session: it stays inert).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback

from tuning import console
from tuning.records import error_text


def _states(trials: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(t.status, dict(t.last_result or {})) for t in trials]


class RunConsoleCallback(Callback):
    def __init__(self, opts: Any, run_dir: Path) -> None:
        self.opts = opts
        self.run_dir = Path(run_dir)
        self._display: console.RunDisplay | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"opts": self.opts, "run_dir": self.run_dir, "_display": None}

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any) -> None:
        settings = console.current()
        if settings is not None and settings.console != "off":
            self._display = console.RunDisplay(self.opts, self.run_dir, settings)

    @property
    def _per_trial(self) -> bool:
        return self._display is not None and not self._display.pool

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self._display is not None:
            self._display.tick(_states(trials) if self._per_trial else None)

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:
        if self._per_trial:
            self._display.trial_result(trial.trial_id, trial.config, result)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if self._display is not None:
            what = "pool worker" if self._display.pool else "trial"
            self._display.note(f"{what} {trial.trial_id} failed and is retried: {error_text(trial)}")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if self._display is not None:
            what = "pool worker" if self._display.pool else "trial"
            self._display.note(f"{what} {trial.trial_id} failed: {error_text(trial)}")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        if self._display is not None:
            self._display.close(final=True, states=_states(trials))
            self._display = None
