"""What defines a tuning run: `TuneOptions`, stored in the run directory as gantune.json.

No Ray and no Optuna here: the CLI, the runner, the export and the benchmarks all read the same
options and constants from this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan.config import GANConfig
from gan.data import BUILTIN_DATASETS, TabularData, load_data
from gan.errors import GanTuneError
from gan.fidelity import DEFAULT_MAX_COPY_SHARE
from tuning.space import SearchSpace
from tuning.study import METRIC, MODE

# Configurations a run tries when --num-samples is not given: pool members are cheap (most stop
# at the first rung, tuning.run.pool_rungs), so the pool's default is larger; with --time-budget
# alone, as many as fit. Measured on iris-setosa, 2 CPUs, quick start: 20 pool configurations
# took 59 s and exported wd_mean 0.0632 (a Gaussian fit: 0.0629), 64 took 80 s and 0.0522.
DEFAULT_SAMPLES = {"pool": 64, "trial": 20}
UNLIMITED_SAMPLES = 1_000_000


def default_num_samples(pack: Any, time_budget: float | None) -> int:
    """--num-samples when not given (see DEFAULT_SAMPLES)."""
    if time_budget:
        return UNLIMITED_SAMPLES
    return DEFAULT_SAMPLES["trial" if pack is None else "pool"]


# Budget per configuration when neither --steps nor --epochs is given: optimisation steps,
# whatever the table's size (iris-setosa at batch 32: 3,200 epochs).
DEFAULT_STEPS = 5000
SAMPLERS = ("tpe", "random", "cmaes", "gp")
SCHEDULERS = ("asha", "none")
META_FILE = "gantune.json"
# A per-trial checkpoint's files: the trainer state (torch.save of Trainer.state_dict) and config.
STATE_FILE = "trainer.pt"
CONFIG_FILE = "config.json"
# Multi-objective: WD against the detection AUC (0.5 = indistinguishable) or against the DCR
# ratio (higher = generated rows further from training rows, i.e. less copying).
OBJECTIVES = {
    "wd": ([METRIC], [MODE]),
    "wd,detect_auc": ([METRIC, "detect_auc"], [MODE, "min"]),
    "wd,dcr_ratio": ([METRIC, "dcr_ratio"], [MODE, "max"]),
}
# The record status of a pool member the time budget ended before its first score: a FAIL in
# the study (it does not count towards --num-samples) but no fault; the console says so.
UNSCORED_STATUS = "cut before a first score"
# Its name in runs of gantune before 2026-11-29 ("19 cut before its first score" read wrongly
# in the console's counts): read as UNSCORED_STATUS (`status_name`).
OLD_UNSCORED_STATUS = "cut before its first score"
# ... and of one it ended after a score: PRUNED in the study, counted as done.
CUT_STATUS = "cut by the time budget"


def status_name(status: Any) -> Any:
    """A recorded status as this version names it (runs of earlier versions: OLD_UNSCORED_STATUS)."""
    return UNSCORED_STATUS if status == OLD_UNSCORED_STATUS else status


# Fields earlier versions stored in gantune.json that are gone: read_options drops them.
REMOVED_FIELDS = ("fail_trials",)


@dataclass
class TuneOptions:
    """Everything that defines a tuning run (stored in the run directory as gantune.json)."""

    data: str = "iris-setosa"
    columns: list[str] | None = None
    metadata: str | None = None  # column-types file (gan.columns.load_metadata)
    na_values: list[str] | None = None
    dropna: bool = False
    holdout: float = 0.0
    encoding: str = "auto"  # numeric columns (gan.transform.ENCODINGS)
    round_values: bool = True
    range_margin: float = 0.0
    space: dict[str, Any] | None = None  # parsed --space file
    config: dict[str, Any] | None = None  # parsed --config file: the base GANConfig
    # Budget per configuration: `steps` optimisation steps, or `epochs` passes over the rows;
    # neither given: DEFAULT_STEPS steps. Scores every budget / 10 unless eval_every is given.
    epochs: int | None = None
    steps: int | None = None
    eval_every: int | None = None
    seed: int = 0
    num_samples: int = 20
    max_concurrent: int | None = None
    sampler: str = "tpe"
    scheduler: str = "asha"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    time_budget: float | None = None
    storage_path: str = "gantune-runs"
    name: str | None = None
    reuse_actors: bool = True
    max_failures: int = 2
    device: str = "auto"
    # Execution: an int K or "auto" = pool mode (tuning/pool.py), each Ray trial a pool worker
    # with K member slots; None ("off") = one Ray trial per configuration (tuning/trainable.py).
    pack: int | str | None = "auto"
    # Optuna objective(s): "wd" (single), or "wd,detect_auc" / "wd,dcr_ratio" (multi-objective,
    # Pareto front in the export). See OBJECTIVES.
    objective: str = "wd"
    # Memorisation guard for the exported best (gan.fidelity.passes_guard).
    max_copy_share: float = DEFAULT_MAX_COPY_SHARE

    @property
    def objectives(self) -> tuple[list[str], list[str]]:
        """(metrics, modes) for Optuna."""
        return OBJECTIVES[self.objective]

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise GanTuneError(f"--objective {self.objective!r} is unknown; use one of {', '.join(OBJECTIVES)}")
        if not 0 <= self.max_copy_share <= 1:
            raise GanTuneError(f"--max-copy-share must be in [0, 1], got {self.max_copy_share}")
        if self.num_samples < 1:
            raise GanTuneError(f"--num-samples must be at least 1, got {self.num_samples}")
        if self.epochs is not None and self.steps is not None:
            raise GanTuneError("--epochs and --steps both set the budget; give one of them")
        if self.epochs is not None and self.epochs < 1:
            raise GanTuneError(f"--epochs must be at least 1, got {self.epochs}")
        if self.steps is not None and self.steps < 1:
            raise GanTuneError(f"--steps must be at least 1, got {self.steps}")
        if self.sampler not in SAMPLERS:
            raise GanTuneError(f"--sampler {self.sampler!r} is unknown; use one of {', '.join(SAMPLERS)}")
        if self.scheduler not in SCHEDULERS:
            raise GanTuneError(f"--scheduler {self.scheduler!r} is unknown; use one of {', '.join(SCHEDULERS)}")
        if self.cpus_per_trial <= 0:
            raise GanTuneError(f"--cpus-per-trial must be positive, got {self.cpus_per_trial}")
        if self.gpus_per_trial < 0:
            raise GanTuneError(f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise GanTuneError(f"--max-concurrent must be at least 1, got {self.max_concurrent}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise GanTuneError(f"--time-budget must be positive seconds, got {self.time_budget}")
        if self.pack is not None:
            self.pack = parse_pack(self.pack)
        # Ray hides every GPU from a trial that reserves none, and a trial given a GPU trains on it.
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise GanTuneError(f"--device {self.device!r}: use auto, cpu or cuda")
        if str(self.device).startswith("cuda") and self.gpus_per_trial <= 0:
            raise GanTuneError(f"--device {self.device} needs --gpus-per-trial > 0: Ray hides the GPUs from trials that reserve none")
        if self.device == "cpu" and self.gpus_per_trial > 0:
            raise GanTuneError("--device cpu with --gpus-per-trial > 0 would reserve GPUs no trial uses; drop one of them")

    @property
    def run_dir(self) -> Path:
        assert self.name is not None
        return Path(self.storage_path).expanduser().resolve() / self.name

    @property
    def mode(self) -> str:
        """"pool" (many configurations per Ray trial, tuning.pool) or "trial" (one per trial)."""
        return "trial" if self.pack is None else "pool"

    @property
    def budget_attr(self) -> str:
        """The result key budgets are counted in: "epoch" under --epochs, else "steps"."""
        return "epoch" if self.epochs is not None else "steps"

    @property
    def budget(self) -> int:
        return self.epochs if self.epochs is not None else (self.steps or DEFAULT_STEPS)

    def base_config(self) -> GANConfig:
        base = GANConfig.from_dict(self.config or {}, source="--config")
        budget = self.budget
        eval_every = min(self.eval_every or max(1, budget // 10), budget)
        if self.epochs is not None:
            return base.replace(epochs=budget, steps=None, seed=self.seed, eval_every=eval_every)
        return base.replace(steps=budget, seed=self.seed, eval_every=eval_every)

    def search_space(self, n_rows: int | None = None) -> SearchSpace:
        """The search space; with `n_rows`, batch_size is searched over sizes that suit the table
        and pac fixed for it (tuning.space.default_pac), unless --space or --config sets them."""
        fixed_batch = "batch_size" in (self.config or {})
        fixed_pac = "pac" in (self.config or {})
        return SearchSpace(self.space, base=self.base_config(), where="--space", n_rows=None if fixed_batch else n_rows,
                           search_batch=self.mode == "trial", pac_rows=None if fixed_pac else n_rows)

    def load_data(self, quiet: bool = False) -> TabularData:
        return load_data(self.data, columns=self.columns, metadata=self.metadata, na_values=self.na_values, dropna=self.dropna,
                         holdout=self.holdout, seed=self.seed, encoding=self.encoding, round_values=self.round_values,
                         margin=self.range_margin, quiet=quiet)


# The table a run was tuned on (TabularData.fingerprint), written when the run starts.
DATA_FILE = "data.json"


def record_data(run_dir: str | Path, data: TabularData) -> None:
    from gan.io import write_json_atomic

    write_json_atomic(Path(run_dir) / DATA_FILE, data.fingerprint())


def check_same_data(run_dir: str | Path, opts: TuneOptions, data: TabularData, action: str) -> bool:
    """Refuse to `action` (continue / export) a run on a table other than the one it was tuned
    on: its members' weights and scores belong to that table's rows and encoding, so a changed
    file would mix two tables silently. False when the run has no record (a run from before
    it: not checked; its --resume records the table it continues on)."""
    path = Path(run_dir) / DATA_FILE
    try:
        then = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        then = None
    if not (isinstance(then, dict) and isinstance(then.get("sha256"), str) and isinstance(then.get("rows"), int)
            and isinstance(then.get("columns"), list)):
        raise GanTuneError(f"{path}: unreadable record of the table this run was tuned on; restore it, or delete it to "
                           f"{action} {Path(run_dir).name} unchecked against {opts.data}")
    now = data.fingerprint()
    if now.get("sha256") == then["sha256"]:
        return True
    if then["rows"] != now["rows"]:
        what = f"{then['rows']:,} rows then, {now['rows']:,} now"
    elif then["columns"] != now["columns"]:
        gone = [c for c in then["columns"] if c not in now["columns"]]
        added = [c for c in now["columns"] if c not in then["columns"]]
        parts = ([f"gone: {', '.join(map(str, gone))}"] if gone else []) + ([f"new: {', '.join(added)}"] if added else [])
        what = "columns " + "; ".join(parts) if parts else "the columns' order changed"
    else:
        what = "the same rows and columns, other values or column types"
    fix = "restore that table (and --metadata file)" + (", or start a new run on this one (gantune tune without --resume)" if action == "continue" else "")
    raise GanTuneError(f"{opts.data}: not the table this run was tuned on ({what}); to {action} {Path(run_dir).name}, {fix}")


def table_path(data: str) -> str:
    """`--data` as a run stores it: a file's absolute path (so --resume and export find it from
    any directory), a built-in dataset's name as it is."""
    return data if data in BUILTIN_DATASETS or not Path(data).is_file() else str(Path(data).resolve())


