"""Export the best trial of a run: config, model bundle, top-k table and a report.

    OUT/best_config.json, best_config.yaml   exactly the GANConfig fields (gantune train --config)
    OUT/model/                               the best model as a bundle (gantune sample)
    OUT/trials.csv                           all scored trials, best first (top-k with --top-k)
    OUT/report/histograms.png                best model: real vs generated per feature
    OUT/report/optimization_history.png      Optuna's optimisation history
    OUT/report/param_importances.png         Optuna's parameter importances
    OUT/report/index.html                    the report page: all of it in one self-contained file
    OUT/summary.json                         best trial, its scores, counts by status

Works on an unfinished run (best so far). Each configuration is judged by its best report that
passed the memorisation guard (tuning.records, `TrialRecord.scored`), whichever step it came at;
the best configuration is exported with its budget set to that report's step, so
`gantune train --config best_config.json` retrains exactly the exported model (same device), and
the exported score is the one the run's console and best-so-far curves showed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

from gan.bundle import save_bundle
from gan.config import GANConfig
from gan.errors import GanTuneError
from gan.fidelity import DEFAULT_MAX_COPY_SHARE, passes_guard
from gan.io import atomic_dir, check_output_dir, write_json_atomic, write_text_atomic
from gan.models import build_models, sample_encoded
from gan.report import evaluate_values, fresh_scores
from tuning.options import STATE_FILE, TuneOptions, load_run_table, read_options
from tuning.records import FIDELITY_COLUMNS, TrialRecord, collect_trials, trials_table
from tuning.study import METRIC, STUDY_FILE, load_study

log = logging.getLogger(__name__)


def healthy_candidates(records: list[TrialRecord]) -> list[TrialRecord]:
    """Records with a finite score, best score first.

    A configuration that diverged or errored *after* a report that passed the guard counts by
    that report: the export loads the generator kept at that step or retrains the configuration
    to it, which is exact (the failure came later), and the run's best-so-far curves counted it
    too. One that failed before any such report has no finite score; a record superseded by a
    resume ("resumed") never counts.
    """
    healthy = [r for r in records if r.status != "resumed" and math.isfinite(r.score)
               and (r.status not in ("errored", "diverged") or r.best is not None)]
    if not healthy:
        counts = pd.Series([r.status for r in records]).value_counts().to_dict() if records else {}
        raise GanTuneError(f"no trial has a finite {METRIC} yet (trials by status: {counts or 'none'}); let the run go on, or resume it")
    return sorted(healthy, key=lambda r: (r.score, r.trial_id))


def _known_share(record: TrialRecord) -> float | None:
    share = record.scored.get("copy_share")
    try:
        share = float(share)
    except (TypeError, ValueError):
        return None
    return share if math.isfinite(share) else None


def choose_best(records: list[TrialRecord], max_copy_share: float = DEFAULT_MAX_COPY_SHARE,
                score: Callable[[TrialRecord], dict[str, Any]] | None = None) -> TrialRecord:
    """The lowest `wd_mean` among healthy trials that pass the memorisation guard.

    A trial whose generator puts more than `max_copy_share` of its rows closer to a training row
    than real rows are to each other (gan.fidelity) is a copier, whatever its score. The guard
    never fails open: a candidate whose record carries no guard score is scored with `score`
    (which must return the model's scores, `copy_share` included) before it can win; without
    `score` such a candidate is passed over.
    """
    shares = []
    for r in healthy_candidates(records):
        share = _known_share(r)
        if share is None and score is not None:
            r.scored.update({k: v for k, v in score(r).items() if k in FIDELITY_COLUMNS})
            share = _known_share(r)
        if share is not None and passes_guard({"copy_share": share}, max_copy_share):
            return r
        shares.append(share if share is not None else math.nan)
    known = sorted(x for x in shares if not math.isnan(x))
    span = f"copy_share from {known[0]:.2f} to {known[-1]:.2f} > " if known else "no guard score and "
    raise GanTuneError(
        f"all {len(shares)} healthy trial(s) fail the memorisation guard ({span}--max-copy-share {max_copy_share}); "
        "their generators copy training rows. Raise --max-copy-share only if copying is acceptable for your use"
    )


def _load_generator_state(record: TrialRecord) -> dict[str, torch.Tensor] | None:
    """The record's saved generator when it is the scored one (same step), else None."""
    if record.checkpoint is None:
        return None
    path = record.checkpoint if record.checkpoint.is_file() else record.checkpoint / STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if int(state.get("steps", -1)) != int(record.scored.get("steps", -2)):
        return None  # the checkpoint is not of the scored step: retrain instead
    return state.get("G_ema", state["G"])  # the scored generator: G's moving average where there is one


def scored_config(space: Any, record: TrialRecord, n_rows: int) -> GANConfig:
    """The trial's configuration with its budget set to the step it was scored at, so that
    `gantune train --config` retrains exactly the scored model (a steps budget is exact where an
    epoch count may not fall on a whole step). Scoring keeps the trial's cadence."""
    config = space.to_config(record.params)
    steps = int(record.scored.get("steps") or 0)
    if steps <= 0:
        return config
    return config.replace(steps=steps, eval_every=min(config.eval_interval(n_rows), steps))


def export_run(
    run_dir: str | Path, out: str | Path, *, top_k: int | None = None, force: bool = False, max_copy_share: float | None = None,
    data: str | None = None, metadata: str | None = None,
) -> dict[str, Any]:
    """Write the export of `run_dir` into `out` atomically; return the summary.

    `max_copy_share` overrides the run's memorisation guard (TuneOptions.max_copy_share);
    `data` / `metadata`: the run's table / metadata file at another path than the one it was
    tuned with.
    """
    # One intra-op thread while retraining and scoring these tiny networks, as `gantune train`
    # does: measured on the 2-core machine beside another busy process, retraining a 3,000-step
    # member took 40-66 s with torch's default 2 threads and 4.5 s with one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _export_run(Path(run_dir), out, top_k=top_k, force=force, max_copy_share=max_copy_share, data=data,
                           metadata=metadata)
    finally:
        torch.set_num_threads(before)


