"""The Python API of tuning: `tuning.tune(frame_or_path, ...) -> TuneResult`.

It runs exactly what `gantune tune --out DIR` runs (tuning.run.run_tuning, then
tuning.export.export_run), with the same live progress display, and returns the outcome as
Python objects: the best configuration, the best model (a `ModelBundle`: `.sample(n)` gives a
DataFrame), every configuration as a DataFrame, and the Optuna study. Importing this module starts
nothing; Ray starts when `tune` runs (an embedded Ray, or the one this process already runs).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from gan.api import evaluate  # noqa: F401  (tuning.evaluate: the same scores as gan.evaluate)
from gan.errors import GanTuneError

if TYPE_CHECKING:
    import optuna

    from gan.bundle import ModelBundle
    from gan.config import GANConfig

INPUT_SUFFIX = ".input.parquet"


@dataclass
class TuneResult:
    """What a tuning run produced.

    `best_config` is the exported GANConfig (its `steps` is the step the best was scored at, so
    `gan.fit(data, result.best_config)` retrains it); `best` the exported model; `trials` one row
    per configuration, best first (status, scores, parameters); `summary` the export's
    summary.json; `study` the run's Optuna study (loaded when first used).
    """

    run_dir: Path
    out: Path
    best_config: "GANConfig"
    best: "ModelBundle"
    trials: pd.DataFrame
    summary: dict[str, Any]
    _study: Any = field(default=None, repr=False)

    @property
    def study(self) -> "optuna.Study":
        if self._study is None:
            from tuning.study import load_study

            self._study = load_study(self.run_dir, self.run_dir.name)
        return self._study

    @property
    def report(self) -> Path:
        """The report page (report/index.html) of the export."""
        return self.out / "report" / "index.html"

    @property
    def score(self) -> float:
        """The exported model's wd_mean (lower is better)."""
        return float(self.summary["wd_mean"])


def _tune_fields() -> set[str]:
    from tuning.options import TuneOptions

    return {f.name for f in dataclasses.fields(TuneOptions)}


def _write_input(frame: pd.DataFrame, storage_path: str, name: str) -> Path:
    """A DataFrame given to `tune` as a Parquet file beside the run directory (the run's options
    name it as their data, so `gantune export` and `--resume` read the same rows)."""
    from gan.data import read_frame

    root = Path(storage_path).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}{INPUT_SUFFIX}"
    if path.exists():
        raise GanTuneError(f"{path} exists: the run {name!r} was started before; choose another name")
    try:
        read_frame(frame)[0].to_parquet(path, index=False)
    except Exception as exc:  # pyarrow refuses some object columns (mixed types)
        path.unlink(missing_ok=True)
        raise GanTuneError(f"DataFrame: cannot be stored as Parquet for the run ({exc.__class__.__name__}: {exc}); "
                           "give each column one type, or pass a CSV path") from None
    return path


def tune(
    data: pd.DataFrame | str | os.PathLike[str] = "iris-setosa",
    *,
    time_budget: float | None = None,
    num_samples: int | None = None,
    steps: int | None = None,
    out: str | os.PathLike[str] | None = None,
    storage_path: str | os.PathLike[str] = "gantune-runs",
    name: str | None = None,
    force: bool = False,
    address: str | None = None,
    log_to: Sequence[str] = (),
    progress: bool = True,
    verbose: bool = False,
    **options: Any,
) -> TuneResult:
    """Tune a GAN for `data` (a DataFrame, a CSV / Parquet path or a built-in dataset name) and
    export the best; the same run as `gantune tune --out DIR`.

    `time_budget` (seconds) ends the run then; `num_samples` configurations are tried (default
    20, or as many as fit when only `time_budget` is given); `steps` per configuration (default
    5,000; or `epochs=`). `out`: the export directory (default RUN_DIR/export). `options`: any
    other option of the run (`tuning.options.TuneOptions`: epochs, seed, sampler, scheduler, pack,
    objective, max_copy_share, columns, metadata, holdout, encoding, space, config, ...).
    `log_to`: trackers ("mlflow", "mlflow:URI", "tensorboard"). `progress`: the live display
    (on a terminal; plain lines otherwise); `verbose`: Ray's own output too.
    """
    from tuning import console, trackers
    from tuning.export import export_run
    from tuning.options import TuneOptions, default_num_samples
    from tuning.records import collect_trials, trials_table
    from tuning.run import run_tuning
    from tuning.study import close_stale_study_trials

    unknown = sorted(set(options) - _tune_fields())
    if unknown:
        raise TypeError(f"tune() got unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(_tune_fields()))}")
    targets = [trackers.parse_target(t) for t in log_to]
    trackers.check_available(targets)
    name = name or time.strftime("tune-%Y%m%d-%H%M%S")
    storage = str(Path(storage_path).expanduser())
    if (Path(storage).resolve() / name).exists():
        raise GanTuneError(f"run directory {Path(storage).resolve() / name} already exists; choose another name")
    if out is not None:
        from gan.io import check_output_dir

        check_output_dir(out, force=force, what="export directory")
    if isinstance(data, pd.DataFrame):
        data = str(_write_input(data, storage, name))
    samples = num_samples if num_samples is not None else default_num_samples(options.get("pack", "auto"), time_budget)
    opts = TuneOptions(data=str(data), num_samples=samples, steps=steps, time_budget=time_budget, storage_path=storage, name=name,
                       **options)
    with console.session(verbose=verbose, console="auto" if progress else "off"):
        _, run_dir = run_tuning(opts, address=address)
    records = collect_trials(run_dir, opts)
    if not any(r.status in ("running", "pending") for r in records):
        close_stale_study_trials(run_dir, run_dir.name)
    trackers.log_run(run_dir, targets, opts=opts)
    out_dir = Path(out) if out is not None else run_dir / "export"
    summary = export_run(run_dir, out_dir, force=force)
    from gan.api import as_config, load

    return TuneResult(run_dir=run_dir, out=out_dir, best_config=as_config(summary["best_config"]), best=load(out_dir / "model"),
                      trials=trials_table(collect_trials(run_dir, opts)), summary=summary)


__all__ = ["TuneResult", "evaluate", "tune"]