def load_run_table(run_dir: str | Path, opts: TuneOptions, action: str, data: str | None = None,
                   quiet: bool = False, metadata: str | None = None) -> tuple[TabularData, bool]:
    """The table to `action` (continue / export) run `run_dir` on: the file it was tuned on, or
    `data`, the same table at another path (moved with the run, or a relative path given from
    another directory), read with the run's metadata file or `metadata` (the same, moved);
    opts.data / opts.metadata become those paths. Checked against the run's record
    (check_same_data, which covers the column types a metadata file sets); the bool says
    whether the run had one."""
    name = Path(run_dir).name
    if data is not None:
        opts.data = table_path(data)
    elif opts.data not in BUILTIN_DATASETS and not Path(opts.data).exists():
        raise GanTuneError(f"{opts.data}: the table {name} was tuned on is not there (moved or deleted); "
                           f"to {action} {name}, pass its path now with --data")
    if metadata is not None:
        opts.metadata = str(Path(metadata).resolve())
    elif opts.metadata and not Path(opts.metadata).exists():
        raise GanTuneError(f"{opts.metadata}: the metadata file {name} was tuned with is not there (moved or deleted); "
                           f"to {action} {name}, pass its path now with --metadata")
    table = opts.load_data(quiet=quiet)
    return table, check_same_data(run_dir, opts, table, action)


