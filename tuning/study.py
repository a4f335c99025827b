"""The run's Optuna study: its journal file, samplers, and clean-up after interruptions.

One study per run holds every configuration ever proposed (one Optuna trial each), whichever way
the configurations are trained. No Ray here.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from gan.errors import GanTuneError

# The objective every configuration is scored by (lower is better), in both modes.
METRIC, MODE = "wd_mean", "min"

# The Optuna study of a run: an Optuna journal file (JournalStorage + JournalFileBackend), not
# SQLite. Measured on this 2-core machine (Optuna 5.0, TPE, the reference space): 128 study.ask()
# calls took 14.2 s on SQLite (a commit per parameter, and every ask re-reads all trials) and
# 0.49 s on the journal; in pack mode that was ~15 s of a 90 s run before a pack could start.
STUDY_FILE = "optuna.log"
LEGACY_STUDY_FILE = "optuna.db"  # runs made before the journal: still exported / resumed


def study_storage(run_dir: Path, *, writer: bool = False):
    """The Optuna storage of the run in `run_dir` (its journal; SQLite for older runs).

    `writer`: the storage of the run's study server, the one process that writes the study
    while the run goes on (`tuning.journal.ServerJournal`); everything else reads and writes
    the file through Optuna's own backend."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    legacy = run_dir / LEGACY_STUDY_FILE
    path = run_dir / STUDY_FILE
    if legacy.is_file() and not path.exists():
        return optuna.storages.RDBStorage(f"sqlite:///{legacy}")
    if writer:
        from tuning.journal import ServerJournal

        return optuna.storages.JournalStorage(ServerJournal(path))
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def repair_study_journal(run_dir: Path) -> None:
    """Clear what a killed driver can leave in the study journal, before a driver writes to it
    again (--resume): a stale lock, which Optuna would wait 30 s for, and a half-written last
    line, which would corrupt the next append."""
    path = run_dir / STUDY_FILE
    lock = Path(f"{path}.lock")
    if lock.is_symlink() or lock.exists():
        lock.unlink()
    from tuning.journal import cut_torn_line

    cut_torn_line(path)


def load_study(run_dir: Path, name: str):
    """The run's Optuna study (read side: export, benchmarks, tests)."""
    import optuna

    if not (run_dir / STUDY_FILE).is_file() and not (run_dir / LEGACY_STUDY_FILE).is_file():
        raise GanTuneError(f"{run_dir}: no Optuna study ({STUDY_FILE}) in the run directory; is it a gantune run?")
    return optuna.load_study(study_name=name, storage=study_storage(run_dir))