def _export_run(run_dir: Path, out: str | Path, *, top_k: int | None, force: bool, max_copy_share: float | None,
                data: str | None = None, metadata: str | None = None) -> dict[str, Any]:
    from gan.train import train

    if not run_dir.is_dir():
        raise GanTuneError(f"{run_dir}: no such run directory; pass the directory gantune tune printed (storage-path/name)")
    opts = read_options(run_dir)
    check_output_dir(out, force=force, what="export directory")
    data, _ = load_run_table(run_dir, opts, "export", data, quiet=True, metadata=metadata)
    space = opts.search_space(len(data.train_idx))
    guard = opts.max_copy_share if max_copy_share is None else max_copy_share
    # Under another guard than the run's each configuration may be crowned at another step.
    records = collect_trials(run_dir, opts, max_copy_share=guard)
    models: dict[str, tuple[GANConfig, Any, Any, dict[str, Any]]] = {}

    def materialise(record: TrialRecord) -> dict[str, Any]:
        """The record's model (saved, or retrained to its scored step) and its full scores."""
        if record.trial_id not in models:
            config = scored_config(space, record, len(data.train_idx))
            state = _load_generator_state(record)
            if state is None:
                log.info("configuration %s: its scored weights were not kept; training it again to its scored step (%d)", record.trial_id, config.total_steps(len(data.train_idx)))
                generator = train(config, data, device="cpu").generator
            else:
                generator, _ = build_models(config, data.transformer.layout)
                generator.load_state_dict(state)
            fake = data.transformer.decode(sample_encoded(generator, config.eval_samples, config.eval_seed))
            models[record.trial_id] = (config, generator, fake, evaluate_values(data, fake, max_copy_share=guard))
        return models[record.trial_id][3]

    try:
        candidates = healthy_candidates(records)
    except GanTuneError as exc:
        if opts.time_budget and not any(math.isfinite(r.score) for r in records):
            base = opts.base_config()
            unit = "epochs" if opts.epochs is not None else "steps"
            raise GanTuneError(
                f"no configuration was scored within --time-budget {opts.time_budget:g} s ({len(records)} started); "
                f"the first score comes after {base.eval_every} {unit}: raise --time-budget or lower --{unit}"
            ) from None
        raise exc from None
    # The guard decides: the chosen model is scored again as exported (loaded or retrained) and
    # must pass; a candidate that fails then is passed over for the next.
    excluded: set[str] = set()
    while True:
        best = choose_best([r for r in candidates if r.trial_id not in excluded], guard, score=materialise)
        metrics = materialise(best)
        if metrics["passes_guard"]:
            break
        log.info("trial %s fails the guard once exported (copy_share %.3f); trying the next", best.trial_id, metrics["copy_share"])
        best.scored["copy_share"] = metrics["copy_share"]
        excluded.add(best.trial_id)
    config, generator, fake, metrics = models[best.trial_id]
    metrics.update(trial_id=best.trial_id, status=best.status)
    table = trials_table(records)
    counts = {str(k): int(v) for k, v in pd.Series([r.status for r in records]).value_counts().items()}
    summary = {
        "run_dir": str(run_dir.resolve()),
        "best_trial": best.trial_id,
        METRIC: metrics[METRIC],
        "wd_orig_mean": metrics["wd_orig_mean"],
        "guard": {"max_copy_share": guard, "copy_share": metrics.get("copy_share")},
        # cond_wd (numbers within labels) is scored here and by `gantune evaluate`, not on every
        # trial report, so it is not one of trials.csv's FIDELITY_COLUMNS.
        "fidelity": {**{k: metrics.get(k) for k in FIDELITY_COLUMNS}, "cond_wd": metrics.get("cond_wd"),
                     "cond_wd_worst": metrics.get("cond_wd_worst")},
        # The crowned score is the lowest of many draws (biased low); this one is not.
        "fresh": fresh_scores(data, generator, config.eval_samples, config.eval_seed, max_copy_share=guard),
        "references": {k: v[METRIC] for k, v in metrics["references"].items()},
        "references_fidelity": {k: {m: v.get(m) for m in (*FIDELITY_COLUMNS, "cond_wd")} for k, v in metrics["references"].items()},
        "new_sample": metrics.get("new_sample"),
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
        from tuning.report_page import write_report_page  # report/index.html, one self-contained page

        summary["report"]["page"] = write_report_page(tmp / "report", summary=summary, run_dir=run_dir, opts=opts, data=data,
                                                      fake=fake, records=records, metrics=metrics)
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
    # Pool mode stops most configurations early (PRUNED): each counts with its last score, as
    # the pruner judged it, else the importances would see only the few that ran to the end.
    pruned = [t for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.PRUNED])
              if t.intermediate_values and math.isfinite(t.intermediate_values[max(t.intermediate_values)])]
    view.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                               value=t.intermediate_values[max(t.intermediate_values)]) for t in pruned])
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
        if len(finite) + len(pruned) < needed:
            notes[name] = f"skipped: needs at least {needed} trial(s) with a finite score, found {len(finite) + len(pruned)}"
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


def format_top(records_table: pd.DataFrame, k: int = 5, max_copy_share: float = DEFAULT_MAX_COPY_SHARE) -> str:
    table = records_table.copy()
    if "copy_share" in table:
        # Which rows the export may pick: the guard's verdict beside each score.
        table.insert(table.columns.get_loc("copy_share") + 1, "guard",
                     ["pass" if pd.notna(v) and v <= max_copy_share else ("FAIL" if pd.notna(v) else "?") for v in table["copy_share"]])
    records_table = table
    cols = [c for c in ("trial_id", "status", METRIC, "copy_share", "guard", "steps", "batch_size", "noise_dim", "g_lr", "d_lr", "beta1", "beta2") if c in records_table]
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        return records_table[cols].head(k).to_string(index=False)


__all__ = ["export_run", "collect_trials", "choose_best", "trials_table", "format_top"]