def set_table_path(run_dir: str | Path, opts: TuneOptions) -> None:
    """Record in the run's options where its table (and metadata file) are now, as in `opts`
    (checked the same: load_run_table)."""
    from gan.io import write_json_atomic

    path = Path(run_dir) / META_FILE
    raw = json.loads(path.read_text())
    if (raw.get("data"), raw.get("metadata")) != (opts.data, opts.metadata):
        raw.update(data=opts.data, metadata=opts.metadata)
        write_json_atomic(path, raw)


def read_options(run_dir: str | Path) -> TuneOptions:
    path = Path(run_dir) / META_FILE
    if not path.is_file():
        raise GanTuneError(f"{run_dir}: not a gantune tuning run (no {META_FILE}); pass the directory that gantune tune created (storage-path/name)")
    try:
        raw = json.loads(path.read_text())
        for gone in REMOVED_FIELDS:  # written by earlier versions (always null there)
            raw.pop(gone, None)
        return TuneOptions(**raw)
    except (json.JSONDecodeError, TypeError):
        raise GanTuneError(f"{path}: corrupted run metadata; this run cannot be resumed or exported") from None




def parse_pack(value: Any) -> int | str | None:
    """`--pack` value: "off" / None (one Ray trial per configuration), a positive integer (member
    slots per pool worker), or "auto"."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        if value.strip().lower() == "off":
            return None
        try:
            value = int(value)
        except ValueError:
            raise GanTuneError(f"--pack {value!r}: give a positive integer, auto or off") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GanTuneError(f"--pack {value!r}: give a positive integer, auto or off")
    return value
