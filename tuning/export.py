"""Export the best trial of a run: config, model bundle, top-k table and a report.

    OUT/best_config.json, best_config.yaml   exactly the GANConfig fields (gantune train --config)
    OUT/model/                               the best model as a bundle (gantune sample)
    OUT/trials.csv                           all scored trials, best first (top-k with --top-k)
    OUT/report/histograms.png                best model: real vs generated per feature
    OUT/report/optimization_history.png      Optuna's optimisation history
    OUT/report/param_importances.png         Optuna's parameter importances
    OUT/summary.json                         best trial, its scores, counts by status

Works on an unfinished run (best so far). The best trial is the one with the lowest `wd_mean`
at its last report; its config is exported with `epochs` set to that report's epoch, so
`gantune train --config best_config.json` retrains exactly the exported model (same device).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gan.bundle import save_bundle
from gan.config import GANConfig
from gan.errors import GanTuneError
from gan.fidelity import DEFAULT_MAX_COPY_SHARE, passes_guard
from gan.io import atomic_dir, check_output_dir, write_json_atomic, write_text_atomic
from gan.models import build_models, sample_encoded
from gan.report import evaluate_values
from tuning.run import METRIC, STUDY_FILE, TuneOptions, load_study, read_options
from tuning.trainable import STATE_FILE

log = logging.getLogger(__name__)


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # "completed", "stopped early", "diverged", "errored", "running"
    params: dict[str, Any]
    last: dict[str, Any]  # the trial's last reported result
    checkpoint: Path | None
    error: str | None = None

    @property
    def score(self) -> float:
        value = self.last.get(METRIC, math.inf)
        return float(value) if value is not None and math.isfinite(value) else math.inf


def _trial_status(trial: Any, last: dict[str, Any], opts: TuneOptions) -> str:
    if trial.status == "ERROR":
        return "errored"
    if last.get("diverged"):
        return "diverged"
    if trial.status == "TERMINATED":
        return "completed" if last.get(opts.budget_attr, 0) >= opts.budget - 1e-9 else "stopped early"
    return trial.status.lower()


def collect_trials(run_dir: Path, opts: TuneOptions) -> list[TrialRecord]:
    """Read every trial of a run from Ray's experiment state (finished or not)."""
    from ray.tune import ExperimentAnalysis

    try:
        analysis = ExperimentAnalysis(str(run_dir))
    except Exception as exc:  # missing/corrupt experiment state
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:200]
        raise GanTuneError(f"{run_dir}: cannot read the Ray Tune experiment state ({first}); is this a run directory that started trials?") from None
    records = []
    for trial in analysis.trials:
        last = dict(trial.last_result or {})
        ckpt = None
        if trial.checkpoint is not None and trial.checkpoint.path:
            ckpt = Path(trial.checkpoint.path)
        if "_members" in trial.config:  # a pack-mode trial: one record per member (tuning/packed.py)
            from tuning.packed import member_records

            records.extend(member_records(trial, last, ckpt))
            continue
        params = {k: v for k, v in trial.config.items() if not k.startswith("_")}
        error = None
        if trial.status == "ERROR":
            error = _error_text(trial)
        records.append(TrialRecord(trial.trial_id, _trial_status(trial, last, opts), params, last, ckpt, error))
    return records


def _error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None) or ""
    try:
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "error"
    except OSError:
        return "error (no error file)"


FIDELITY_COLUMNS = ("copy_share", "dcr_ratio", "corr_diff", "detect_auc")


