"""`--log-to mlflow[:URI]` and `--log-to tensorboard[:DIR]`: one tracker run per configuration.

Ray Tune's own MLflow / TensorBoard logger callbacks log Ray trials; in pool mode (the default) a
Ray trial is a pool worker training many configurations, so gantune logs configurations itself,
from what the run recorded, when the driver's run ends (`log_run`): every configuration (an Optuna
trial in pool mode, a Ray trial with `--pack off`) with its parameters, its status, its score
history (`wd_mean` and `copy_share` per evaluation step: `RUN/reports.csv` in pool mode, each
trial's `result.json` per trial) and, as `best/...` at that report's step, the scores the export
judges it by: those of its best report that passed the guard (tuning.records; its last without
one): `wd_mean`, `wd_orig_mean`, `copy_share`, `dcr_ratio`, `corr_diff`, `detect_auc` where
scored, `passes_guard` as 0 / 1.

    mlflow            SQLite store RUN/mlflow.db (`mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db`),
                      experiment = the run's name, one MLflow run per configuration
    mlflow:URI        any tracking URI (http://host:5000, sqlite:///file.db, ...)
    tensorboard       RUN/tensorboard/<configuration>/ event files: scalars and the HPARAMS table
    tensorboard:DIR   the same under DIR

MLflow 3 refuses its old file store (`./mlruns`) unless MLFLOW_ALLOW_FILE_STORE=true, so the
default is a SQLite file in the run directory, which MLflow's own tools read without settings.
`RUN/trackers.json` remembers what was logged, so a resumed run logs only what is new (a
configuration logged unfinished is logged again once it has finished).

mlflow and tensorboard are optional: `pip install 'gantune[track]'`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from gan.errors import GanTuneError

log = logging.getLogger(__name__)

KINDS = ("mlflow", "tensorboard")
MARKER_FILE = "trackers.json"
MLFLOW_DB = "mlflow.db"
TENSORBOARD_DIR = "tensorboard"
SCORED_SCORES = ("wd_mean", "wd_orig_mean", "copy_share", "dcr_ratio", "corr_diff", "detect_auc")
HISTORY_SCORES = ("wd_mean", "copy_share")
UNFINISHED = ("running", "pending")
INSTALL_HINT = "pip install 'gantune[track]'"


@dataclass(frozen=True)
class Target:
    kind: str  # "mlflow" or "tensorboard"
    where: str | None = None  # a tracking URI, or a TensorBoard directory; None: in the run directory

    def __str__(self) -> str:
        return self.kind + (f":{self.where}" if self.where else "")


def parse_target(text: str) -> Target:
    """`mlflow`, `mlflow:URI`, `tensorboard` or `tensorboard:DIR`."""
    kind, _, where = str(text).strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise GanTuneError(f"--log-to {text!r}: use mlflow, mlflow:URI, tensorboard or tensorboard:DIR")
    return Target(kind, where.strip() or None)


def check_available(targets: Sequence[Target]) -> None:
    """Refuse a tracker whose package is missing before the run starts, not after it."""
    for kind in sorted({t.kind for t in targets}):
        module = "mlflow" if kind == "mlflow" else "tensorboard"
        try:
            __import__(module)
        except ImportError:
            raise GanTuneError(f"--log-to {kind}: the {module} package is not installed; {INSTALL_HINT}") from None


# -- what a run recorded, per configuration ------------------------------------------------------------
@dataclass
class Configuration:
    key: str  # the export's trial_id: the Optuna number in pool mode, the Ray trial id per trial
    status: str
    params: dict[str, Any]
    history: list[tuple[int, float | None, dict[str, float]]] = field(default_factory=list)  # (steps, unix time, scores)
    best: dict[str, float] = field(default_factory=dict)  # its scored report's scores (logged as best/...)
    step: int = 0  # that report's step


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _pool_history(run_dir: Path) -> dict[str, list[tuple[int, float | None, dict[str, float]]]]:
    from tuning.study import read_reports

    out: dict[str, list[tuple[int, float | None, dict[str, float]]]] = {}
    for row in read_reports(run_dir):
        scores = {k: v for k in HISTORY_SCORES if (v := _number(row.get(k))) is not None}
        try:
            out.setdefault(str(int(row["number"])), []).append((int(row["steps"]), _number(row.get("time")), scores))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _trial_history(run_dir: Path) -> dict[str, list[tuple[int, float | None, dict[str, float]]]]:
    from tuning.records import trial_results

    out: dict[str, list[tuple[int, float | None, dict[str, float]]]] = {}
    for trial_id, results in trial_results(run_dir).items():
        out[trial_id] = [(int(r.get("steps") or r.get("training_iteration") or 0), _number(r.get("timestamp")),
                          {k: v for k in HISTORY_SCORES if (v := _number(r.get(k))) is not None}) for r in results]
    return out


def configurations(run_dir: Path, opts: Any = None) -> list[Configuration]:
    """Every configuration of the run in `run_dir`, with its history and scored report."""
    from tuning.options import read_options
    from tuning.records import collect_trials

    run_dir = Path(run_dir)
    opts = opts or read_options(run_dir)
    records = collect_trials(run_dir, opts)
    history = _pool_history(run_dir) if opts.mode == "pool" else _trial_history(run_dir)
    out = []
    for r in records:
        scored = r.scored
        best = {k: v for k in SCORED_SCORES if (v := _number(scored.get(k))) is not None}
        if scored.get("passes_guard") is not None:
            best["passes_guard"] = 1.0 if scored.get("passes_guard") else 0.0
        steps = int(_number(scored.get("steps")) or 0)
        out.append(Configuration(str(r.trial_id), r.status, dict(r.params), history.get(str(r.trial_id), []), best, steps))
    return out


def _param_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return value


# -- logging ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Library chatter (MLflow's 'Creating initial MLflow database tables...', deprecation
    warnings of its dependencies) is nothing a user acts on."""
    lg = logging.getLogger(logger)
    level = lg.level
    lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        lg.setLevel(level)