def make_sampler(name: str, seed: int):
    import optuna

    if name == "tpe":
        from tuning.sampler import WindowedTPESampler

        # constant_liar: trials still running count as bad guesses, so parallel workers spread out.
        # Windowed: past 300 finished trials an ask reads a bounded sample of them (tuning/sampler.py).
        return WindowedTPESampler(seed=seed, constant_liar=True, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.GPSampler(seed=seed)



def close_stale_study_trials(run_dir: Path, name: str) -> int:
    """Mark Optuna trials left RUNNING by an interrupted driver as FAIL; returns how many.

    Call only once a run has finished: a resumed run tells Optuna the outcome of every trial its
    restored searcher knows, but a trial asked for after the driver's last state snapshot is
    unknown to it and would otherwise stay RUNNING in the study forever.
    """
    import optuna

    study = load_study(run_dir, name)
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
    for t in stale:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    return len(stale)


# ---------------------------------------------------------------------------------------------
# The study server: one sampler for the whole run
# ---------------------------------------------------------------------------------------------
# Every member report, one CSV line each, with its wall-clock time: the best-so-far curves of
# bench/anytime.py and the export's report come from it.
REPORTS_FILE = "reports.csv"
REPORT_COLUMNS = ("time", "number", "steps", "wd_mean", "copy_share", "passes_guard", "pool")
# User attribute of a pool-mode trial: the values its space fixes (not in Optuna's params).
FIXED_ATTR = "fixed"


def read_reports(run_dir: Path) -> list[dict[str, str]]:
    """The lines of a pool run's reports.csv as written (strings); [] without one. A line torn
    by a killed driver comes back with fields missing: readers skip what they cannot parse."""
    import csv

    path = Path(run_dir) / REPORTS_FILE
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def make_pruner(rungs: Sequence[int] | None):
    """Optuna's asynchronous successive halving over training steps (its rung record kept as it
    is written: tuning/pruner.py), or no pruning."""
    import optuna

    if not rungs:
        return optuna.pruners.NopPruner()
    from tuning.pruner import RungRecordPruner

    return RungRecordPruner(min_resource=int(rungs[0]), reduction_factor=3, bootstrap_count=0)


def better_report(best: dict[str, Any] | None, report: Mapping[str, Any], max_copy_share: float | None = None) -> dict[str, Any] | None:
    """`report` when it passes the guard (its `passes_guard`, or its copy_share against
    `max_copy_share`) with a lower finite METRIC than `best`; else `best`."""
    try:
        value = float(report.get(METRIC))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return best
    if not math.isfinite(value):
        return best
    if max_copy_share is None:
        ok = bool(report.get("passes_guard"))
    else:
        # Imported here: the study server (a Ray actor) calls this on every report, and the
        # guard's module pulls scikit-learn and PyTorch: on its first report the actor spent 4.5 s
        # importing them while both pool workers waited for its answer.
        from gan.fidelity import passes_guard

        ok = report.get("copy_share") is not None and passes_guard(dict(report), max_copy_share)
    if ok and (best is None or value < float(best[METRIC])):
        return dict(report)
    return best


class StudyServer:
    """Owns the run's Optuna study, its sampler and its pruner; pool workers ask / report / tell.

    One object per run (a Ray actor in `tuning.pool`), so every configuration of every pool, on
    every node, is proposed by the same sampler after every result told so far, and every
    member is judged by the same successive-halving rungs (Optuna's pruner reads them from the
    study). Plain Python: the benchmarks and tests drive it in-process.

    Counting: `num_samples` configurations are asked in all; `deadline` (time.time() seconds)
    ends asking. Trials of an earlier driver left RUNNING and not resumed by a pool count as
    failed (`release`), so their budget is asked again.
    """

    def __init__(self, run_dir: str | Path, name: str, *, space: Any, sampler: str = "tpe", seed: int = 0,
                 directions: Sequence[str] = ("minimize",), rungs: Sequence[int] | None = None,
                 num_samples: int = 20, deadline: float | None = None, storage: Any = None) -> None:
        """`storage`: an Optuna storage instead of the run's journal written by `ServerJournal`
        (bench/server_cost.py and tests compare it with Optuna's own journal backend)."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.num_samples = int(num_samples)
        self.deadline = deadline
        self.multi = len(directions) > 1
        self.study = optuna.create_study(
            storage=storage or study_storage(Path(run_dir), writer=True), study_name=name, sampler=make_sampler(sampler, seed),
            pruner=make_pruner(None if self.multi else rungs), directions=list(directions), load_if_exists=True,
        )
        self.trials: dict[int, Any] = {}  # live optuna.Trial objects by number
        self.owner: dict[int, str] = {}  # live trial number -> the pool that asked for it
        # Live trial number -> its best report that passed the guard (the export's pick, see
        # `better_report`), kept inside its `record` attribute as "best".
        self.best: dict[int, dict[str, Any]] = {}
        self.reports_path = Path(run_dir) / REPORTS_FILE
        if not self.reports_path.exists():
            self.reports_path.write_text(",".join(REPORT_COLUMNS) + "\n")
        existing = self.study.get_trials(deepcopy=False)
        if existing:
            # A resumed run (a new driver over the journal): a sampler seeded as the first one
            # would draw the same random numbers again, so its first proposals would repeat the
            # run's first configurations (TPE's start-up trials are random draws). The seed moves
            # on with the study, and stays reproducible.
            self.study.sampler = make_sampler(sampler, seed + len(existing))
        done = [t for t in existing if t.state != optuna.trial.TrialState.FAIL]
        self.asked = len(done)

    # -- proposals -----------------------------------------------------------------------------
    def out_of_time(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def seconds_left(self) -> float | None:
        """Seconds until the time budget ends the run, or None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.time())

    def ask(self, pool: str = "") -> tuple[int, dict[str, Any]] | None:
        """A new configuration (Optuna number, flat parameters), or None when the run has asked
        for all it will (num_samples reached, or past the deadline)."""
        if self.asked >= self.num_samples or self.out_of_time():
            return None
        trial = self.study.ask()
        fixed = self._suggest(trial)
        self.trials[trial.number] = trial
        self.owner[trial.number] = pool
        self.asked += 1
        return trial.number, {**trial.params, **fixed}

    def _suggest(self, trial: Any) -> dict[str, Any]:
        """Let the space suggest on `trial`; its fixed values (what the space sets without
        searching, e.g. the batch size pool mode picks for the table) are stored with the trial,
        since Optuna's params hold only the searched ones and the export rebuilds the config."""
        fixed = self.space(trial)
        if fixed:
            trial.set_user_attr(FIXED_ATTR, dict(fixed))
        return fixed

    def resume(self, number: int, params: Mapping[str, Any], history: Sequence[Mapping[str, Any]], pool: str = "",
               best: Mapping[str, Any] | None = None) -> int | None:
        """Continue a member restored from a checkpoint under a new trial number.

        Its old trial is told FAIL (a new driver cannot reattach to it through Optuna's public
        API, and a restarted worker's old trial already has reports from after the checkpoint),
        the same parameters are enqueued and asked again, and the member's evaluations so far are
        reported again, so the pruner's rungs still know them; `best`, its best guarded report up
        to the checkpoint (whose generator the worker holds), stays its best. Returns the new number, or None
        when the old trial was told its end after the checkpoint was written (the member is done:
        training it again would tell the same configuration twice).
        """
        import optuna

        old = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        prev = old.get(number)
        if prev is not None and prev.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            return None
        if prev is not None and prev.state == optuna.trial.TrialState.RUNNING:
            self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        self.trials.pop(number, None)
        self.owner.pop(number, None)
        self.study.enqueue_trial(dict(prev.params) if prev is not None else dict(params), user_attrs={"resumed_from": number})
        trial = self.study.ask()
        self._suggest(trial)
        if best is not None:
            self.best[trial.number] = dict(best)
            trial.set_user_attr("record", {"best": dict(best)})
        for h in history:
            if math.isfinite(float(h["wd_mean"])):
                trial.report(float(h["wd_mean"]), int(h["steps"]))
        self.trials[trial.number] = trial
        self.owner[trial.number] = pool
        return trial.number

    def release_pool(self, pool: str, held: Sequence[int]) -> int:
        """A pool worker (re)starts: its members that its checkpoint does not hold (`held`), i.e.
        asked after the checkpoint it restarts from (all of them when it restarts without one),
        are lost. Tell them FAIL so none stays RUNNING, and ask their budget again. Returns how many."""
        import optuna

        keep = set(int(n) for n in held)
        lost = [n for n, owner in self.owner.items() if owner == pool and n not in keep]
        for n in lost:
            trial = self.trials.pop(n)
            del self.owner[n]
            trial.set_user_attr("record", {**trial.user_attrs.get("record", {}), "status": "errored",
                                           "error": f"lost with pool worker {pool}, which restarted from an earlier checkpoint"})
            self.study.tell(n, state=optuna.trial.TrialState.FAIL)
        self.asked -= len(lost)
        return len(lost)

    # -- results -------------------------------------------------------------------------------
    def report(self, number: int, steps: int, value: float, record: Mapping[str, Any]) -> bool:
        """An intermediate score at `steps`; True when the pruner stops this member here."""
        trial = self.trials[number]
        # One attribute (one journal write, each fsync'd) per report, not one per score.
        trial.set_user_attr("record", self._with_best(number, record))
        self._log(number, steps, value, record)
        if self.multi or not math.isfinite(value):
            return False
        trial.report(float(value), int(steps))
        return bool(trial.should_prune())

    def tell(self, number: int, values: float | Sequence[float] | None, state: str, record: Mapping[str, Any] | None = None) -> None:
        """The member's end: state "complete" (values = its final scores), "pruned" or "fail"."""
        import optuna

        if state == "complete" and record:  # its final report: the best may be this one
            record = self._with_best(number, record)
        self.best.pop(number, None)  # a pruned or cut member's record keeps its best already
        trial = self.trials.pop(number, None)
        self.owner.pop(number, None)
        if trial is None and any(t.number == number and t.state.is_finished() for t in self.study.get_trials(deepcopy=False)):
            # Told already: a per-trial --resume re-runs a Ray trial that finished after Ray's
            # last snapshot, and it ends again. The first tell stands.
            return
        if trial is not None and record:
            merged = {**trial.user_attrs.get("record", {}), **record}
            trial.set_user_attr("record", merged)
        if state == "complete" and record and "wd_mean" in record:
            self._log(number, int(record.get("steps", 0)), float(record["wd_mean"]), record)
        states = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
                  "fail": optuna.trial.TrialState.FAIL}
        if state == "complete":
            vals = [values] if isinstance(values, (int, float)) else list(values or [])
            # Optuna refuses NaN / inf; a diverged member is told the worst value of each objective.
            worst = [math.inf if d == optuna.study.StudyDirection.MINIMIZE else -math.inf for d in self.study.directions]
            vals = [v if math.isfinite(v) else w for v, w in zip(vals, worst)]
            self.study.tell(number, vals if self.multi else vals[0], state=states[state])
        else:
            self.study.tell(number, state=states[state])

    def _with_best(self, number: int, record: Mapping[str, Any]) -> dict[str, Any]:
        """`record` with the member's best guarded report so far (this one when it is)."""
        plain = {k: v for k, v in record.items() if k != "best"}
        best = better_report(self.best.get(number), plain)
        if best is None:
            return plain
        self.best[number] = best
        return {**plain, "best": best}

    def _log(self, number: int, steps: int, value: float, record: Mapping[str, Any]) -> None:
        row = [f"{time.time():.3f}", str(number), str(int(steps)), repr(float(value)), repr(record.get("copy_share")),
               str(bool(record.get("passes_guard"))), str(record.get("pool", ""))]
        with open(self.reports_path, "a", encoding="utf-8") as fh:
            fh.write(",".join(row) + "\n")

    def release(self, numbers: Sequence[int]) -> int:
        """Mark RUNNING trials that no pool holds (`numbers` are the held ones) as failed, so
        their configurations are asked again; returns how many."""
        import optuna

        held = set(numbers) | set(self.trials)
        stale = [t.number for t in self.study.get_trials(deepcopy=False)
                 if t.state == optuna.trial.TrialState.RUNNING and t.number not in held]
        for n in stale:
            self.study.tell(n, state=optuna.trial.TrialState.FAIL)
        self.asked -= len(stale)
        return len(stale)

    def close_orphans(self) -> int:
        """Once every pool worker has ended: tell FAIL any trial still RUNNING (no worker will
        tell it: e.g. one a --resume took as held by a checkpoint the worker was not restored
        from). Returns how many."""
        import optuna

        stale = [t.number for t in self.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
        for n in stale:
            trial = self.trials.pop(n, None)
            self.owner.pop(n, None)
            if trial is not None:
                trial.set_user_attr("record", {**trial.user_attrs.get("record", {}), "status": "errored",
                                               "error": "its pool worker ended without telling it"})
            self.study.tell(n, state=optuna.trial.TrialState.FAIL)
        return len(stale)

    def progress(self) -> dict[str, Any]:

        counts: dict[str, int] = {}
        for t in self.study.get_trials(deepcopy=False):
            counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
        return {"asked": self.asked, "num_samples": self.num_samples, "live": len(self.trials), "states": counts,
                "out_of_time": self.out_of_time()}