def trials_table(records: list[TrialRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
        row = {"trial_id": r.trial_id, "status": r.status, METRIC: r.last.get(METRIC, math.nan),
               "wd_orig_mean": r.last.get("wd_orig_mean", math.nan), "steps": r.last.get("steps", 0), "epoch": r.last.get("epoch", 0)}
        row.update({k: r.last.get(k, math.nan) for k in FIDELITY_COLUMNS})
        row.update({k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in sorted(r.params.items())})
        if r.error:
            row["error"] = r.error
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values(METRIC, kind="stable", na_position="last").reset_index(drop=True)
    return frame


def choose_best(records: list[TrialRecord], max_copy_share: float = DEFAULT_MAX_COPY_SHARE) -> TrialRecord:
    """The lowest `wd_mean` among healthy trials that pass the memorisation guard.

    A trial whose generator puts more than `max_copy_share` of its rows closer to a training row
    than real rows are to each other (gan.fidelity) is a copier, whatever its score.
    """
    healthy = [r for r in records if r.status not in ("errored", "diverged") and math.isfinite(r.score)]
    if not healthy:
        counts = pd.Series([r.status for r in records]).value_counts().to_dict() if records else {}
        raise GanTuneError(f"no trial has a finite {METRIC} yet (trials by status: {counts or 'none'}); let the run go on, or resume it")
    # Runs from before the guard existed report no copy_share: they are not judged by it.
    eligible = [r for r in healthy if "copy_share" not in r.last or passes_guard(r.last, max_copy_share)]
    if not eligible:
        shares = sorted(float(r.last.get("copy_share", math.nan)) for r in healthy)
        raise GanTuneError(
            f"all {len(healthy)} healthy trial(s) fail the memorisation guard (copy_share from {shares[0]:.2f} to "
            f"{shares[-1]:.2f} > --max-copy-share {max_copy_share}); their generators copy training rows. "
            "Raise --max-copy-share only if copying is acceptable for your use"
        )
    return min(eligible, key=lambda r: r.score)


def _load_generator_state(record: TrialRecord) -> dict[str, torch.Tensor] | None:
    if record.checkpoint is None or not (record.checkpoint / STATE_FILE).is_file():
        return None
    state = torch.load(record.checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    if int(state.get("steps", -1)) != int(record.last.get("steps", -2)):
        return None  # checkpoint and last result disagree: retrain instead
    return state["G"]


def scored_config(space: Any, record: TrialRecord, n_rows: int) -> GANConfig:
    """The trial's configuration with its budget set to the step it was scored at, so that
    `gantune train --config` retrains exactly the scored model (a steps budget is exact where an
    epoch count may not fall on a whole step). Scoring keeps the trial's cadence."""
    config = space.to_config(record.params)
    steps = int(record.last.get("steps") or 0)
    if steps <= 0:
        return config
    return config.replace(steps=steps, eval_every=min(config.eval_interval(n_rows), steps))


def export_run(
    run_dir: str | Path, out: str | Path, *, top_k: int | None = None, force: bool = False, max_copy_share: float | None = None
) -> dict[str, Any]:
    """Write the export of `run_dir` into `out` atomically; return the summary.

    `max_copy_share` overrides the run's memorisation guard (TuneOptions.max_copy_share).
    """
    from gan.train import train

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanTuneError(f"{run_dir}: no such run directory; pass the directory gantune tune printed (storage-path/name)")
    opts = read_options(run_dir)
    check_output_dir(out, force=force, what="export directory")
    data = opts.load_data(quiet=True)
    space = opts.search_space(len(data.train_idx))
    records = collect_trials(run_dir, opts)
    guard = opts.max_copy_share if max_copy_share is None else max_copy_share
    try:
        best = choose_best(records, guard)
    except GanTuneError as exc:
        if opts.time_budget and not any(math.isfinite(r.score) for r in records):
            base = opts.base_config()
            unit = "epochs" if opts.epochs is not None else "steps"
            raise GanTuneError(
                f"no configuration was scored within --time-budget {opts.time_budget:g} s ({len(records)} started); "
                f"the first score comes after {base.eval_every} {unit}: raise --time-budget or lower --{unit}"
            ) from None
        raise exc from None
    config = scored_config(space, best, len(data.train_idx))
    generator_state = _load_generator_state(best)
    if generator_state is None:
        log.info("best trial %s has no matching checkpoint; retraining its config", best.trial_id)
        generator = train(config, data, device="cpu").generator
    else:
        generator, _ = build_models(config, data.transformer.layout)
        generator.load_state_dict(generator_state)
    fake = data.transformer.decode(sample_encoded(generator, config.eval_samples, config.eval_seed))
    metrics = evaluate_values(data, fake, max_copy_share=guard)
    metrics.update(trial_id=best.trial_id, status=best.status)
    table = trials_table(records)
    counts = {str(k): int(v) for k, v in pd.Series([r.status for r in records]).value_counts().items()}
    summary = {
        "run_dir": str(run_dir.resolve()),
        "best_trial": best.trial_id,
        METRIC: metrics[METRIC],
        "wd_orig_mean": metrics["wd_orig_mean"],
        "guard": {"max_copy_share": guard, "copy_share": metrics.get("copy_share")},
        "fidelity": {k: metrics.get(k) for k in FIDELITY_COLUMNS},
        "references": {k: v[METRIC] for k, v in metrics["references"].items()},
        "references_fidelity": {k: {m: v.get(m) for m in FIDELITY_COLUMNS} for k, v in metrics["references"].items()},
        "trials": len(records),
        "trials_by_status": counts,
        "best_config": config.to_dict(),
    }
    import yaml

    with atomic_dir(out, force=force) as tmp:
        write_json_atomic(tmp / "best_config.json", config.to_dict())
        write_text_atomic(tmp / "best_config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        save_bundle(tmp / "model", config, generator, data, metrics)
        write_text_atomic(tmp / "trials.csv", (table.head(top_k) if top_k else table).to_csv(index=False))
        (tmp / "report").mkdir()
        from gan.plots import histograms

        histograms(data.transformer, data.train_values, fake, tmp / "report" / "histograms.png",
                   title=f"best trial {best.trial_id}: wd_mean {metrics[METRIC]:.4f}")
        summary["report"] = _optuna_figures(run_dir, opts, tmp / "report")
        write_json_atomic(tmp / "summary.json", summary)
    return summary


def _optuna_figures(run_dir: Path, opts: TuneOptions, report_dir: Path) -> dict[str, str]:
    """Optuna's history and importance plots; a figure that cannot be made says why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    notes: dict[str, str] = {}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = load_study(run_dir, opts.name)
    except GanTuneError:
        return {"optuna": f"no {STUDY_FILE} in the run directory"}
    complete = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    # Diverged/errored trials carry +-inf: plot and rank on the finite ones only. The history and
    # importances use the first objective (wd_mean) also in a multi-objective run.
    finite = [t for t in complete if t.values is not None and all(math.isfinite(v) for v in t.values)]
    view = optuna.create_study(direction="minimize")
    view.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=t.values[0]) for t in finite])
    if len(study.directions) > 1 and finite:
        front = optuna.create_study(directions=study.directions)
        front.add_trials(finite)
        metrics = opts.objectives[0]
        rows = [{"optuna_trial": t.number, **dict(zip(metrics, t.values)), **t.params} for t in front.best_trials]
        pd.DataFrame(rows).sort_values(metrics[0]).to_csv(report_dir.parent / "pareto_front.csv", index=False)
        notes["pareto_front_csv"] = "../pareto_front.csv"
        try:
            import warnings as _w

            with _w.catch_warnings():
                _w.simplefilter("ignore")
                ax = ovm.plot_pareto_front(front, target_names=metrics)
            ax.figure.set_size_inches(7, 5)
            ax.figure.tight_layout()
            ax.figure.savefig(report_dir / "pareto_front.png", dpi=100)
            plt.close(ax.figure)
            notes["pareto_front"] = "pareto_front.png"
        except Exception as exc:
            notes["pareto_front"] = f"skipped: {exc.__class__.__name__}"
    import warnings

    for name, fn, needed in (("optimization_history", ovm.plot_optimization_history, 1), ("param_importances", ovm.plot_param_importances, 2)):
        if len(finite) < needed:
            notes[name] = f"skipped: needs at least {needed} trial(s) with a finite score, found {len(finite)}"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
                ax = fn(view)
            fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(report_dir / f"{name}.png", dpi=100)
            plt.close(fig)
            notes[name] = f"{name}.png"
        except Exception as exc:  # e.g. importances on a single-valued parameter space
            notes[name] = f"skipped: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return notes


def format_top(records_table: pd.DataFrame, k: int = 5) -> str:
    cols = [c for c in ("trial_id", "status", METRIC, "copy_share", "steps", "batch_size", "noise_dim", "g_lr", "d_lr", "beta1", "beta2") if c in records_table]
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        return records_table[cols].head(k).to_string(index=False)


__all__ = ["export_run", "collect_trials", "choose_best", "trials_table", "format_top"]
