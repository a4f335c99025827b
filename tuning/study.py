"""The run's Optuna study: its journal file, samplers, and clean-up after interruptions.

One study per run holds every configuration ever proposed (one Optuna trial each), whichever way
the configurations are trained. No Ray here.
"""

from __future__ import annotations

import os
from pathlib import Path

from gan.errors import GanTuneError

# The Optuna study of a run: an Optuna journal file (JournalStorage + JournalFileBackend), not
# SQLite. Measured on this 2-core machine (Optuna 5.0, TPE, the reference space): 128 study.ask()
# calls took 14.2 s on SQLite (a commit per parameter, and every ask re-reads all trials) and
# 0.49 s on the journal; in pack mode that was ~15 s of a 90 s run before a pack could start.
STUDY_FILE = "optuna.log"
LEGACY_STUDY_FILE = "optuna.db"  # runs made before the journal: still exported / resumed


def study_storage(run_dir: Path):
    """The Optuna storage of the run in `run_dir` (its journal; SQLite for older runs)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    legacy = run_dir / LEGACY_STUDY_FILE
    path = run_dir / STUDY_FILE
    if legacy.is_file() and not path.exists():
        return optuna.storages.RDBStorage(f"sqlite:///{legacy}")
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def repair_study_journal(run_dir: Path) -> None:
    """Clear what a killed driver can leave in the study journal, before a driver writes to it
    again (--resume): a stale lock, which Optuna would wait 30 s for, and a half-written last
    line, which would corrupt the next append."""
    path = run_dir / STUDY_FILE
    lock = Path(f"{path}.lock")
    if lock.is_symlink() or lock.exists():
        lock.unlink()
    if not path.is_file() or not path.stat().st_size:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":  # torn: cut back to the end of the last whole line
            fh.seek(0)
            fh.truncate(fh.read().rfind(b"\n") + 1)


def load_study(run_dir: Path, name: str):
    """The run's Optuna study (read side: export, benchmarks, tests)."""
    import optuna

    if not (run_dir / STUDY_FILE).is_file() and not (run_dir / LEGACY_STUDY_FILE).is_file():
        raise GanTuneError(f"{run_dir}: no Optuna study ({STUDY_FILE}) in the run directory; is it a gantune run?")
    return optuna.load_study(study_name=name, storage=study_storage(run_dir))


def make_sampler(name: str, seed: int):
    import optuna

    if name == "tpe":
        # constant_liar: trials still running count as bad guesses, so parallel workers spread out.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True)
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
        study._storage.set_trial_user_attr(t._trial_id, "status", "interrupted")
        study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    return len(stale)