def _marker(run_dir: Path) -> dict[str, dict[str, str]]:
    try:
        return json.loads((run_dir / MARKER_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def mlflow_uri(run_dir: Path, target: Target) -> str:
    return target.where or f"sqlite:///{(Path(run_dir) / MLFLOW_DB).resolve()}"


def log_mlflow(run_dir: Path, name: str, confs: Sequence[Configuration], target: Target, logged: dict[str, Any]) -> int:
    """One MLflow run per configuration (experiment = the run's name); returns how many."""
    with _quiet("mlflow"), _quiet("alembic"):
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag

        client = MlflowClient(tracking_uri=mlflow_uri(run_dir, target))
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            artifacts = (Path(run_dir) / "mlartifacts").resolve().as_uri() if target.where is None else None
            experiment_id = client.create_experiment(name, artifact_location=artifacts, tags={"gantune.run_dir": str(Path(run_dir).resolve())})
        else:
            experiment_id = experiment.experiment_id
        n = 0
        for c in confs:
            old = logged.get(c.key)
            if old is not None and old.get("status") not in UNFINISHED:
                continue
            if old is not None and old.get("run_id"):
                with contextlib.suppress(Exception):
                    client.delete_run(old["run_id"])
            run = client.create_run(experiment_id, run_name=f"configuration {c.key}",
                                    tags={"gantune.run": name, "gantune.configuration": c.key, "gantune.status": c.status})
            now_ms = int(run.info.start_time)
            metrics = [Metric(k, v, int(t * 1000) if t else now_ms, steps) for steps, t, scores in c.history for k, v in scores.items()]
            at = [t for steps, t, _ in c.history if steps == c.step and t]
            metrics += [Metric(f"best/{k}", v, int(at[-1] * 1000) if at else now_ms, c.step) for k, v in c.best.items()]
            params = [Param(k, str(_param_value(v))) for k, v in sorted(c.params.items())]
            for i in range(0, max(len(metrics), 1), 1000):  # MLflow takes at most 1000 metrics per batch
                client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000], params=params if i == 0 else [],
                                 tags=[RunTag("mlflow.note.content", f"gantune configuration {c.key}: {c.status}")] if i == 0 else [])
            state = "FAILED" if c.status in ("errored", "failed") else ("RUNNING" if c.status in UNFINISHED else "FINISHED")
            if state != "RUNNING":
                client.set_terminated(run.info.run_id, state)
            logged[c.key] = {"status": c.status, "run_id": run.info.run_id}
            n += 1
    return n


def log_tensorboard(run_dir: Path, confs: Sequence[Configuration], target: Target, logged: dict[str, Any]) -> tuple[Path, int]:
    """Event files per configuration: scalars by step and the HPARAMS table; returns (root, how many)."""
    with _quiet("tensorboard"):
        from torch.utils.tensorboard import SummaryWriter

        root = Path(target.where) if target.where else Path(run_dir) / TENSORBOARD_DIR
        n = 0
        for c in confs:
            old = logged.get(c.key)
            if old is not None and old.get("status") not in UNFINISHED:
                continue
            where = root / f"configuration-{c.key}"
            if where.exists():
                shutil.rmtree(where)
            with SummaryWriter(log_dir=str(where)) as writer:
                for steps, t, scores in c.history:
                    for k, v in scores.items():
                        writer.add_scalar(k, v, steps, walltime=t)
                hparams = {k: _param_value(v) for k, v in c.params.items() if isinstance(_param_value(v), (int, float, str, bool))}
                hparams["status"] = c.status
                writer.add_hparams(hparams, {f"best/{k}": v for k, v in c.best.items()}, run_name=".", global_step=c.step)
            logged[c.key] = {"status": c.status}
            n += 1
    return root, n


def log_run(run_dir: str | Path, targets: Sequence[Target | str], *, opts: Any = None) -> list[str]:
    """Log every configuration of the run to each target; returns one line per target."""
    from gan.io import write_json_atomic
    from tuning.options import read_options

    run_dir = Path(run_dir)
    parsed = [t if isinstance(t, Target) else parse_target(t) for t in targets]
    if not parsed:
        return []
    check_available(parsed)
    opts = opts or read_options(run_dir)
    confs = configurations(run_dir, opts)
    marker = _marker(run_dir)
    lines = []
    for target in parsed:
        logged = marker.setdefault(str(target), {})
        if target.kind == "mlflow":
            n = log_mlflow(run_dir, opts.name or run_dir.name, confs, target, logged)
            uri = mlflow_uri(run_dir, target)
            lines.append(f"MLflow: {n} configuration(s) logged to experiment {opts.name or run_dir.name!r} at {uri}")
        else:
            root, n = log_tensorboard(run_dir, confs, target, logged)
            lines.append(f"TensorBoard: {n} configuration(s) logged; view with: tensorboard --logdir {root}")
        write_json_atomic(run_dir / MARKER_FILE, marker)
    return lines


__all__ = ["KINDS", "Configuration", "Target", "check_available", "configurations", "log_run", "parse_target"]
