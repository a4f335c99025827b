"""The records of a run: one `TrialRecord` per configuration, whichever way it was trained.

Per-trial mode reads them from Ray Tune's experiment state (each Ray trial is a configuration)
and its result files (every report); pool mode reads them from the run's Optuna study, where
every member's reports leave their scores (one `record` attribute per trial, which also carries
the member's best report) and the pool checkpoints hold the generators of the best finished
members.

A configuration is judged by its **best report that passes the memorisation guard** (`scored`),
not by its last: a GAN's score wanders as it trains, the run's best-so-far curves (the console,
bench/anytime.py, the report page) count every report, and the export retrains a configuration
exactly to the step of its scored report. Judged by its last report, a configuration that
scored 0.068 at step 4,000 and 0.077 at its end was exported at 0.077 while the console had shown
0.068 as the run's best.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from gan.errors import GanTuneError
from tuning.options import TuneOptions, status_name
from tuning.study import METRIC, better_report


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # "completed", "stopped early", "diverged", "errored", "running"
    params: dict[str, Any]
    last: dict[str, Any]  # the trial's last reported result
    checkpoint: Path | None
    error: str | None = None
    best: dict[str, Any] | None = None  # its lowest-METRIC report that passed the guard, if any

    @property
    def scored(self) -> dict[str, Any]:
        """The report the configuration is judged and exported by: its best that passed the
        guard, else its last (which then fails the guard or has no score)."""
        return self.best if self.best is not None else self.last

    @property
    def score(self) -> float:
        value = self.scored.get(METRIC, math.inf)
        return float(value) if value is not None and math.isfinite(value) else math.inf


def _trial_status(trial: Any, last: dict[str, Any], opts: TuneOptions) -> str:
    if trial.status == "ERROR":
        return "errored"
    if last.get("diverged"):
        return "diverged"
    if trial.status == "TERMINATED":
        return "completed" if last.get(opts.budget_attr, 0) >= opts.budget - 1e-9 else "stopped early"
    return trial.status.lower()


def collect_trials(run_dir: Path, opts: TuneOptions, max_copy_share: float | None = None) -> list[TrialRecord]:
    """Every configuration of a run, finished or not, each judged by its best report that passes
    the guard: the run's (`opts.max_copy_share`), or `max_copy_share` (`gantune export
    --max-copy-share`), which may crown another step of a configuration than the run did."""
    if opts.mode == "pool":
        return pool_records(run_dir, opts, max_copy_share)
    return ray_records(run_dir, opts, max_copy_share)


def ray_records(run_dir: Path, opts: TuneOptions, max_copy_share: float | None = None) -> list[TrialRecord]:
    """Read every trial of a per-trial run from Ray's experiment state (finished or not)."""
    from ray.tune import ExperimentAnalysis

    guard = opts.max_copy_share if max_copy_share is None else max_copy_share

    try:
        analysis = ExperimentAnalysis(str(run_dir))
    except Exception as exc:  # missing/corrupt experiment state
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:200]
        raise GanTuneError(f"{run_dir}: cannot read the Ray Tune experiment state ({first}); is this a run directory that started trials?") from None
    results = trial_results(run_dir)
    records = []
    for trial in analysis.trials:
        last = dict(trial.last_result or {})
        best = None
        for report in results.get(trial.trial_id, [last]):
            best = better_report(best, report, guard)
        ckpt = None
        if trial.checkpoint is not None and trial.checkpoint.path:
            ckpt = Path(trial.checkpoint.path)
        if "_members" in trial.config or "_study_actor" in trial.config:
            continue  # a pack worker of an older gantune, or a pool worker: records come from the study
        params = {k: v for k, v in trial.config.items() if not k.startswith("_")}
        error = None
        if trial.status == "ERROR":
            error = error_text(trial)
        records.append(TrialRecord(trial.trial_id, _trial_status(trial, last, opts), params, last, ckpt, error, best))
    return records


def trial_results(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Per-trial mode: every scored report of every Ray trial (its result.json), by trial id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(run_dir).glob("*/result.json")):
        trial_id = path.parent.name.split("_", 1)[-1]  # directories are "<index>_<trial id>"
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if METRIC in result:
                rows.append(result)
        out[trial_id] = rows
    return out


def error_text(trial: Any) -> str:
    """The last line of a Ray trial's error file (300 characters at most)."""
    path = getattr(trial, "error_file", None) or ""
    try:
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "error"
    except OSError:
        return "error (no error file)"


_POOL_STATUS = {"COMPLETE": "completed", "PRUNED": "stopped early", "FAIL": "errored", "RUNNING": "running", "WAITING": "pending"}


def member_checkpoints(run_dir: Path) -> dict[int, Path]:
    """Optuna number -> saved generator of a finished pool member (newest checkpoint wins)."""
    from tuning.pool import MEMBERS_DIR

    found: dict[int, Path] = {}
    for path in sorted(run_dir.glob(f"*/checkpoint_*/{MEMBERS_DIR}/*.pt"), key=lambda p: p.stat().st_mtime):
        try:
            found[int(path.stem)] = path
        except ValueError:
            continue
    return found


def member_reports(run_dir: Path) -> dict[int, list[dict[str, Any]]]:
    """Pool mode: every scored report of every member (the run's reports.csv), by Optuna number;
    a torn line (a killed driver) is skipped."""
    from tuning.study import read_reports

    out: dict[int, list[dict[str, Any]]] = {}
    for row in read_reports(run_dir):
        try:
            number, steps, value = int(row["number"]), int(row["steps"]), float(row[METRIC])
            share = float(row["copy_share"]) if row.get("copy_share") else None
        except (KeyError, TypeError, ValueError):
            continue
        report = {"steps": steps, METRIC: value, "copy_share": None if share is None or math.isnan(share) else share}
        out.setdefault(number, []).append(report)
    return out


def _repicked_best(t: Any, by_number: Mapping[int, Any], reports: Mapping[int, list[dict[str, Any]]], stored: dict[str, Any] | None,
                   max_copy_share: float) -> dict[str, Any] | None:
    """A pool member's best report under another guard than the run's, from its reports (and
    those of the trials it was resumed from: it retrains their steps exactly). The stored best
    (every field of the report) where it is the same step, else the step's score and copy share
    (the export retrains the configuration to that step and scores it in full)."""
    chain, number = [], t.number
    while number is not None and number not in chain:
        chain.append(number)
        prev = by_number.get(number)
        number = prev.user_attrs.get("resumed_from") if prev is not None else None
    best = None
    for report in sorted((r for n in chain for r in reports.get(n, [])), key=lambda r: r["steps"]):
        best = better_report(best, report, max_copy_share)
    if best is None:
        return None
    if stored is not None and int(stored.get("steps", -1)) == best["steps"]:
        return stored
    return {**best, "passes_guard": True}


def pool_records(run_dir: Path, opts: TuneOptions, max_copy_share: float | None = None) -> list[TrialRecord]:
    """One record per Optuna trial of a pool run: its parameters, state and last report."""
    from tuning.study import FIXED_ATTR, load_study

    study = load_study(run_dir, opts.name)
    saved = member_checkpoints(run_dir)
    trials = study.get_trials(deepcopy=False)
    resumed = {t.user_attrs.get("resumed_from") for t in trials}
    # The study keeps each member's best under the run's guard; another guard re-picks it.
    repick = max_copy_share is not None and max_copy_share != opts.max_copy_share
    reports = member_reports(run_dir) if repick else {}
    by_number = {t.number: t for t in trials}
    records = []
    for t in trials:
        last = dict(t.user_attrs.get("record", {}))
        best = last.pop("best", None)  # the study server keeps each member's best report there
        if repick:
            best = _repicked_best(t, by_number, reports, best, float(max_copy_share))
        if "status" in last:
            last["status"] = status_name(last["status"])
        status = last.get("status") or _POOL_STATUS.get(t.state.name, t.state.name.lower())
        if t.state.name == "COMPLETE" and status in ("running", "completed"):
            status = "completed"
        elif t.state.name == "PRUNED" and status in ("running", "pruned"):
            status = "stopped early"
        elif t.state.name == "FAIL":
            status = "resumed" if t.number in resumed else ("errored" if status in ("running", "errored") else status)
        if status.startswith("diverged"):
            last["diverged"] = True
            status = "diverged"
        last["optuna_number"] = t.number
        if best is not None:
            best["optuna_number"] = t.number
        # The values the space fixed (pool mode's batch size, fixed --space entries) are not
        # Optuna params: without them the export would rebuild another configuration.
        params = {**t.params, **t.user_attrs.get(FIXED_ATTR, {})}
        records.append(TrialRecord(str(t.number), status, params, last, saved.get(t.number), error=last.get("error"), best=best))
    return records


FIDELITY_COLUMNS = ("copy_share", "dcr_ratio", "corr_diff", "detect_auc")


def trials_table(records: list[TrialRecord]) -> pd.DataFrame:
    """One row per configuration, best first: the scores and step of its scored report (the
    step the export would retrain it to) and how far it trained (`trained_steps`)."""
    rows = []
    for r in records:
        s = r.scored
        row = {"trial_id": r.trial_id, "status": r.status, METRIC: s.get(METRIC, math.nan),
               "wd_orig_mean": s.get("wd_orig_mean", math.nan), "steps": s.get("steps", 0), "epoch": s.get("epoch", 0),
               "trained_steps": max(int(r.last.get("steps") or 0), int(s.get("steps") or 0))}
        row.update({k: s.get(k, math.nan) for k in FIDELITY_COLUMNS})
        row.update({k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in sorted(r.params.items())})
        if r.error:
            row["error"] = r.error
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values(METRIC, kind="stable", na_position="last").reset_index(drop=True)
    return frame
